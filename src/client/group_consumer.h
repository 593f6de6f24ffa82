// GroupConsumer: a member of a consumer group, layered over the manual-assignment
// Consumer. Classic protocol below; with group.protocol=consumer (KIP-848) it instead
// sends ConsumerGroupHeartbeat from its heartbeat fiber with what it owns, and poll
// applies the assignment the coordinator answered: revoked partitions are committed
// (auto commit) and given up first, and the next heartbeat tells the coordinator so;
// new ones start at their committed offsets. A fenced member gives up everything and
// rejoins with epoch 0. It finds the group's coordinator, joins (JoinGroup with the
// consumer protocol, MEMBER_ID_REQUIRED per KIP-394, optional static membership), runs
// the leader's assignor (range or roundrobin) in SyncGroup, assigns the Consumer, starts
// each partition at its committed offset (OffsetFetch) or by auto.offset.reset, and
// commits offsets (commit_wait, and auto commit every auto.commit.interval.ms and before
// each rebalance). The rules live in the pure Membership (group_membership.h); this file
// only moves requests.
//
// Fibers: the caller's fiber (poll, commit_wait, close) joins, syncs, fetches and
// commits; one heartbeat fiber per consumer sends Heartbeat every heartbeat.interval.ms
// while stable, notices rebalances, lost coordinators and a missed max.poll.interval,
// and only flags them: the caller's next poll acts. Rebalancing is eager: before every
// JoinGroup the assignment is revoked (after an auto commit of its positions).
//
// Invariants:
//  - Records poll returns belong to the current assignment; the assignment changes only
//    inside poll (and close).
//  - A partition's fetching starts only after its committed offset is known (or known
//    absent): a member never skips records another member committed past.
//  - All waiting is on the runtime's fibers and clock (Env): the consumer runs the same
//    on real sockets and in the simulator. The Cluster outlives the GroupConsumer.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <absl/container/btree_map.h>

#include "client/consumer.h"
#include "client/consumer_protocol.h"
#include "client/group_membership.h"

namespace weir::client {

// group.protocol: the classic rebalance protocol (JoinGroup/SyncGroup, the leader
// assigns) or KIP-848's consumer protocol (ConsumerGroupHeartbeat, the coordinator
// assigns and members reconcile: revoke first, then take what was released).
enum class GroupProtocol : uint8_t { classic, consumer };

struct GroupConsumerConfig {
  std::string group_id;                                          // group.id
  GroupProtocol protocol = GroupProtocol::classic;               // group.protocol
  std::optional<std::string> remote_assignor;                    // group.remote.assignor
  std::optional<std::string> group_instance_id;                  // group.instance.id
  runtime::Duration session_timeout = runtime::seconds(45);      // session.timeout.ms
  runtime::Duration heartbeat_interval = runtime::seconds(3);    // heartbeat.interval.ms
  runtime::Duration max_poll_interval = runtime::seconds(300);   // max.poll.interval.ms
  bool enable_auto_commit = true;                                // enable.auto.commit
  runtime::Duration auto_commit_interval = runtime::seconds(5);  // auto.commit.interval.ms
  std::vector<AssignorKind> assignors = {AssignorKind::range};   // partition.assignment.strategy
  ConsumerConfig consumer;  // every other consumer property (auto.offset.reset ...)
  // Called (on the polling fiber, without suspending) each time the assignment the
  // member holds changes, with its generation or KIP-848 epoch, what it now holds, and
  // whether the change was a loss (the coordinator had dropped the member) rather than
  // a revocation — Kafka's ConsumerRebalanceListener, in one call.
  std::function<void(int32_t generation, const std::vector<TopicPartition>& partitions,
                     bool lost)>
      on_assignment;
  // Called (on the heartbeat fiber, without suspending) when the member leaves the group
  // on its own because poll was not called within max.poll.interval.ms: the coordinator
  // may hand its partitions to others from then on, while the application may still be
  // processing what the last poll returned (Kafka's consumer behaves the same).
  std::function<void()> on_poll_timeout_leave;
};

// Applies one Kafka consumer property: the group ones above, else the Consumer's
// (apply_consumer_property). An error names the key.
std::optional<std::string> apply_group_consumer_property(GroupConsumerConfig& config,
                                                         std::string_view key,
                                                         std::string_view value);
// Checks relationships between properties (group.id set, heartbeat < session timeout).
std::optional<std::string> validate_group_consumer_config(const GroupConsumerConfig& config);

class GroupConsumer {
 public:
  GroupConsumer(Cluster& cluster, GroupConsumerConfig config);
  ~GroupConsumer();
  GroupConsumer(const GroupConsumer&) = delete;
  GroupConsumer& operator=(const GroupConsumer&) = delete;

  // Sets the topics; the member (re)joins at the next poll.
  void subscribe(std::vector<std::string> topics);
  // Joins or rejoins when needed, auto-commits when due, and returns the records
  // available within `timeout` (possibly none, e.g. while the group rebalances). Fails
  // on errors the caller must see (fenced, invalid group, a Consumer failure). May
  // suspend.
  ClientResult<std::vector<ConsumerRecord>> poll(runtime::Duration timeout);
  // Commits the current positions of the assignment, or `offsets`, synchronously.
  // Fails with the coordinator's error (REBALANCE_IN_PROGRESS, ILLEGAL_GENERATION ...
  // after which the next poll rejoins). May suspend.
  ClientResult<void> commit_wait();
  ClientResult<void> commit_wait(const absl::btree_map<TopicPartition, record::Offset>& offsets);
  // The group's committed offsets for `partitions` (nullopt: none committed). May
  // suspend.
  ClientResult<absl::btree_map<TopicPartition, std::optional<record::Offset>>> committed_wait(
      const std::vector<TopicPartition>& partitions);
  // Commits (with auto commit) and leaves the group (LeaveGroup; a static member does
  // not leave, as in Kafka: its session keeps its assignment across a restart). May
  // suspend.
  ClientResult<void> close();

  std::vector<TopicPartition> assignment() const;
  // Moves an assigned partition's position (the next poll reads from there; the next
  // commit of positions commits it).
  void seek(const TopicPartition& partition, record::Offset offset);
  std::optional<record::Offset> position(const TopicPartition& partition) const;
  const Membership& membership() const;
  // The generation the assignment belongs to: the classic generation, or the KIP-848
  // member epoch; -1 (or 0) while the member has none.
  int32_t generation() const;
  // KIP-848: how often the member gave up everything because the coordinator had
  // dropped it (fenced, or forgotten): each such assignment was lost, not revoked.
  uint64_t losses() const;
  // How many times the member has applied an assignment (a join's, a reconciliation's,
  // or giving everything up): positions start over from committed offsets after each,
  // even when the generation number is the same (a rejoin the coordinator answered
  // with the current generation).
  uint64_t assignments_applied() const;
  // The member id the coordinator knows this member by ("" before it has one).
  const std::string& member_id() const;
  // KIP-848: when the coordinator last answered a heartbeat (none yet: nullopt).
  std::optional<runtime::Instant> last_heartbeat_ok() const;

  struct State;

 private:
  std::shared_ptr<State> state_;
};

}  // namespace weir::client
