// Controller: the pure decision logic of the active KRaft controller, after Kafka's
// QuorumController, ReplicationControlManager and ClusterControlManager (smaller).
//
// How the lead drives it (the fiber-driven controller owns the Raft log and I/O):
// - On winning an election: reset_to(committed_state, now_ms). Every broker's session
//   starts fresh at now_ms (heartbeat times are not in the log).
// - On each request: call the matching method. It returns a Decision: the records to
//   append (in order, as ONE batch — encode_batch — so they commit atomically) and the
//   response to send once they commit (at once when there are none). The records are
//   already applied to the controller's working state, so the next request sees them.
// - Periodically (e.g. every broker.heartbeat.interval.ms / 2, or at
//   next_deadline_ms()): tick(now_ms), and append what it returns the same way.
// - When a batch fails to commit or leadership is lost: reset_to(committed_state) drops
//   every pending record (the responses for them must not be sent).
// - As a follower: replay(record) for each committed record, or simply reset_to the
//   committed state before leading.
//
// Broker epochs: a broker's epoch is the log offset of its RegisterBrokerRecord, as in
// Kafka. register_broker and broker_heartbeat therefore take `next_offset`, the offset
// the first record of the returned decision will get; the lead must append the decision
// at exactly that offset (nothing in between).
//
// Determinism: decisions depend only on the requests, the times and offsets passed in,
// the working state and the Random given at construction (topic ids, placement).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <absl/container/btree_map.h>

#include "config/broker_config.h"
#include "metadata/records.h"
#include "metadata/state.h"
#include "protocol/errors.h"
#include "protocol/messages/allocate_producer_ids.h"
#include "protocol/messages/alter_configs.h"
#include "protocol/messages/alter_partition.h"
#include "protocol/messages/alter_partition_reassignments.h"
#include "protocol/messages/broker_heartbeat.h"
#include "protocol/messages/broker_registration.h"
#include "protocol/messages/create_partitions.h"
#include "protocol/messages/create_topics.h"
#include "protocol/messages/delete_topics.h"
#include "protocol/messages/elect_leaders.h"
#include "protocol/messages/incremental_alter_configs.h"
#include "protocol/messages/list_partition_reassignments.h"
#include "protocol/messages/unregister_broker.h"
#include "record/types.h"
#include "runtime/random.h"

namespace weir::metadata {

struct ControllerSettings {
  // Registrations naming another cluster id are refused (INCONSISTENT_CLUSTER_ID);
  // empty accepts any.
  std::string cluster_id;
  int32_t num_partitions = 1;                   // num.partitions
  int16_t default_replication_factor = 1;       // default.replication.factor
  int64_t broker_session_timeout_ms = 9000;     // broker.session.timeout.ms
  bool unclean_leader_election_enable = false;  // unclean.leader.election.enable
  bool delete_topic_enable = true;              // delete.topic.enable
  // A new cluster's first controller finalizes eligible.leader.replicas.version=1
  // (KIP-966), as Kafka 4.1+ formats new clusters; false leaves it at 0.
  bool eligible_leader_replicas = true;
  // Test-only flaw (elr-keep-unclean-restart): a broker that restarts without a clean
  // shutdown keeps its place in the ELR, though its unflushed tail may be gone.
  bool flaw_keep_elr_on_unclean_restart = false;
  // auto.leader.rebalance.enable, every leader.imbalance.check.interval.seconds.
  bool auto_leader_rebalance = true;
  int64_t leader_imbalance_check_interval_ms = 300'000;
  // This controller's own node id, and whether its node is a broker too
  // (process.roles=broker,controller): that broker's old incarnation died with this
  // controller's process, so its new one need not wait for the old session to expire.
  int32_t node_id = -1;
  bool colocated_broker = false;
  // The broker defaults topic configs are validated and described against.
  config::BrokerConfig broker_config;

  static ControllerSettings from(const config::BrokerConfig& config, std::string cluster_id);
};

// The records to append (one atomic batch, possibly empty) and the response to send
// once they are committed.
template <typename Response>
struct Decision {
  std::vector<Record> records;
  Response response;
};

// A topic an older weir kept outside the metadata log (a lone node's own topics file),
// for the controller to adopt.
struct LegacyTopic {
  std::string name;
  TopicId id;
  int32_t partitions = 0;
  absl::btree_map<std::string, std::string> configs;
};

// AllocateProducerIds hands out blocks of this size, as Kafka does.
inline constexpr int32_t kProducerIdBlockSize = 1000;
// A topic may not be created or grown beyond this many partitions in one request.
inline constexpr int32_t kPartitionsPerTopicMax = 1'000'000;

class Controller {
 public:
  Controller(ControllerSettings settings, runtime::Random& random);

  // ---- leadership ----
  // Drops all pending work: the working state becomes `committed`, every broker's
  // session starts at now_ms.
  void reset_to(const MetadataState& committed, int64_t now_ms);
  // A record committed by another controller (this node follows). A record that does
  // not apply is a bug in whoever wrote it: VERIFY fails.
  void replay(const Record& record);
  // Committed plus pending records.
  const MetadataState& state() const { return working_; }
  const Image& image() const { return working_.image(); }

  // The records the first controller of a new cluster writes before anything else
  // (metadata.version), applied to the working state; nothing once they are there.
  std::vector<Record> bootstrap();

  // The records adopting topics that a lone node of an older weir kept in its own file:
  // each topic the image names neither by name nor by id, under its old id (its logs'
  // partition.metadata names it), every partition on `broker` alone and led by it, with
  // its configs; then the producer-id blocks moved to `next_producer_id`, so no id that
  // node handed out is handed out again. Nothing once all is adopted: a crash before
  // the old file is removed adopts nothing twice. Applied to the working state.
  std::vector<Record> adopt_legacy_topics(const std::vector<LegacyTopic>& topics, BrokerId broker,
                                          ProducerId next_producer_id);

  // ---- requests ----
  Decision<protocol::CreateTopicsResponse> create_topics(
      const protocol::CreateTopicsRequest& request);
  // `version` decides whether topics are named by topic_names (v1-5) or topics (v6+).
  Decision<protocol::DeleteTopicsResponse> delete_topics(
      const protocol::DeleteTopicsRequest& request, int16_t version);
  Decision<protocol::CreatePartitionsResponse> create_partitions(
      const protocol::CreatePartitionsRequest& request);
  Decision<protocol::IncrementalAlterConfigsResponse> incremental_alter_configs(
      const protocol::IncrementalAlterConfigsRequest& request);
  Decision<protocol::AlterConfigsResponse> alter_configs(
      const protocol::AlterConfigsRequest& request);
  Decision<protocol::BrokerRegistrationResponse> register_broker(
      const protocol::BrokerRegistrationRequest& request, record::Offset next_offset,
      int64_t now_ms);
  Decision<protocol::BrokerHeartbeatResponse> broker_heartbeat(
      const protocol::BrokerHeartbeatRequest& request, record::Offset next_offset, int64_t now_ms);
  Decision<protocol::UnregisterBrokerResponse> unregister_broker(
      const protocol::UnregisterBrokerRequest& request);
  Decision<protocol::AllocateProducerIdsResponse> allocate_producer_ids(
      const protocol::AllocateProducerIdsRequest& request);
  // A partition leader's ISR change (KIP-497), checked as Kafka's
  // ReplicationControlManager.alterPartition does: the requester's broker epoch (else
  // STALE_BROKER_EPOCH for the whole request), then per partition the topic, the
  // leader and partition epochs (newer than this controller's: NOT_CONTROLLER; an older
  // leader epoch: FENCED_LEADER_EPOCH; an older partition epoch:
  // INVALID_UPDATE_VERSION), that the requester leads it, that the new ISR is made of
  // its replicas and holds the leader (INVALID_REQUEST), and that every member is an
  // active broker of the named broker epoch (INELIGIBLE_REPLICA). An accepted change
  // is a PartitionChangeRecord of the ISR (the leader epoch stays; the partition epoch
  // moves); the answer carries the state after it. `version` 2 names the ISR by ids,
  // 3 with broker epochs.
  Decision<protocol::AlterPartitionResponse> alter_partition(
      const protocol::AlterPartitionRequest& request, int16_t version);
  // Leader elections an administrator asks for (kafka-leader-election), as Kafka's
  // ReplicationControlManager.electLeaders: election_type 0 (preferred; v0 has no
  // type) moves leadership to the first replica when it is active and in sync
  // (PREFERRED_LEADER_NOT_AVAILABLE otherwise); 1 (unclean) elects a leaderless
  // partition a leader — from the ISR if it can, else any active replica, whatever the
  // topic's unclean.leader.election.enable (the administrator asked) — and
  // ELIGIBLE_LEADERS_NOT_AVAILABLE when no replica is active. A partition that already
  // has the leader asked for answers ELECTION_NOT_NEEDED. No partitions named (null):
  // every partition, answering only those where an election was needed.
  Decision<protocol::ElectLeadersResponse> elect_leaders(
      const protocol::ElectLeadersRequest& request, int16_t version);
  // Kafka's partition reassignment (kafka-reassign-partitions): per partition, a target
  // replica list starts a reassignment — replicas become the target followed by the
  // ones leaving, `adding` and `removing` say which — that completes (Controller::settle)
  // once the ISR holds every target replica; null cancels one in progress (back to the
  // replicas without those being added; NO_REASSIGNMENT_IN_PROGRESS when none is).
  // Refused per partition: an empty list, a broker twice or not registered
  // (INVALID_REPLICA_ASSIGNMENT), a changed replication factor when v1+ forbids it
  // (INVALID_REPLICATION_FACTOR), an unknown partition.
  Decision<protocol::AlterPartitionReassignmentsResponse> alter_partition_reassignments(
      const protocol::AlterPartitionReassignmentsRequest& request, int16_t version);
  // The reassignments in progress (of the named partitions, or all); never records.
  Decision<protocol::ListPartitionReassignmentsResponse> list_partition_reassignments(
      const protocol::ListPartitionReassignmentsRequest& request) const;

  // ---- time ----
  // Fences brokers whose session expired (no heartbeat for broker.session.timeout.ms),
  // moving their leaderships, and elects leaders uncleanly for leaderless partitions
  // of topics that allow it. With auto.leader.rebalance.enable, once per
  // leader.imbalance.check.interval.seconds, moves leadership back to the preferred
  // replica of every partition whose preferred replica is active and in sync (as
  // Kafka's KRaft controller: any imbalance, up to 1000 partitions a pass).
  std::vector<Record> tick(int64_t now_ms);
  // When tick() next has something to do for sessions (INT64_MAX: nothing).
  int64_t next_deadline_ms() const;

  // ---- election choices (exposed for tests and the lead's AlterPartition work) ----
  // The change a partition needs when `removed` (kNoLeader: none) may no longer lead or
  // be in sync: the leader stays if still eligible; else the first ISR member in
  // replica order that is active. `removed` leaves the ISR unless it is the last
  // member — with eligible leader replicas (KIP-966) it leaves it anyway, and the
  // members leaving an ISR below min.insync.replicas join the ELR; with the ISR empty
  // the first active ELR member leads (and becomes the ISR), else the last known
  // leader when it is back. Nothing when nothing changes.
  std::optional<PartitionChangeRecord> clean_election(TopicId topic, PartitionId partition,
                                                      BrokerId removed) const;
  // For a leaderless partition whose ISR has no active member (nor, with the ISR empty,
  // its ELR or last known leader): the first active replica becomes leader and sole ISR
  // member, recovering, and the ELR is forgotten (Kafka's unclean election; may lose
  // committed records). Only when `unclean.leader.election.enable` holds for the topic.
  std::optional<PartitionChangeRecord> unclean_election(TopicId topic, PartitionId partition) const;
  // The same choice, for an administrator's unclean election: whatever the topic says.
  std::optional<PartitionChangeRecord> forced_unclean_election(TopicId topic,
                                                               PartitionId partition) const;
  // unclean.leader.election.enable for a topic: its override, else the setting.
  bool unclean_allowed(const TopicImage& topic) const;
  // min.insync.replicas for a topic: its override, else the broker default.
  int32_t min_insync_replicas(const TopicImage& topic) const;
  // KIP-966's ELR of `partition` once its replicas are `replicas` and its ISR `isr`:
  // empty without the feature or with the ISR at min.insync.replicas; else the replicas
  // (in order) that were in its ISR or ELR and are not in `isr`, except
  // `unclean_shutdown`.
  std::vector<BrokerId> eligible_leader_replicas(const TopicImage& topic,
                                                 const PartitionState& partition,
                                                 const std::vector<BrokerId>& replicas,
                                                 const std::vector<BrokerId>& isr,
                                                 BrokerId unclean_shutdown) const;

 private:
  struct Session {
    int64_t last_heartbeat_ms = 0;
    // The offset of the last record that moved the broker's leaderships away at the
    // start of its controlled shutdown; it may shut down once it has seen it.
    int64_t controlled_shutdown_offset = -1;
  };

  // Applies `record` to the working state (it must apply) and appends it to `out`.
  void emit(Record record, std::vector<Record>& out);
  // Leadership and ISR changes taking `broker` out, for every partition.
  void remove_broker_from_partitions(BrokerId broker, std::vector<Record>& out);
  // The change that gives a partition the ISR `isr` with its leader chosen (see
  // clean_election), `removed` ineligible to lead and `unclean_shutdown` out of the ELR.
  // A partition's replica assignment: replicas (during a reassignment the target, then
  // the ones leaving), and the ones being added and removed.
  struct Assignment {
    std::vector<BrokerId> replicas;
    std::vector<BrokerId> adding;
    std::vector<BrokerId> removing;
  };
  // `target` (when given) replaces the partition's assignment. A reassignment in
  // progress completes here once the ISR holds every target replica.
  std::optional<PartitionChangeRecord> settle(TopicId topic, PartitionId partition,
                                              std::vector<BrokerId> isr, BrokerId removed,
                                              BrokerId unclean_shutdown,
                                              const Assignment* target = nullptr) const;
  // `broker` leaves every ELR (it restarted without a clean shutdown, or left the cluster).
  void drop_from_eligible(BrokerId broker, std::vector<Record>& out);
  // Every partition of `topic` forgets its ELR.
  void clear_eligible(const TopicImage& topic, std::vector<Record>& out);
  // What a committed change of a topic's configs (from `before`) implies for its partitions.
  void after_topic_config_change(const TopicImage& topic, const ConfigMap& before,
                                 std::vector<Record>& out);
  // Elections for leaderless partitions (after a broker became active).
  void elect_leaderless(bool unclean_only, std::vector<Record>& out);
  void fence(BrokerId broker, std::vector<Record>& out);
  // The preferred-leader change of one partition: PREFERRED_LEADER_NOT_AVAILABLE or
  // ELECTION_NOT_NEEDED, or none and the change.
  std::pair<protocol::ErrorCode, std::optional<PartitionChangeRecord>> preferred_election(
      TopicId topic, PartitionId partition) const;
  bool leads_any(BrokerId broker) const;
  TopicId new_topic_id();
  int64_t last_heartbeat_ms(BrokerId broker) const;

  ControllerSettings settings_;
  runtime::Random& random_;
  MetadataState working_;
  absl::btree_map<BrokerId, Session> sessions_;
  int64_t next_rebalance_ms_ = -1;  // -1: at the first tick, one interval on
  // Brokers without a session entry count from here (the start of this term).
  int64_t term_start_ms_ = 0;
};

}  // namespace weir::metadata
