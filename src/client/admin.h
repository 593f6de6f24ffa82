// The admin client: create, delete, list and describe topics, describe configs.
//
// Requests go to any broker (in KRaft mode brokers forward controller requests).
// Per-topic outcomes are returned per topic; a failure of the whole request (no
// connection, malformed answer) is the function's error.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "client/cluster.h"
#include "client/errors.h"

namespace weir::client {

struct NewTopic {
  std::string name;
  int32_t partitions = -1;          // -1: the broker's num.partitions
  int16_t replication_factor = -1;  // -1: the broker's default.replication.factor
  std::vector<std::pair<std::string, std::string>> configs;
};

struct TopicOutcome {
  std::string name;
  std::optional<Error> error;  // none on success
};

struct ConfigEntry {
  std::string name;
  std::optional<std::string> value;
  bool read_only = false;
  bool is_default = false;
  bool sensitive = false;
  int8_t source = -1;
};

enum class ConfigResource : int8_t { topic = 2, broker = 4 };

enum class ElectionType : int8_t { preferred = 0, unclean = 1 };

// One partition's answer to an election: none, or why not (ELECTION_NOT_NEEDED when
// the leader asked for already leads).
struct ElectionOutcome {
  TopicPartition partition;
  std::optional<Error> error;
};

// A partition's new replica list for AlterPartitionReassignments; nullopt cancels the
// reassignment in progress.
struct Reassignment {
  TopicPartition partition;
  std::optional<std::vector<int32_t>> replicas;
};
// One partition's answer: none, or why not.
struct ReassignmentOutcome {
  TopicPartition partition;
  std::optional<Error> error;
};
// A reassignment in progress: the replicas (the target, then those leaving), and which
// are being added and removed.
struct OngoingReassignment {
  TopicPartition partition;
  std::vector<int32_t> replicas;
  std::vector<int32_t> adding;
  std::vector<int32_t> removing;
};

class Admin {
 public:
  explicit Admin(Cluster& cluster) : cluster_(cluster) {}

  // Each may suspend.
  ClientResult<std::vector<TopicOutcome>> create_topics_wait(const std::vector<NewTopic>& topics,
                                                             bool validate_only = false);
  ClientResult<std::vector<TopicOutcome>> delete_topics_wait(const std::vector<std::string>& names);
  // Every topic's metadata (sorted by name), internal ones included when asked.
  ClientResult<std::vector<TopicInfo>> list_topics_wait(bool include_internal = false);
  // One topic's metadata; the topic's Kafka error when it does not exist.
  ClientResult<TopicInfo> describe_topic_wait(const std::string& name);
  // Fills in each listed partition's ELR and last known ELR from DescribeTopicPartitions
  // (KIP-966; every page of it). A broker that does not serve it leaves them absent.
  ClientResult<void> describe_elr_wait(std::vector<TopicInfo>& topics);
  ClientResult<std::vector<ConfigEntry>> describe_configs_wait(ConfigResource type,
                                                               const std::string& name);
  // ElectLeaders for `partitions` (nullopt: every partition; the answer then lists only
  // those where an election was needed).
  ClientResult<std::vector<ElectionOutcome>> elect_leaders_wait(
      ElectionType type, const std::optional<std::vector<TopicPartition>>& partitions);
  // AlterPartitionReassignments (kafka-reassign-partitions --execute / --cancel).
  ClientResult<std::vector<ReassignmentOutcome>> alter_partition_reassignments_wait(
      const std::vector<Reassignment>& reassignments, bool allow_replication_factor_change = true);
  // ListPartitionReassignments: those in progress, of `partitions` or of all (nullopt).
  ClientResult<std::vector<OngoingReassignment>> list_partition_reassignments_wait(
      const std::optional<std::vector<TopicPartition>>& partitions);

 private:
  Cluster& cluster_;
  runtime::Duration timeout_ = runtime::seconds(30);
};

}  // namespace weir::client
