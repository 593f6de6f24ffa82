// Broker: a node's serving side — its listeners (an rpc::Server) and the API handlers
// over the partitions it hosts. Its metadata is the cluster's: the image the node's
// MetadataLoader replays from the metadata log, reached through the BrokerLink, which
// also carries admin requests to the active controller. A lone node is a cluster of
// one; there is no other path. The same code runs on the real runtime (`weir server`)
// and inside the simulator: everything it touches comes through runtime::Env.
//
// Requests wait until the broker is ready: its image has caught up with the log (the
// controller unfenced it) and its partitions were reconciled with that image once, as
// a Kafka broker processes requests only after its initial catch-up.
//
// Fibers: the rpc::Server's (accept loops; per connection a reader that runs each
// handler's ordered part, so validation and appends happen in request order, and a
// writer that sends responses in request order); the handlers' waiting parts (an
// fsync, a Fetch long poll) and a background fiber for time-based flushes and
// retention, all spawned through the server. stop() ends them all before the logs are
// closed.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include <absl/container/btree_map.h>
#include <absl/container/btree_set.h>

#include "base/result.h"
#include "broker/group_shard.h"
#include "broker/settings.h"
#include "broker/topics.h"
#include "cluster/broker_link.h"
#include "protocol/header.h"
#include "rpc/connection.h"
#include "rpc/server.h"
#include "runtime/env.h"
#include "runtime/sync.h"

namespace weir::broker {

// What a handler gives back; the rpc server owns the type now.
using Reply = rpc::Reply;

// A Metadata answer's entry for a topic that cannot be described.
protocol::MetadataResponse::MetadataResponseTopic metadata_topic_error(
    std::optional<std::string> name, protocol::Uuid id, protocol::ErrorCode code);

// Group coordinator bugs the simulator plants (the groups workload's checkers catch them).
struct GroupFlaws {
  // A rebalance completes without a new generation: the old and the new assignment
  // share a generation number, so fencing by generation cannot tell them apart.
  bool same_generation = false;
  // OffsetCommit skips the member and generation checks: a zombie member (its session
  // expired while it was paused) commits its stale positions over the new owner's.
  bool commit_any_generation = false;
  // OffsetCommit is answered once the commit is appended locally, before
  // __consumer_offsets has it durably (the acks=all rule): a coordinator failover loses
  // acknowledged commits.
  bool commit_before_durable = false;
  // A new coordinator loads __consumer_offsets only up to its high watermark, not its
  // log end: a new leader's high watermark lags the old one's (it learns it a fetch
  // later), so the last acknowledged commits are missing from what it serves.
  bool load_to_high_watermark = false;
  // KIP-848: the coordinator hands a partition to its new owner without waiting for
  // the old one to revoke it: for a while two members consume it at once.
  bool assign_before_revoke = false;
  // KIP-848: a new coordinator ignores the groups' records and makes each group afresh
  // at once, handing out partitions members of the old coordinator still hold.
  bool forget_consumer_groups = false;
};

// What the simulator plants and observes (tests/sim prove the checkers catch the flaws).
struct BrokerHooks {
  GroupFlaws group_flaws;
  // Flaw: acknowledge produce requests before their data is fsynced.
  bool ack_before_fsync = false;
  // Flaw: answer a forwarded admin request as soon as the controller does, before this
  // broker's image shows the change (its next Metadata may contradict the answer).
  bool answer_before_catch_up = false;
  // Flaw: a reconciliation closes the partitions no longer placed here but leaves
  // their directories (a deleted topic's data stays on disk).
  bool keep_stray_partitions = false;
  // Flaw: acknowledge acks=all once the leader has the batch, not the ISR.
  bool ack_on_leader = false;
  // Flaw: a leader's proposed ISR shrink counts before the controller commits it.
  bool shrink_isr_early = false;
  // Flaw: a leader moves the high watermark with the ISR below min.insync.replicas.
  bool high_watermark_under_min_isr = false;
  // Flaw: a diverging follower truncates to the leader's end offset for the epoch,
  // without looking up its own end of the epoch the leader answered (KIP-101 before
  // KIP-279, KAFKA-6361: fast leader failovers leave the logs diverged).
  bool truncate_to_leader_offset = false;
  // Flaw: a deposed leader whose image already names its successor's epoch appends
  // once more, stamped with that epoch (a bug weir had; its simulator found it).
  bool stamp_successor_epoch = false;
  // Flaw: consumers read up to the log end, as followers do, not the high watermark.
  bool serve_past_high_watermark = false;
  // Flaw: a follower keeps what it has where the leader says it diverged.
  bool skip_follower_truncation = false;
  // Flaw: a leader serves a follower from its fetch offset without checking the epoch
  // of the records before it (Kafka before KIP-101).
  bool skip_divergence_check = false;
  // Flaw: a new follower truncates its log to its high watermark (before KIP-101).
  bool truncate_to_high_watermark = false;
  // Called (without suspending) when a KIP-848 coordinator removes a member it stopped
  // hearing from (session) or that did not revoke in time: the simulator's ownership
  // checker knows then that the member was dropped, whatever the member believes.
  std::function<void(const std::string& group, const std::string& member_id)>
      on_consumer_member_removed;
  // Called (without suspending) after each leader append, with the batches as stored
  // (offsets and leader epoch assigned): the simulator checks that no two leaders
  // wrote in one epoch and no offset of an epoch holds two batches.
  std::function<void(const std::string& topic, int32_t partition, std::span<const uint8_t> batches)>
      on_leader_append;
  // Called (without suspending) when a follower is about to cut its log (the
  // simulator's nemesis strikes there).
  std::function<void(const std::string& topic, int32_t partition)> on_follower_truncation;
  // Called (without suspending) with each line worth an operator's attention (the
  // node passes its own report when this is unset).
  std::function<void(const std::string& line)> report;
  // Called (without suspending) after each reconciliation with the image reconciled
  // to and the partition directories then in the data root, as the disk lists them.
  std::function<void(const metadata::Image&, const std::vector<std::string>& directories)>
      on_reconciled;
};

class Broker {
 public:
  Broker(runtime::Env& env, BrokerSettings settings, cluster::BrokerLink& link,
         BrokerHooks hooks = {});
  ~Broker();
  Broker(const Broker&) = delete;
  Broker& operator=(const Broker&) = delete;

  // Suspends. Finds the partition directories and binds the listeners; the logs are
  // opened once the image has caught up. The error says what failed.
  Result<void, std::string> start();
  // Suspends until the broker is ready (see above) or `deadline`; false if not ready.
  bool wait_ready(runtime::Instant deadline);
  bool ready() const { return ready_.is_set(); }
  // Suspends until stop() is called (by another fiber) and has finished.
  void serve();

  // Each partition log this node hosts as its memory holds it now (no suspension): for
  // the simulator's replica checker (sim/checkers/replicas.h), which reads the batches
  // from the disk itself while the world is paused.
  struct LogState {
    std::string topic;
    int32_t partition = 0;
    std::string directory;
    bool leader = false;
    bool recovering = false;
    Offset high_watermark;
    Offset log_start;
    Offset log_end;
  };
  std::vector<LogState> log_states() const;
  // Suspends. Stops accepting, closes every connection, waits for in-flight requests,
  // then flushes and closes every log: a clean shutdown.
  void stop();
  // After stop(): every log was flushed and closed whole (nothing left to recover).
  bool closed_cleanly() const { return closed_cleanly_; }

  // Where the first listener is bound (its real port when configured with port 0).
  runtime::Address bound_address() const;
  const std::string& cluster_id() const { return link_.cluster_id(); }
  const BrokerSettings& settings() const { return settings_; }

  // Handles one decoded request. Suspends for the request's ordered part (appends
  // happen here, in the connection's request order).
  Reply handle(const protocol::RequestHeader& header, protocol::RequestBody&& body);
  // Whether weir answers this api (ApiVersions lists exactly these).
  static bool serves(int16_t api_key) { return route(api_key) != nullptr; }

 private:
  // The broker's face to the rpc server: its apis and their handlers.
  class Handler final : public rpc::RequestHandler {
   public:
    explicit Handler(Broker& broker) : broker_(broker) {}
    Reply handle(const protocol::RequestHeader& header, protocol::RequestBody&& body) override {
      return broker_.handle(header, std::move(body));
    }
    bool serves(int16_t api_key) const override { return Broker::serves(api_key); }
    protocol::ResponseBody api_versions_response(const protocol::RequestHeader& header) override {
      return broker_.api_versions(header, protocol::ApiVersionsRequest{});
    }

   private:
    Broker& broker_;
  };

  void background_loop();
  // Spawns a fiber that stop() waits for (through the server, which counts them).
  void spawn(std::string name, std::function<void()> body) {
    server_.spawn(std::move(name), std::move(body));
  }

  // A handler: takes the decoded request (the body holds the api's request type).
  using Route = Reply (*)(Broker&, const protocol::RequestHeader&, protocol::RequestBody&&);
  // The handler of an api, nullptr for one the broker does not serve: the one list of
  // served apis (broker.cc), which serves(), ApiVersions and handle() derive from.
  static Route route(int16_t api_key);

  // The handlers, one per api (api_*.cc).
  protocol::ResponseBody api_versions(const protocol::RequestHeader& header,
                                      const protocol::ApiVersionsRequest& request);
  protocol::ResponseBody metadata(const protocol::RequestHeader& header,
                                  const protocol::MetadataRequest& request);
  protocol::ResponseBody describe_cluster(const protocol::DescribeClusterRequest& request);
  protocol::ResponseBody describe_topic_partitions(
      const protocol::DescribeTopicPartitionsRequest& request);
  protocol::ResponseBody delete_records(const protocol::DeleteRecordsRequest& request);
  protocol::ResponseBody list_offsets(const protocol::RequestHeader& header,
                                      const protocol::ListOffsetsRequest& request);
  protocol::ResponseBody init_producer_id(const protocol::InitProducerIdRequest& request);
  protocol::ResponseBody find_coordinator(const protocol::RequestHeader& header,
                                          const protocol::FindCoordinatorRequest& request);
  protocol::ResponseBody describe_configs(const protocol::RequestHeader& header,
                                          const protocol::DescribeConfigsRequest& request);
  Reply produce(const protocol::RequestHeader& header, protocol::ProduceRequest&& request);
  // The group coordinator (api_group.cc).
  Reply join_group(const protocol::RequestHeader& header, protocol::JoinGroupRequest&& request);
  Reply sync_group(const protocol::RequestHeader& header, protocol::SyncGroupRequest&& request);
  Reply heartbeat(const protocol::RequestHeader& header, protocol::HeartbeatRequest&& request);
  Reply leave_group(const protocol::RequestHeader& header, protocol::LeaveGroupRequest&& request);
  Reply offset_commit(const protocol::RequestHeader& header,
                      protocol::OffsetCommitRequest&& request);
  Reply offset_fetch(const protocol::RequestHeader& header, protocol::OffsetFetchRequest&& request);
  // OffsetFetch's answer, each group's from its shard if the shard's leadership was
  // confirmed in its epoch (`confirmed`: partition -> epoch), else NOT_COORDINATOR.
  protocol::ResponseBody offset_fetch_answer(
      const protocol::RequestHeader& header, const protocol::OffsetFetchRequest& request,
      const absl::btree_map<int32_t, LeaderEpoch>& confirmed);
  Reply offset_delete(const protocol::RequestHeader& header,
                      protocol::OffsetDeleteRequest&& request);
  protocol::ResponseBody list_groups(const protocol::RequestHeader& header,
                                     const protocol::ListGroupsRequest& request);
  protocol::ResponseBody describe_groups(const protocol::RequestHeader& header,
                                         const protocol::DescribeGroupsRequest& request);
  Reply delete_groups(const protocol::RequestHeader& header,
                      protocol::DeleteGroupsRequest&& request);
  // KIP-848 consumer groups (api_consumer_group.cc).
  Reply consumer_group_heartbeat(
      const protocol::RequestHeader& header,
      const protocol::ConsumerGroupHeartbeatRequest& request);
  protocol::ResponseBody consumer_group_describe(
      const protocol::RequestHeader& header,
      const protocol::ConsumerGroupDescribeRequest& request);
  Reply fetch(const protocol::RequestHeader& header, protocol::FetchRequest&& request);
  // Sends an admin request to the active controller; answers when it does and this
  // broker's image shows the change (read-your-writes through the broker asked).
  Reply forward(const protocol::RequestHeader& header, protocol::RequestBody&& body);

  // Suspends. Asks the controller to create `name` with the defaults; false if it
  // could not be asked.
  bool request_creation(const std::string& name);
  // The hosted partition this node leads, or the error to answer: UNKNOWN_TOPIC_OR_PARTITION
  // when the image has no such partition, NOT_LEADER_OR_FOLLOWER when another broker
  // leads it (or it is not open here yet).
  Result<std::shared_ptr<Partition>, protocol::ErrorCode> led_partition(std::string_view topic,
                                                                        int32_t index);
  // Suspends. A producer id from a block the controller allocated (AllocateProducerIds),
  // unique across the cluster; nothing when no block could be had.
  std::optional<int64_t> allocate_producer_id();
  // Keeps the node's partitions equal to the image (a fiber); sets ready_ after the
  // first pass once caught up.
  void follow_image_loop();
  // Suspends until a reconciliation with an image as of `end` (or later) has been done,
  // or the deadline passes; false then.
  bool wait_reconciled(record::Offset end, runtime::Instant deadline);

  // Suspends. Appends one partition's batches of a Produce request in request order:
  // the producer-state check (duplicates answered with their original offsets), the
  // append, and the producer-state record, under the partition's append mutex.
  // Returns the log appended to (null on failure, with the error in `result`) and sets
  // `end`, one past the last offset to acknowledge.
  // acks=all is refused (NOT_ENOUGH_REPLICAS) while the ISR is below
  // min.insync.replicas.
  std::shared_ptr<storage::PartitionLog> append(
      const std::shared_ptr<Partition>& partition, std::span<uint8_t> records, int16_t acks,
      protocol::ProduceResponse::PartitionProduceResponse& result, std::optional<Offset>& end);
  // Suspends until the partition's data below `end` may be acknowledged: its fsync (by
  // the flush policy), and for acks=all (-1) the high watermark passing it — every ISR
  // replica has it — with NOT_ENOUGH_REPLICAS_AFTER_APPEND if the ISR shrank below
  // min.insync.replicas meanwhile, NOT_LEADER_OR_FOLLOWER if leadership moved on from
  // `epoch` (the one that appended it), and REQUEST_TIMED_OUT at `deadline` (the
  // request's timeout_ms).
  protocol::ErrorCode commit(Partition& partition, std::shared_ptr<storage::PartitionLog> log,
                             Offset end, LeaderEpoch epoch, int16_t acks,
                             runtime::Instant deadline);
  // Maps a storage failure to Kafka's code, starting recovery when the disk failed.
  protocol::ErrorCode storage_error(Partition& partition, storage::StorageError error);

  // --- the group coordinator's shards (api_group.cc) ---
  // Loads a shard for each __consumer_offsets partition this node now leads, unloads
  // those it no longer leads in their epoch (all of them once stopping). Does not
  // suspend; runs after every update_replication and in stop().
  void sync_group_coordinators();
  // Answers every request parked in the shard NOT_COORDINATOR and ends its fibers.
  void unload_shard(GroupShard& shard);
  // A fiber: replays the partition's log into the shard, then starts its fibers.
  void load_shard(const std::shared_ptr<GroupShard>& shard);
  // Fibers: appends the shard's records in order; ticks its groups at their deadlines.
  void shard_persist_loop(const std::shared_ptr<GroupShard>& shard);
  void shard_timer_loop(const std::shared_ptr<GroupShard>& shard);
  // Suspends. Appends `records` as one batch to the shard's partition and waits until
  // the high watermark passes it (an acks=all produce); the failure, if any.
  std::optional<group::PersistFailure> append_group_records(
      GroupShard& shard, const std::vector<group::OffsetsRecord>& records);
  // Appends tombstones for the offsets that expired (offsets.retention.minutes);
  // false when it could not look now (appends pending), to try again shortly.
  bool expire_offsets(GroupShard& shard);
  // Performs a group's effects: answers the slots, queues the appends, wakes the timer.
  void deliver(GroupShard& shard, const std::string& group_id, group::Effects&& effects);
  void persist(GroupShard& shard, PersistItem item);
  // The loaded shard coordinating `group_id` here, or NOT_COORDINATOR,
  // COORDINATOR_LOAD_IN_PROGRESS, COORDINATOR_NOT_AVAILABLE (no __consumer_offsets).
  Result<std::shared_ptr<GroupShard>, protocol::ErrorCode> coordinator_shard(
      const std::string& group_id);
  // The group's entry in its shard, created Empty if missing.
  CoordinatedGroup& group_entry(GroupShard& shard, const std::string& group_id);
  group::GroupSettings group_settings(const std::string& group_id, LeaderEpoch epoch) const;
  group::ConsumerGroupSettings consumer_group_settings(const std::string& group_id,
                                                       LeaderEpoch epoch) const;
  // The named topics that exist, as a ConsumerGroup's assignors see them.
  group::TopicImage consumer_group_topics(const absl::btree_set<std::string>& names) const;
  // A load found a KIP-848 group's records: restores the group into the shard.
  void restore_consumer_group(GroupShard& shard, const std::string& group_id,
                              const group::StoredConsumerGroup& stored);
  // Ticks a group's KIP-848 state at its deadline (the shard's timer fiber) and
  // persists what the tick changed.
  void tick_consumer_group(GroupShard& shard, const std::string& group_id);
  // Queues an append of the records that bring the KIP-848 group's records in
  // __consumer_offsets to its state (tombstones only, when the ConsumerGroup is gone);
  // `done` (may be null) runs once it is committed or failed — at once if nothing
  // changed and nothing is queued, else after every append queued before.
  void persist_consumer_group(GroupShard& shard, const std::string& group_id,
                              std::function<void(std::optional<group::PersistFailure>)> done);
  // The records that differ from entry.consumer_written, which they update.
  static std::vector<group::OffsetsRecord> consumer_record_changes(CoordinatedGroup& entry);
  // An append of these keys failed: the next one writes them again.
  static void consumer_records_failed(GroupShard& shard, const std::string& group_id,
                                      const std::vector<group::ConsumerGroupKey>& keys);
  group::Now group_now() const;
  // Asks the controller (from a fiber) to create __consumer_offsets, once at a time.
  void request_offsets_topic();
  // A JoinGroup/SyncGroup/Heartbeat/LeaveGroup: hands the request to its group with a
  // new token and answers through `to_wire` when the group replies (maybe later), or
  // `error` when it cannot be asked. `create`: an unknown group is created (JoinGroup);
  // else the answer is UNKNOWN_MEMBER_ID.
  using GroupCall = std::function<group::Effects(group::ClassicGroup&, group::Token, group::Now)>;
  using GroupAnswer = std::function<protocol::ResponseBody(const group::Response&)>;
  using GroupError = std::function<protocol::ResponseBody(protocol::ErrorCode)>;
  Reply group_call(const std::string& group_id, bool create, GroupCall call, GroupAnswer to_wire,
                   GroupError error);

  // --- replication (replication.cc) ---
  // Suspends. Whether this node still leads the partition in `epoch`: true once every
  // other member of the ISR has fetched from it twice since the call began — the
  // second fetch was sent after the follower got an answer given after the call began,
  // which a follower that had become leader, or learned of another, would not send.
  // Parked follower fetches are nudged to answer at once, so this takes about two round
  // trips. False at `deadline` (a deposed leader that has not heard: a zombie) or when
  // the leadership ends. Raft's read index, over Kafka's pull replication.
  bool confirm_leadership_wait(const std::shared_ptr<Partition>& partition, LeaderEpoch epoch,
                               runtime::Instant deadline);
  // Suspends. Sets each hosted partition's part in replication from `image`: leads
  // (a LeaderState, its epoch assigned at the log end first), follows (a fetcher from
  // its leader runs), or neither. Runs after each reconciliation and every pass of
  // follow_image_loop (a recovered log's leader starts anew).
  void update_replication(const metadata::Image& image);
  // Suspends. Makes this node `partition`'s leader in `state`'s epoch; false when it
  // cannot yet (its log is being recovered, the epoch could not be written, or the
  // image moved meanwhile).
  bool become_leader(const std::shared_ptr<Partition>& partition,
                     const metadata::PartitionState& state,
                     const replication::EligibleBrokers& eligible);
  // A fiber per source broker: fetches every partition this node follows from it
  // until it follows none there.
  void replica_fetch_loop(NodeId source);
  // Suspends. Applies one partition's fetch answer (records, a divergence, a reset);
  // false when it failed (the fetcher backs off).
  bool apply_fetched(Partition& partition, const std::shared_ptr<storage::PartitionLog>& log,
                     LeaderEpoch leader_epoch, Offset fetch_offset, NodeId source,
                     rpc::Connection& connection,
                     const protocol::FetchResponse::PartitionData& result);
  // Suspends; the partition's append path held. Cuts a follower's log and its producer
  // state at `offset`; false (recovery started) when the disk failed.
  bool truncate_follower(Partition& partition, storage::PartitionLog& log, Offset offset);
  // Suspends. The leader's log end for `partition` (ListOffsets latest, as a replica).
  std::optional<Offset> leader_log_end(rpc::Connection& connection, const Partition& partition);
  // Sends a leader's ISR proposal to the controller (one at a time per partition) and
  // gives the answer to its LeaderState.
  void send_isr_proposal(const std::shared_ptr<Partition>& partition,
                         replication::IsrProposal proposal);
  // The leader's side of a follower's fetch of one partition (api_data.cc): that it is
  // a replica, where its log diverges (DivergingEpoch, answered at once), its progress
  // (high watermark, ISR expansion). Sets `answered` when nothing is to be read.
  void follower_fetched(const std::shared_ptr<Partition>& partition, NodeId replica,
                        metadata::BrokerEpoch replica_epoch,
                        const protocol::FetchRequest::FetchPartition& asked,
                        protocol::FetchResponse::PartitionData& result, bool& answered);
  // The ISR check every replica.lag.time.max.ms / 2 and resends (background loop).
  void replication_tick();
  // The partition's high watermark follows its LeaderState's.
  void sync_high_watermark(Partition& partition);
  // What the leader itself counts toward the high watermark: its durable end under
  // the fsync policy, else its log end.
  Offset counted_end(const Partition& partition, const storage::PartitionLog& log) const;
  replication::LeaderSettings leader_settings(const Partition& partition) const;

  runtime::Env& env_;
  BrokerSettings settings_;
  BrokerHooks hooks_;
  cluster::BrokerLink& link_;
  Topics topics_;
  bool stopping_ = false;
  bool closed_cleanly_ = false;
  runtime::Event ready_;
  // The metadata offset of the image the partitions were last reconciled with.
  record::Offset reconciled_end_{-1};
  runtime::WaitQueue reconciled_changed_;
  runtime::Event stopped_;
  // The producer id block in use in a cluster: ids [next, end) are this broker's.
  int64_t producer_block_next_ = 0;
  int64_t producer_block_end_ = 0;
  runtime::Mutex producer_block_mutex_;
  // The sources a replica fetcher runs for, and their connections (closed on stop).
  absl::btree_set<NodeId> fetchers_;
  absl::btree_map<NodeId, std::shared_ptr<rpc::Connection>> fetch_connections_;
  runtime::Instant next_isr_check_;
  // A partition this node leads in the image is not led here yet (its log was being
  // recovered, or its epoch could not be written): update_replication runs again.
  bool replication_retry_ = false;
  // The __consumer_offsets partitions this node leads, as group coordinator shards.
  absl::btree_map<int32_t, std::shared_ptr<GroupShard>> group_shards_;
  // A creation of __consumer_offsets is on its way to the controller.
  bool offsets_topic_requested_ = false;
  Handler handler_{*this};
  // Last: its fibers reach every member above.
  rpc::Server server_;
};

}  // namespace weir::broker
