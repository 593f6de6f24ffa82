// The admin client: create, delete, list and describe topics, describe configs; list,
// describe and delete consumer groups and read, reset and delete their offsets.
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

#include <absl/container/btree_map.h>

#include "client/cluster.h"
#include "client/errors.h"
#include "record/types.h"

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

// A group as ListGroups names it.
struct GroupListing {
  std::string group_id;
  std::string protocol_type;  // "consumer" for consumer groups; "" for simple commits
  std::string state;          // Empty, Stable, PreparingRebalance ... (ListGroups v4+)
  auto operator<=>(const GroupListing&) const = default;
};

struct GroupMemberDescription {
  std::string member_id;
  std::optional<std::string> group_instance_id;
  std::string client_id;
  std::string client_host;
  // Decoded from the consumer protocol's assignment; empty unless the group is Stable
  // (the coordinator sends assignments only then) or its protocol is not "consumer".
  std::vector<TopicPartition> assignment;
};

struct GroupDescription {
  std::string group_id;
  std::string state;  // "Dead" for a group that does not exist
  std::string protocol_type;
  std::string protocol;  // the assignor, while Stable
  std::vector<GroupMemberDescription> members;
};

// One partition's answer to an offset change or deletion: none, or why not.
struct PartitionOutcome {
  TopicPartition partition;
  std::optional<Error> error;
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

  // --- Consumer groups (each request to the group's coordinator, except ListGroups,
  // which asks every broker). ---
  // Every group, sorted by id.
  ClientResult<std::vector<GroupListing>> list_groups_wait();
  // One group; GROUP_ID_NOT_FOUND when it does not exist.
  // A classic group by DescribeGroups, a KIP-848 group by ConsumerGroupDescribe (its
  // members' current assignments, protocol = the server-side assignor).
  ClientResult<GroupDescription> describe_group_wait(const std::string& group_id);
  ClientResult<GroupDescription> describe_consumer_group_wait(const std::string& group_id);
  // The group's committed offsets, every partition it has one for.
  ClientResult<absl::btree_map<TopicPartition, record::Offset>> list_group_offsets_wait(
      const std::string& group_id);
  // Commits `offsets` for the group as an admin (generation -1, no member): the
  // coordinator accepts it only while the group is Empty (kafka-consumer-groups
  // --reset-offsets does the same).
  ClientResult<std::vector<PartitionOutcome>> alter_group_offsets_wait(
      const std::string& group_id, const absl::btree_map<TopicPartition, record::Offset>& offsets);
  // DeleteGroups: per group, none or why not (NON_EMPTY_GROUP, GROUP_ID_NOT_FOUND).
  ClientResult<std::vector<TopicOutcome>> delete_groups_wait(const std::vector<std::string>& ids);
  // OffsetDelete: the whole request's error (GROUP_ID_NOT_FOUND ...) fails the call;
  // otherwise per partition.
  ClientResult<std::vector<PartitionOutcome>> delete_group_offsets_wait(
      const std::string& group_id, const std::vector<TopicPartition>& partitions);

 private:
  // The connection to `group_id`'s coordinator. May suspend.
  ClientResult<std::shared_ptr<Connection>> coordinator_connection_wait(
      const std::string& group_id);

  Cluster& cluster_;
  runtime::Duration timeout_ = runtime::seconds(30);
};

}  // namespace weir::client
