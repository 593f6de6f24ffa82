// The client's view of the cluster: bootstrap servers, Metadata, the leader of each
// partition and one connection per broker.
//
// Invariants:
//  - At most one open connection per node id; a closed one is replaced on next use.
//  - Metadata only moves forward in information: a refresh replaces the topics it
//    asked about and keeps the others. A topic's partition count never drops to zero
//    while it is known (a failed refresh keeps the old answer).
//  - Any caller seeing NOT_LEADER_OR_FOLLOWER, UNKNOWN_TOPIC_OR_PARTITION or a
//    disconnect calls invalidate(); the next leader lookup then refreshes first.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <absl/container/btree_map.h>

#include "client/errors.h"
#include "protocol/wire.h"
#include "rpc/connection.h"
#include "runtime/env.h"

namespace weir::client {

// The client's calls go over rpc's connections, as every node-to-node call does.
using rpc::Connection;
using rpc::ConnectionOptions;
using rpc::Response;
using rpc::ResponseResult;

struct TopicPartition {
  std::string topic;
  int32_t partition = 0;
  auto operator<=>(const TopicPartition&) const = default;
  bool operator==(const TopicPartition&) const = default;
};

struct PartitionInfo {
  int32_t partition = 0;
  int32_t leader = -1;
  int32_t leader_epoch = -1;
  int16_t error_code = 0;
  std::vector<int32_t> replicas;
  std::vector<int32_t> isr;
  std::vector<int32_t> offline;  // replicas on brokers that are down (Metadata v5+)
  // KIP-966's eligible leader replicas and last known leader: only DescribeTopicPartitions
  // tells them (Admin::describe_elr_wait); absent when not asked or not served.
  std::optional<std::vector<int32_t>> elr;
  std::optional<std::vector<int32_t>> last_known_elr;
};

struct TopicInfo {
  std::string name;
  protocol::Uuid topic_id;
  bool internal = false;
  int16_t error_code = 0;
  std::vector<PartitionInfo> partitions;  // sorted by partition
};

struct BrokerInfo {
  int32_t node_id = -1;
  runtime::Address address;
  std::optional<std::string> rack;
};

struct ClusterOptions {
  std::vector<runtime::Address> bootstrap_servers;
  ConnectionOptions connection;
  runtime::Duration metadata_max_age = runtime::seconds(300);
  runtime::Duration retry_backoff = runtime::milliseconds(100);
  // Whether Metadata asks the broker to create missing topics.
  bool allow_auto_topic_creation = false;
};

// "host:port,host:port" → addresses; nullopt when an entry is malformed.
std::optional<std::vector<runtime::Address>> parse_bootstrap_servers(std::string_view text);

class Cluster {
 public:
  Cluster(runtime::Env env, ClusterOptions options);
  ~Cluster();
  Cluster(const Cluster&) = delete;
  Cluster& operator=(const Cluster&) = delete;

  runtime::Env& env() { return env_; }
  const ClusterOptions& options() const { return options_; }

  // Fetches metadata for `topics` (all topics when empty) and merges it in. May suspend.
  ClientResult<void> refresh_metadata_wait(const std::vector<std::string>& topics,
                                           bool all_topics = false);
  // The topic's metadata, refreshing first when unknown or stale. Fails with the
  // topic's error (UNKNOWN_TOPIC_OR_PARTITION ...) after retries until `deadline`.
  // May suspend.
  ClientResult<const TopicInfo*> topic_wait(const std::string& topic, runtime::Instant deadline);
  // Known metadata without any request; null when unknown.
  const TopicInfo* topic(const std::string& topic) const;
  const absl::btree_map<std::string, TopicInfo>& topics() const { return topics_; }
  const absl::btree_map<int32_t, BrokerInfo>& brokers() const { return brokers_; }
  std::optional<std::string> cluster_id() const { return cluster_id_; }
  int32_t controller_id() const { return controller_id_; }

  // The leader of a partition per current metadata; nullopt when unknown.
  std::optional<int32_t> leader(const TopicPartition& partition) const;
  // Marks the metadata stale (the next topic_wait refreshes).
  void invalidate() { stale_ = true; }
  bool stale() const { return stale_; }

  // The connection to a node, connecting when needed. May suspend.
  ClientResult<std::shared_ptr<Connection>> connection_wait(int32_t node_id);
  // A connection to any broker (a known one, else a bootstrap server). May suspend.
  ClientResult<std::shared_ptr<Connection>> any_connection_wait();

  // Closes every connection.
  void close();

 private:
  ClientResult<std::shared_ptr<Connection>> bootstrap_connection_wait();

  runtime::Env env_;
  ClusterOptions options_;
  absl::btree_map<std::string, TopicInfo> topics_;
  absl::btree_map<int32_t, BrokerInfo> brokers_;
  absl::btree_map<int32_t, std::shared_ptr<Connection>> connections_;
  std::shared_ptr<Connection> bootstrap_;
  std::optional<std::string> cluster_id_;
  int32_t controller_id_ = -1;
  runtime::Instant refreshed_at_;
  bool stale_ = true;
  size_t next_bootstrap_ = 0;
};

}  // namespace weir::client
