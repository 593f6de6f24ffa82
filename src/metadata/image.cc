#include "metadata/image.h"

#include <algorithm>

namespace weir::metadata {
namespace {

// FNV-1a, 64-bit: byte-order independent because every value is fed as explicit
// little-endian bytes, and every variable-length value is preceded by its length so
// that two different images cannot encode to the same byte stream.
class DigestBuilder {
 public:
  void add_byte(uint8_t byte) {
    hash_ ^= byte;
    hash_ *= 0x100000001b3ULL;
  }
  void add_uint(uint64_t value, int bytes) {
    for (int i = 0; i < bytes; i++) add_byte(static_cast<uint8_t>(value >> (8 * i)));
  }
  void add(int64_t value) { add_uint(static_cast<uint64_t>(value), 8); }
  void add(bool value) { add_byte(value ? 1 : 0); }
  void add(std::string_view text) {
    add(static_cast<int64_t>(text.size()));
    for (char c : text) add_byte(static_cast<uint8_t>(c));
  }
  void add(const std::optional<std::string>& text) {
    add(text.has_value());
    if (text) add(std::string_view(*text));
  }
  void add(const Uuid& uuid) {
    for (uint8_t byte : uuid.bytes) add_byte(byte);
  }
  void add(const ReplicaList& brokers) {
    add(static_cast<int64_t>(brokers.size()));
    for (BrokerId broker : brokers) add(int64_t{broker.value()});
  }
  uint64_t value() const { return hash_; }

 private:
  uint64_t hash_ = 0xcbf29ce484222325ULL;
};

const ConfigMap kEmptyConfig;

}  // namespace

const BrokerEndpoint* BrokerRegistration::endpoint(std::string_view listener_name) const {
  for (const auto& endpoint : endpoints) {
    if (endpoint.name == listener_name) return &endpoint;
  }
  return nullptr;
}

bool PartitionState::in_isr(BrokerId broker) const {
  return std::find(isr.begin(), isr.end(), broker) != isr.end();
}

bool PartitionState::in_elr(BrokerId broker) const {
  return std::find(elr.begin(), elr.end(), broker) != elr.end();
}

bool PartitionState::is_adding(BrokerId broker) const {
  return std::find(adding.begin(), adding.end(), broker) != adding.end();
}

bool PartitionState::is_replica(BrokerId broker) const {
  return std::find(replicas.begin(), replicas.end(), broker) != replicas.end();
}

const BrokerRegistration* Image::broker(BrokerId id) const {
  auto it = brokers_.find(id);
  return it == brokers_.end() ? nullptr : &it->second;
}

std::vector<BrokerId> Image::live_brokers() const {
  std::vector<BrokerId> live;
  for (const auto& [id, registration] : brokers_) {
    if (!registration.fenced) live.push_back(id);
  }
  return live;
}

std::vector<BrokerId> Image::active_brokers() const {
  std::vector<BrokerId> active;
  for (const auto& [id, registration] : brokers_) {
    if (registration.is_active()) active.push_back(id);
  }
  return active;
}

std::optional<BrokerEndpoint> Image::broker_endpoint(BrokerId id, std::string_view listener) const {
  const BrokerRegistration* registration = broker(id);
  if (registration == nullptr) return std::nullopt;
  const BrokerEndpoint* endpoint = registration->endpoint(listener);
  if (endpoint == nullptr) return std::nullopt;
  return *endpoint;
}

const TopicImage* Image::topic(TopicId id) const {
  auto it = topics_.find(id);
  return it == topics_.end() ? nullptr : it->second.get();
}

const TopicImage* Image::topic(std::string_view name) const {
  auto it = topic_names_.find(name);
  if (it == topic_names_.end()) return nullptr;
  const TopicImage* topic = this->topic(it->second);
  VERIFY(topic != nullptr, "the name index names a topic that does not exist");
  VERIFY(topic->name == name);
  return topic;
}

const PartitionState* Image::partition(TopicId id, PartitionId partition) const {
  const TopicImage* topic = this->topic(id);
  if (topic == nullptr || partition.value() < 0) return nullptr;
  const auto index = static_cast<size_t>(partition.value());
  return index < topic->partitions.size() ? &topic->partitions[index] : nullptr;
}

const ConfigMap& Image::config(ConfigResourceType type, std::string_view name) const {
  auto it = configs_.find(ConfigResource{type, std::string(name)});
  return it == configs_.end() ? kEmptyConfig : it->second;
}

int16_t Image::metadata_version() const { return feature_level(kMetadataVersionFeature); }

int16_t Image::feature_level(std::string_view name) const {
  auto it = features_.find(name);
  return it == features_.end() ? 0 : it->second;
}

bool Image::eligible_leader_replicas_enabled() const {
  return feature_level(kEligibleLeaderReplicasFeature) >= kEligibleLeaderReplicasLevel;
}

uint64_t Image::digest() const {
  DigestBuilder digest;
  digest.add(static_cast<int64_t>(brokers_.size()));
  for (const auto& [id, broker] : brokers_) {
    digest.add(int64_t{id.value()});
    digest.add(broker.epoch.value());
    digest.add(broker.incarnation_id);
    digest.add(static_cast<int64_t>(broker.endpoints.size()));
    for (const auto& endpoint : broker.endpoints) {
      digest.add(std::string_view(endpoint.name));
      digest.add(std::string_view(endpoint.host));
      digest.add(int64_t{endpoint.port});
      digest.add(int64_t{endpoint.security_protocol});
    }
    digest.add(static_cast<int64_t>(broker.features.size()));
    for (const auto& feature : broker.features) {
      digest.add(std::string_view(feature.name));
      digest.add(int64_t{feature.min_supported_version});
      digest.add(int64_t{feature.max_supported_version});
    }
    digest.add(broker.rack);
    digest.add(broker.fenced);
    digest.add(broker.in_controlled_shutdown);
  }
  digest.add(static_cast<int64_t>(topics_.size()));
  for (const auto& [id, topic] : topics_) {
    digest.add(id.uuid);
    digest.add(std::string_view(topic->name));
    digest.add(static_cast<int64_t>(topic->partitions.size()));
    for (const auto& partition : topic->partitions) {
      digest.add(partition.replicas);
      digest.add(partition.isr);
      digest.add(int64_t{partition.leader.value()});
      digest.add(int64_t{partition.leader_epoch.value()});
      digest.add(int64_t{partition.partition_epoch.value()});
      digest.add(int64_t{partition.leader_recovery_state});
      // Only when present, so images from before KIP-966 keep their digests.
      if (!partition.elr.empty() || !partition.last_known_elr.empty()) {
        digest.add(partition.elr);
        digest.add(partition.last_known_elr);
      }
      if (partition.reassigning()) {
        digest.add(std::string_view("reassigning"));
        digest.add(partition.adding);
        digest.add(partition.removing);
      }
    }
  }
  digest.add(static_cast<int64_t>(configs_.size()));
  for (const auto& [resource, entries] : configs_) {
    digest.add(int64_t{static_cast<int8_t>(resource.type)});
    digest.add(std::string_view(resource.name));
    digest.add(static_cast<int64_t>(entries.size()));
    for (const auto& [key, value] : entries) {
      digest.add(std::string_view(key));
      digest.add(std::string_view(value));
    }
  }
  digest.add(static_cast<int64_t>(features_.size()));
  for (const auto& [name, level] : features_) {
    digest.add(std::string_view(name));
    digest.add(int64_t{level});
  }
  digest.add(next_producer_id_.value());
  return digest.value();
}

bool Image::operator==(const Image& other) const {
  if (brokers_ != other.brokers_ || topic_names_ != other.topic_names_ ||
      configs_ != other.configs_ || features_ != other.features_ ||
      next_producer_id_ != other.next_producer_id_ || partition_count_ != other.partition_count_ ||
      topics_.size() != other.topics_.size()) {
    return false;
  }
  for (auto a = topics_.begin(), b = other.topics_.begin(); a != topics_.end(); ++a, ++b) {
    if (a->first != b->first) return false;
    if (a->second != b->second && *a->second != *b->second) return false;
  }
  return true;
}

}  // namespace weir::metadata
