#include "metadata/state.h"

#include <algorithm>

#include <fmt/format.h>

namespace weir::metadata {
namespace {

using Status = Result<void, std::string>;

Status refuse(std::string message) { return weir::unexpected(std::move(message)); }

bool has_duplicates(const std::vector<BrokerId>& brokers) {
  std::vector<BrokerId> sorted = brokers;
  std::sort(sorted.begin(), sorted.end());
  return std::adjacent_find(sorted.begin(), sorted.end()) != sorted.end();
}

bool contains(const std::vector<BrokerId>& brokers, BrokerId broker) {
  return std::find(brokers.begin(), brokers.end(), broker) != brokers.end();
}

// The rules a partition's replica lists keep: replicas non-empty and distinct, the
// isr distinct and drawn from them, the leader one of them or none.
Status check_partition(const std::vector<BrokerId>& replicas, const std::vector<BrokerId>& isr,
                       BrokerId leader) {
  if (replicas.empty()) return refuse("a partition needs at least one replica");
  if (has_duplicates(replicas)) return refuse("replicas repeat a broker");
  if (has_duplicates(isr)) return refuse("the isr repeats a broker");
  for (BrokerId broker : isr) {
    if (!contains(replicas, broker)) {
      return refuse(fmt::format("isr member {} is not a replica", broker));
    }
  }
  if (leader != kNoLeader && !contains(replicas, leader)) {
    return refuse(fmt::format("leader {} is not a replica", leader));
  }
  return {};
}

// KIP-966's lists: distinct replicas, the elr disjoint from the isr.
Status check_elr(const std::vector<BrokerId>& replicas, const std::vector<BrokerId>& isr,
                 const std::vector<BrokerId>& elr, const std::vector<BrokerId>& last_known_elr) {
  if (has_duplicates(elr)) return refuse("the elr repeats a broker");
  if (has_duplicates(last_known_elr)) return refuse("the last known elr repeats a broker");
  for (BrokerId broker : elr) {
    if (!contains(replicas, broker))
      return refuse(fmt::format("elr member {} is not a replica", broker));
    if (contains(isr, broker)) return refuse(fmt::format("elr member {} is in the isr", broker));
  }
  for (BrokerId broker : last_known_elr) {
    if (!contains(replicas, broker)) {
      return refuse(fmt::format("last known elr member {} is not a replica", broker));
    }
  }
  return {};
}

// A reassignment's lists: distinct replicas, adding and removing apart.
Status check_reassignment(const std::vector<BrokerId>& replicas,
                          const std::vector<BrokerId>& adding,
                          const std::vector<BrokerId>& removing) {
  if (has_duplicates(adding) || has_duplicates(removing)) {
    return refuse("a reassignment list repeats a broker");
  }
  for (BrokerId broker : adding) {
    if (!contains(replicas, broker))
      return refuse(fmt::format("adding {} is not a replica", broker));
    if (contains(removing, broker))
      return refuse(fmt::format("{} is both added and removed", broker));
  }
  for (BrokerId broker : removing) {
    if (!contains(replicas, broker)) {
      return refuse(fmt::format("removing {} is not a replica", broker));
    }
  }
  if (removing.size() >= replicas.size() && !replicas.empty()) {
    return refuse("a reassignment removes every replica");
  }
  return {};
}

ReplicaList to_replica_list(const std::vector<BrokerId>& brokers) {
  return ReplicaList(brokers.begin(), brokers.end());
}

std::vector<BrokerId> to_vector(const ReplicaList& brokers) {
  return std::vector<BrokerId>(brokers.begin(), brokers.end());
}

}  // namespace

Status MetadataState::apply(const Record& record) {
  return std::visit([&](const auto& r) { return apply_one(r); }, record);
}

Status MetadataState::apply_all(std::span<const Record> records) {
  for (const auto& record : records) {
    auto applied = apply(record);
    if (!applied) return applied;
  }
  return {};
}

TopicImage& MetadataState::mutable_topic(TopicId id) {
  auto it = image_.topics_.find(id);
  VERIFY(it != image_.topics_.end(), "mutable_topic of an unknown topic");
  if (it->second.use_count() > 1) {
    it->second = std::make_shared<TopicImage>(*it->second);
  }
  VERIFY(it->second.use_count() == 1);
  // Every TopicImage is created non-const (make_shared<TopicImage>) and is no longer
  // shared, so writing through it is safe.
  return const_cast<TopicImage&>(*it->second);
}

Result<BrokerRegistration*, std::string> MetadataState::registered(BrokerId id, BrokerEpoch epoch,
                                                                   std::string_view what) {
  auto it = image_.brokers_.find(id);
  if (it == image_.brokers_.end()) {
    return weir::unexpected(fmt::format("{}: broker {} is not registered", what, id));
  }
  if (it->second.epoch != epoch) {
    return weir::unexpected(
        fmt::format("{}: broker {} has epoch {}, not {}", what, id, it->second.epoch, epoch));
  }
  return &it->second;
}

Status MetadataState::apply_one(const RegisterBrokerRecord& record) {
  if (record.broker_id.value() < 0) return refuse("RegisterBrokerRecord: negative broker id");
  for (size_t i = 0; i < record.endpoints.size(); i++) {
    for (size_t j = 0; j < i; j++) {
      if (record.endpoints[i].name == record.endpoints[j].name) {
        return refuse(
            fmt::format("RegisterBrokerRecord: listener {} twice", record.endpoints[i].name));
      }
    }
  }
  BrokerRegistration registration;
  registration.id = record.broker_id;
  registration.epoch = record.broker_epoch;
  registration.incarnation_id = record.incarnation_id;
  registration.endpoints = record.endpoints;
  registration.features = record.features;
  registration.rack = record.rack;
  registration.fenced = record.fenced;
  registration.in_controlled_shutdown = record.in_controlled_shutdown;
  image_.brokers_[record.broker_id] = std::move(registration);
  return {};
}

Status MetadataState::apply_one(const UnregisterBrokerRecord& record) {
  auto broker = registered(record.broker_id, record.broker_epoch, "UnregisterBrokerRecord");
  if (!broker) return refuse(broker.error());
  image_.brokers_.erase(record.broker_id);
  return {};
}

Status MetadataState::apply_one(const TopicRecord& record) {
  if (record.name.empty()) return refuse("TopicRecord: empty topic name");
  if (record.topic_id.is_zero()) return refuse("TopicRecord: zero topic id");
  if (image_.topic_names_.contains(record.name)) {
    return refuse(fmt::format("TopicRecord: topic {} exists", record.name));
  }
  if (image_.topics_.contains(record.topic_id)) {
    return refuse(
        fmt::format("TopicRecord: topic id {} exists", uuid_to_string(record.topic_id.uuid)));
  }
  auto topic = std::make_shared<TopicImage>();
  topic->id = record.topic_id;
  topic->name = record.name;
  image_.topics_.emplace(record.topic_id, std::move(topic));
  image_.topic_names_.emplace(record.name, record.topic_id);
  VERIFY(image_.topics_.size() == image_.topic_names_.size());
  return {};
}

Status MetadataState::apply_one(const PartitionRecord& record) {
  const TopicImage* topic = image_.topic(record.topic_id);
  if (topic == nullptr) {
    return refuse(
        fmt::format("PartitionRecord: unknown topic id {}", uuid_to_string(record.topic_id.uuid)));
  }
  const int64_t count = static_cast<int64_t>(topic->partitions.size());
  if (record.partition_id.value() < 0 || record.partition_id.value() > count) {
    return refuse(
        fmt::format("PartitionRecord: partition {} of {} which has {} (partitions "
                    "are created in order)",
                    record.partition_id, topic->name, count));
  }
  auto checked = check_partition(record.replicas, record.isr, record.leader);
  if (checked) {
    checked = check_reassignment(record.replicas, record.adding_replicas, record.removing_replicas);
  }
  if (checked) {
    checked = check_elr(record.replicas, record.isr,
                        record.eligible_leader_replicas.value_or(std::vector<BrokerId>{}),
                        record.last_known_elr.value_or(std::vector<BrokerId>{}));
  }
  if (!checked) return refuse("PartitionRecord: " + checked.error());

  PartitionState partition;
  partition.replicas = to_replica_list(record.replicas);
  partition.isr = to_replica_list(record.isr);
  partition.leader = record.leader;
  partition.leader_epoch = record.leader_epoch;
  partition.partition_epoch = record.partition_epoch;
  partition.leader_recovery_state = record.leader_recovery_state;
  if (record.eligible_leader_replicas) {
    partition.elr = to_replica_list(*record.eligible_leader_replicas);
  }
  if (record.last_known_elr) partition.last_known_elr = to_replica_list(*record.last_known_elr);
  partition.adding = to_replica_list(record.adding_replicas);
  partition.removing = to_replica_list(record.removing_replicas);
  TopicImage& mutable_topic = this->mutable_topic(record.topic_id);
  const auto index = static_cast<size_t>(record.partition_id.value());
  if (index == mutable_topic.partitions.size()) {
    mutable_topic.partitions.push_back(std::move(partition));
    image_.partition_count_++;
  } else {
    mutable_topic.partitions[index] = std::move(partition);
  }
  return {};
}

Status MetadataState::apply_one(const ConfigRecord& record) {
  if (record.name.empty()) return refuse("ConfigRecord: empty key");
  ConfigResource resource{record.resource_type, record.resource_name};
  if (record.value) {
    image_.configs_[resource][record.name] = *record.value;
    return {};
  }
  auto it = image_.configs_.find(resource);
  if (it == image_.configs_.end()) return {};
  it->second.erase(record.name);
  // No empty entries: an image with a deleted key equals one that never had it.
  if (it->second.empty()) image_.configs_.erase(it);
  return {};
}

Status MetadataState::apply_one(const PartitionChangeRecord& record) {
  const PartitionState* current = image_.partition(record.topic_id, record.partition_id);
  if (current == nullptr) {
    return refuse(fmt::format("PartitionChangeRecord: unknown partition {} of topic id {}",
                              record.partition_id, uuid_to_string(record.topic_id.uuid)));
  }
  if (record.leader.value() < kLeaderUnchanged.value()) {
    return refuse(fmt::format("PartitionChangeRecord: leader {}", record.leader));
  }
  if (record.leader_recovery_state < -1 || record.leader_recovery_state > 1) {
    return refuse("PartitionChangeRecord: leader recovery state out of range");
  }
  const auto replicas = record.replicas ? *record.replicas : to_vector(current->replicas);
  const auto isr = record.isr ? *record.isr : to_vector(current->isr);
  const BrokerId leader = record.leader == kLeaderUnchanged ? current->leader : record.leader;
  const auto elr =
      record.eligible_leader_replicas ? *record.eligible_leader_replicas : to_vector(current->elr);
  const auto last_known_elr =
      record.last_known_elr ? *record.last_known_elr : to_vector(current->last_known_elr);
  const auto adding = record.adding_replicas ? *record.adding_replicas : to_vector(current->adding);
  const auto removing =
      record.removing_replicas ? *record.removing_replicas : to_vector(current->removing);
  auto checked = check_partition(replicas, isr, leader);
  if (checked) checked = check_elr(replicas, isr, elr, last_known_elr);
  if (checked) checked = check_reassignment(replicas, adding, removing);
  if (!checked) return refuse("PartitionChangeRecord: " + checked.error());

  TopicImage& topic = mutable_topic(record.topic_id);
  PartitionState& partition = topic.partitions[static_cast<size_t>(record.partition_id.value())];
  const PartitionEpoch partition_epoch_before = partition.partition_epoch;
  if (record.replicas) partition.replicas = to_replica_list(*record.replicas);
  if (record.isr) partition.isr = to_replica_list(*record.isr);
  if (record.eligible_leader_replicas) partition.elr = to_replica_list(elr);
  if (record.last_known_elr) partition.last_known_elr = to_replica_list(last_known_elr);
  if (record.adding_replicas) partition.adding = to_replica_list(adding);
  if (record.removing_replicas) partition.removing = to_replica_list(removing);
  // Kafka's rule: naming the leader (even the same one) starts a new leader epoch;
  // any change starts a new partition epoch.
  if (record.leader != kLeaderUnchanged) {
    partition.leader = record.leader;
    partition.leader_epoch = partition.leader_epoch + 1;
  }
  if (record.leader_recovery_state != -1) {
    partition.leader_recovery_state = record.leader_recovery_state;
  }
  partition.partition_epoch = partition.partition_epoch + 1;
  VERIFY(partition.partition_epoch > partition_epoch_before);
  return {};
}

Status MetadataState::apply_one(const FenceBrokerRecord& record) {
  auto broker = registered(record.broker_id, record.broker_epoch, "FenceBrokerRecord");
  if (!broker) return refuse(broker.error());
  (*broker)->fenced = true;
  return {};
}

Status MetadataState::apply_one(const UnfenceBrokerRecord& record) {
  auto broker = registered(record.broker_id, record.broker_epoch, "UnfenceBrokerRecord");
  if (!broker) return refuse(broker.error());
  (*broker)->fenced = false;
  return {};
}

Status MetadataState::apply_one(const RemoveTopicRecord& record) {
  auto it = image_.topics_.find(record.topic_id);
  if (it == image_.topics_.end()) {
    return refuse(fmt::format("RemoveTopicRecord: unknown topic id {}",
                              uuid_to_string(record.topic_id.uuid)));
  }
  const std::string name = it->second->name;
  VERIFY(image_.partition_count_ >= it->second->partitions.size());
  image_.partition_count_ -= it->second->partitions.size();
  image_.topics_.erase(it);
  image_.topic_names_.erase(name);
  // Kafka drops a deleted topic's configs with it (no ConfigRecords are written).
  image_.configs_.erase(ConfigResource{ConfigResourceType::topic, name});
  VERIFY(image_.topics_.size() == image_.topic_names_.size());
  return {};
}

Status MetadataState::apply_one(const FeatureLevelRecord& record) {
  if (record.name.empty()) return refuse("FeatureLevelRecord: empty feature name");
  if (record.feature_level < 0) return refuse("FeatureLevelRecord: negative level");
  if (record.feature_level == 0) {
    auto it = image_.features_.find(record.name);
    if (it != image_.features_.end()) image_.features_.erase(it);
  } else {
    image_.features_[record.name] = record.feature_level;
  }
  return {};
}

Status MetadataState::apply_one(const ProducerIdsRecord& record) {
  if (record.next_producer_id <= image_.next_producer_id_) {
    return refuse(fmt::format("ProducerIdsRecord: next producer id {} does not pass {}",
                              record.next_producer_id, image_.next_producer_id_));
  }
  image_.next_producer_id_ = record.next_producer_id;
  return {};
}

Status MetadataState::apply_one(const BrokerRegistrationChangeRecord& record) {
  if (record.fenced < -1 || record.fenced > 1) {
    return refuse("BrokerRegistrationChangeRecord: fenced out of range");
  }
  if (record.in_controlled_shutdown < 0 || record.in_controlled_shutdown > 1) {
    return refuse("BrokerRegistrationChangeRecord: in_controlled_shutdown out of range");
  }
  auto broker = registered(record.broker_id, record.broker_epoch, "BrokerRegistrationChangeRecord");
  if (!broker) return refuse(broker.error());
  if (record.fenced == 1) (*broker)->fenced = true;
  if (record.fenced == -1) (*broker)->fenced = false;
  if (record.in_controlled_shutdown == 1) (*broker)->in_controlled_shutdown = true;
  return {};
}

Status MetadataState::apply_one(const NoOpRecord&) { return {}; }

std::vector<Record> image_records(const Image& image) {
  std::vector<Record> records;
  records.reserve(image.features().size() + image.brokers().size() + image.topic_count() +
                  image.partition_count() + image.configs().size() + 1);
  for (const auto& [name, level] : image.features()) {
    records.emplace_back(FeatureLevelRecord{name, level});
  }
  for (const auto& [id, broker] : image.brokers()) {
    RegisterBrokerRecord record;
    record.broker_id = broker.id;
    record.incarnation_id = broker.incarnation_id;
    record.broker_epoch = broker.epoch;
    record.endpoints = broker.endpoints;
    record.features = broker.features;
    record.rack = broker.rack;
    record.fenced = broker.fenced;
    record.in_controlled_shutdown = broker.in_controlled_shutdown;
    records.emplace_back(std::move(record));
  }
  for (const auto& [id, topic] : image.topics()) {
    records.emplace_back(TopicRecord{topic->name, topic->id});
    for (size_t i = 0; i < topic->partitions.size(); i++) {
      const PartitionState& state = topic->partitions[i];
      PartitionRecord record;
      record.partition_id = PartitionId(static_cast<int32_t>(i));
      record.topic_id = topic->id;
      record.replicas = to_vector(state.replicas);
      record.isr = to_vector(state.isr);
      record.leader = state.leader;
      record.leader_recovery_state = state.leader_recovery_state;
      record.leader_epoch = state.leader_epoch;
      record.partition_epoch = state.partition_epoch;
      record.directories.assign(state.replicas.size(), unassigned_directory());
      if (!state.elr.empty()) record.eligible_leader_replicas = to_vector(state.elr);
      if (!state.last_known_elr.empty()) record.last_known_elr = to_vector(state.last_known_elr);
      record.adding_replicas = to_vector(state.adding);
      record.removing_replicas = to_vector(state.removing);
      records.emplace_back(std::move(record));
    }
  }
  for (const auto& [resource, configs] : image.configs()) {
    for (const auto& [name, value] : configs) {
      records.emplace_back(ConfigRecord{resource.type, resource.name, name, value});
    }
  }
  if (image.next_producer_id() > ProducerId(0)) {
    ProducerIdsRecord record;
    record.broker_id = BrokerId(-1);  // as Kafka writes it in a snapshot: no broker
    record.next_producer_id = image.next_producer_id();
    records.emplace_back(record);
  }
  return records;
}

}  // namespace weir::metadata
