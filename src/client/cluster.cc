#include "client/cluster.h"

#include <algorithm>
#include <charconv>

namespace weir::client {

using protocol::ErrorCode;

std::optional<std::vector<runtime::Address>> parse_bootstrap_servers(std::string_view text) {
  std::vector<runtime::Address> addresses;
  while (!text.empty()) {
    const size_t comma = text.find(',');
    std::string_view entry = text.substr(0, comma);
    text = comma == std::string_view::npos ? std::string_view{} : text.substr(comma + 1);
    // Accept "PLAINTEXT://host:port" as Kafka's listener syntax writes it.
    if (const size_t scheme = entry.find("://"); scheme != std::string_view::npos) {
      entry = entry.substr(scheme + 3);
    }
    const size_t colon = entry.rfind(':');
    if (colon == std::string_view::npos || colon == 0) return std::nullopt;
    std::string_view host = entry.substr(0, colon);
    std::string_view port_text = entry.substr(colon + 1);
    if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
      host = host.substr(1, host.size() - 2);
    }
    uint32_t port = 0;
    auto [end, error] =
        std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
    if (error != std::errc{} || end != port_text.data() + port_text.size() || port == 0 ||
        port > 65535) {
      return std::nullopt;
    }
    addresses.push_back(runtime::Address{std::string(host), static_cast<uint16_t>(port)});
  }
  if (addresses.empty()) return std::nullopt;
  return addresses;
}

Cluster::Cluster(runtime::Env env, ClusterOptions options)
    : env_(env), options_(std::move(options)) {
  VERIFY(!options_.bootstrap_servers.empty(), "a cluster needs bootstrap servers");
}

Cluster::~Cluster() { close(); }

void Cluster::close() {
  for (auto& [node, connection] : connections_) connection->close();
  connections_.clear();
  if (bootstrap_) bootstrap_->close();
  bootstrap_.reset();
}

ClientResult<std::shared_ptr<Connection>> Cluster::bootstrap_connection_wait() {
  if (bootstrap_ && bootstrap_->is_open()) return bootstrap_;
  std::optional<Error> last_error;
  for (size_t attempt = 0; attempt < options_.bootstrap_servers.size(); attempt++) {
    const runtime::Address& address =
        options_.bootstrap_servers[next_bootstrap_++ % options_.bootstrap_servers.size()];
    auto connection = Connection::connect(env_, address, options_.connection);
    if (connection) {
      bootstrap_ = std::move(connection).value();
      return bootstrap_;
    }
    last_error = connection.error();
  }
  return unexpected(*last_error);
}

ClientResult<std::shared_ptr<Connection>> Cluster::any_connection_wait() {
  for (auto& [node, connection] : connections_) {
    if (connection->is_open()) return connection;
  }
  if (bootstrap_ && bootstrap_->is_open()) return bootstrap_;
  // Known brokers first (bootstrap addresses may be a load balancer's), then bootstrap.
  // Their ids are copied: a connect suspends, and a metadata refresh may change brokers_
  // meanwhile (an iterator across the suspension failed in broker_log seed 51).
  std::vector<int32_t> known;
  known.reserve(brokers_.size());
  for (const auto& [node, broker] : brokers_) known.push_back(node);
  for (int32_t node : known) {
    auto connection = connection_wait(node);
    if (connection) return connection;
  }
  return bootstrap_connection_wait();
}

ClientResult<std::shared_ptr<Connection>> Cluster::connection_wait(int32_t node_id) {
  auto existing = connections_.find(node_id);
  if (existing != connections_.end() && existing->second->is_open()) return existing->second;
  auto broker = brokers_.find(node_id);
  if (broker == brokers_.end()) {
    // The metadata names a leader its broker list lacks (fenced when the answer was
    // made): refresh before the next try rather than retry the same stale answer.
    stale_ = true;
    return unexpected(
        Error::of(ErrorKind::connect_failed, fmt::format("node {} is not in metadata", node_id)));
  }
  const runtime::Address address = broker->second.address;
  auto connection = Connection::connect(env_, address, options_.connection);
  if (!connection) {
    stale_ = true;
    return unexpected(connection.error());
  }
  // Another fiber may have connected meanwhile; keep whichever is open, newest wins.
  std::shared_ptr<Connection> shared = std::move(connection).value();
  connections_[node_id] = shared;
  return shared;
}

ClientResult<void> Cluster::refresh_metadata_wait(const std::vector<std::string>& topics,
                                                  bool all_topics) {
  auto connection = any_connection_wait();
  if (!connection) return unexpected(connection.error());
  protocol::MetadataRequest request;
  request.allow_auto_topic_creation = options_.allow_auto_topic_creation;
  if (all_topics) {
    request.topics = std::nullopt;
  } else {
    std::vector<protocol::MetadataRequest::MetadataRequestTopic> wanted;
    for (const std::string& name : topics) {
      protocol::MetadataRequest::MetadataRequestTopic topic;
      topic.name = name;
      wanted.push_back(std::move(topic));
    }
    request.topics = std::move(wanted);
  }
  auto response = (*connection)->send_and_wait(std::move(request));
  if (!response) {
    stale_ = true;
    return unexpected(response.error());
  }
  const auto& body = std::get<protocol::MetadataResponse>(**response);
  absl::btree_map<int32_t, BrokerInfo> brokers;
  for (const auto& broker : body.brokers) {
    brokers[broker.node_id] =
        BrokerInfo{broker.node_id,
                   runtime::Address{broker.host, static_cast<uint16_t>(broker.port)}, broker.rack};
  }
  // A broker whose address changed gets a new connection.
  for (auto it = connections_.begin(); it != connections_.end();) {
    auto now_known = brokers.find(it->first);
    if (now_known == brokers.end() || now_known->second.address != it->second->address()) {
      it->second->close();
      it = connections_.erase(it);
    } else {
      ++it;
    }
  }
  brokers_ = std::move(brokers);
  cluster_id_ = body.cluster_id;
  controller_id_ = body.controller_id;
  if (all_topics) {
    // A full listing also forgets deleted topics.
    absl::btree_map<std::string, TopicInfo> kept;
    topics_.swap(kept);
  }
  for (const auto& topic : body.topics) {
    if (!topic.name) continue;
    TopicInfo info;
    info.name = *topic.name;
    info.topic_id = topic.topic_id;
    info.internal = topic.is_internal;
    info.error_code = topic.error_code;
    for (const auto& partition : topic.partitions) {
      info.partitions.push_back(PartitionInfo{partition.partition_index, partition.leader_id,
                                              partition.leader_epoch, partition.error_code,
                                              partition.replica_nodes, partition.isr_nodes,
                                              partition.offline_replicas});
    }
    std::sort(
        info.partitions.begin(), info.partitions.end(),
        [](const PartitionInfo& a, const PartitionInfo& b) { return a.partition < b.partition; });
    if (info.error_code != 0 && info.partitions.empty()) {
      auto old = topics_.find(info.name);
      // Keep the last good answer of a topic that merely has no leader right now.
      if (old != topics_.end() &&
          info.error_code == protocol::error_value(ErrorCode::leader_not_available)) {
        continue;
      }
    }
    topics_[info.name] = std::move(info);
  }
  refreshed_at_ = env_.clock.now();
  stale_ = false;
  return {};
}

ClientResult<const TopicInfo*> Cluster::topic_wait(const std::string& name,
                                                   runtime::Instant deadline) {
  while (true) {
    const bool too_old = env_.clock.now() - refreshed_at_ > options_.metadata_max_age;
    auto known = topics_.find(name);
    const bool usable = known != topics_.end() && known->second.error_code == 0 &&
                        !known->second.partitions.empty();
    if (usable && !stale_ && !too_old) return &known->second;
    std::vector<std::string> wanted;
    for (const auto& [topic, info] : topics_) wanted.push_back(topic);
    if (known == topics_.end()) wanted.push_back(name);
    std::sort(wanted.begin(), wanted.end());
    auto refreshed = refresh_metadata_wait(wanted);
    std::optional<Error> error;
    if (refreshed) {
      known = topics_.find(name);
      if (known != topics_.end() && known->second.error_code == 0 &&
          !known->second.partitions.empty()) {
        return &known->second;
      }
      error = known == topics_.end()
                  ? Error::kafka(protocol::error_value(ErrorCode::unknown_topic_or_partition), name)
                  : Error::kafka(known->second.error_code, name);
    } else {
      error = refreshed.error();
    }
    if (!error->retriable()) return unexpected(*error);
    if (env_.clock.now() + options_.retry_backoff >= deadline) {
      return unexpected(*error);
    }
    env_.scheduler.sleep_for(options_.retry_backoff);
  }
}

const TopicInfo* Cluster::topic(const std::string& name) const {
  auto found = topics_.find(name);
  return found == topics_.end() ? nullptr : &found->second;
}

std::optional<int32_t> Cluster::leader(const TopicPartition& partition) const {
  const TopicInfo* info = topic(partition.topic);
  if (info == nullptr) return std::nullopt;
  for (const PartitionInfo& candidate : info->partitions) {
    if (candidate.partition == partition.partition) {
      if (candidate.leader < 0) return std::nullopt;
      return candidate.leader;
    }
  }
  return std::nullopt;
}

}  // namespace weir::client
