// ConsumerGroup: one group of KIP-848's consumer rebalance protocol
// (ConsumerGroupHeartbeat), as a deterministic state machine like ClassicGroup: no I/O,
// no clock, no randomness; the driver hands in each heartbeat with the time and the
// subscribed topics as the metadata image shows them, and calls tick() at
// next_deadline().
//
// The protocol moves the assignment to the server. Three epochs order everything:
//  - the group epoch grows whenever what the assignment depends on changes (a member
//    joins or leaves, a subscription changes, a subscribed topic appears or grows);
//  - the target assignment is computed by the group's assignor (uniform or range) for
//    one group epoch, and carries that epoch (the assignment epoch);
//  - each member's epoch reaches the assignment epoch when it has been reconciled: it
//    has given up every partition the target takes from it and may own what the
//    target gives it that no one else still holds.
// Reconciliation is Kafka's CurrentAssignmentBuilder: a member whose target takes
// partitions away first keeps its epoch and is asked to revoke them
// (UNREVOKED_PARTITIONS); once a heartbeat shows it no longer owns them, it moves to the
// new epoch and gets the new partitions that are free; partitions still held by
// others follow as they are released (UNRELEASED_PARTITIONS). A member that does not
// revoke within its rebalance timeout is removed, as is one whose session expires.
//
// Member ids: a v1+ client makes its own (a UUID); for v0's empty id the group makes
// one, deterministically: `<client id>-<coordinator epoch, 8 hex>-<counter, 16 hex>`.
//
// Invariants (checked after every step):
//  - No partition is assigned to, or pending revocation from, two members at once: a
//    partition moves only after its previous owner acknowledged giving it up.
//  - A member's epoch never exceeds the assignment epoch, which never exceeds the group
//    epoch.
//  - Members are kept in ordered maps: the assignors see them, and tie-break, the same
//    way on every run.
//
// Persistence: records() is the group's state as Kafka's consumer group records
// (records.h, ConsumerGroupKey); the coordinator appends what changed before it
// answers, and a new coordinator replays them (StoredConsumerGroup) and restore()s the
// group with every member's session restarted from the load, as Kafka's does.
//
// Not yet: static membership's temporary leave (-2) is a leave; regular-expression
// subscriptions; rack-aware assignment.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <absl/container/btree_map.h>
#include <absl/container/btree_set.h>

#include "group/records.h"
#include "protocol/errors.h"
#include "protocol/wire.h"
#include "runtime/clock.h"

namespace weir::group {

using protocol::ErrorCode;
using protocol::Uuid;
using runtime::Instant;
using std::chrono::milliseconds;

// A subscribed topic as the metadata image shows it.
struct TopicShape {
  Uuid id;
  int32_t partitions = 0;
  bool operator==(const TopicShape&) const = default;
};
// Topic name -> shape, for the topics some member subscribes to that exist.
using TopicImage = absl::btree_map<std::string, TopicShape>;

enum class ConsumerGroupState { empty, assigning, reconciling, stable };
// Kafka's names, as ConsumerGroupDescribe and ListGroups report them ("Reconciling").
const char* to_string(ConsumerGroupState state);

enum class MemberState { stable, unrevoked_partitions, unreleased_partitions };
const char* to_string(MemberState state);

enum class AssignorKind { uniform, range };
std::optional<AssignorKind> parse_assignor(std::string_view name);
const char* to_string(AssignorKind kind);

struct ConsumerGroupSettings {
  std::string group_id;
  int32_t coordinator_epoch = 0;                  // part of the ids the group makes
  int32_t max_size = 2147483647;                  // group.consumer.max.size
  milliseconds session_timeout{45000};            // group.consumer.session.timeout.ms
  milliseconds heartbeat_interval{5000};          // group.consumer.heartbeat.interval.ms
  AssignorKind default_assignor = AssignorKind::uniform;  // group.consumer.assignors' first
  // Test-only flaw the simulator plants (broker::GroupFlaws::assign_before_revoke): a
  // partition is given to its new owner while the old one still holds it.
  bool flaw_assign_before_revoke = false;
  // No assignment is computed before this. A coordinator that loaded a group's
  // committed offsets but no records of its state (written by a weir that did not
  // persist KIP-848 groups) sets it a session timeout after the load: members of the
  // previous coordinator may still hold partitions; within a session each either
  // heartbeats here (and is told to give everything up) or has been silent long enough
  // to count as gone.
  Instant assign_after{};  // the clock's zero: no wait
};

// A group made afresh starts its epochs at coordinator epoch × this, above any a group
// of that id made by an older coordinator reached (unless it bumped 65,536 times), so a
// stale member's epoch never matches a new one even if the old group's records were
// lost (an unclean election of __consumer_offsets). A restored group keeps its epochs.
inline constexpr int32_t kEpochsPerCoordinator = 1 << 16;

// A consumer group's records as a load replays them: the last value of each key.
struct StoredConsumerGroup {
  std::optional<ConsumerGroupMetadataValue> metadata;
  std::optional<ConsumerGroupPartitionMetadataValue> partition_metadata;
  std::optional<ConsumerGroupTargetMetadataValue> target_metadata;
  absl::btree_map<std::string, ConsumerGroupMemberMetadataValue> members;
  absl::btree_map<std::string, ConsumerGroupTargetMemberValue> targets;
  absl::btree_map<std::string, ConsumerGroupCurrentAssignmentValue> current;

  // Applies one record (nullopt: a tombstone). The value is of the key's type.
  void replay(const ConsumerGroupKey& key, const std::optional<RecordValue>& value);
  bool empty() const;
  // The records that hold this state, in key order.
  std::vector<OffsetsRecord> records(const std::string& group_id) const;
};

// Special member epochs of the request.
inline constexpr int32_t kJoinEpoch = 0;
inline constexpr int32_t kLeaveEpoch = -1;
inline constexpr int32_t kStaticLeaveEpoch = -2;

struct ConsumerHeartbeat {
  std::string member_id;  // "" on a v0 client's first heartbeat
  int32_t member_epoch = kJoinEpoch;
  std::string client_id;  // the request header's: the prefix of ids the group makes
  std::string client_host;
  std::optional<std::string> instance_id;
  std::optional<std::string> rack_id;
  int32_t rebalance_timeout_ms = -1;                               // -1: unchanged
  std::optional<std::vector<std::string>> subscribed_topic_names;  // null: unchanged
  std::optional<std::string> server_assignor;                      // null: unchanged
  std::optional<TopicPartitions> owned;                            // null: unchanged
};

struct ConsumerHeartbeatResult {
  ErrorCode error = ErrorCode::none;
  std::optional<std::string> error_message;
  std::string member_id;
  int32_t member_epoch = 0;
  int32_t heartbeat_interval_ms = 0;
  std::optional<TopicPartitions> assignment;  // present when the member should (re)read it
};

struct ConsumerMember {
  std::string member_id;
  std::optional<std::string> instance_id;
  std::optional<std::string> rack_id;
  std::string client_id;
  std::string client_host;
  int32_t member_epoch = 0;
  int32_t previous_member_epoch = -1;
  MemberState state = MemberState::stable;
  milliseconds rebalance_timeout{300000};
  std::vector<std::string> subscribed_topic_names;  // sorted, unique
  std::optional<AssignorKind> server_assignor;
  TopicPartitions assigned;             // the partitions the member may own now
  TopicPartitions pending_revocation;   // the ones it must give up before moving on
  Instant session_deadline = Instant::max();
  Instant revocation_deadline = Instant::max();  // set while unrevoked_partitions
};

class ConsumerGroup {
 public:
  explicit ConsumerGroup(ConsumerGroupSettings settings);
  // The group its records describe, every member's session (and a revoking member's
  // rebalance timeout) restarted at `now`; nullopt when the records contradict each
  // other (no group epoch, a partition held twice, epochs out of order).
  static std::optional<ConsumerGroup> restore(ConsumerGroupSettings settings,
                                              const StoredConsumerGroup& stored, Instant now);
  // The group's state as records (group metadata, partition metadata, target metadata,
  // then each member's metadata, target and current assignment).
  std::vector<OffsetsRecord> records() const;

  // One ConsumerGroupHeartbeat. `topics` holds every topic the group's members
  // (including this request's new subscription) subscribe to that exists.
  ConsumerHeartbeatResult heartbeat(const ConsumerHeartbeat& request, Instant now,
                                    const TopicImage& topics);
  // Removes members whose session expired or who did not revoke in time; returns their
  // ids.
  std::vector<std::string> tick(Instant now, const TopicImage& topics);
  Instant next_deadline() const;

  // The names of every topic a member subscribes to (what `topics` must cover).
  absl::btree_set<std::string> subscribed_topics() const;
  // Whether a commit by (member, epoch) may be applied: none, UNKNOWN_MEMBER_ID or
  // STALE_MEMBER_EPOCH. A simple commit (empty member id, epoch -1) only to an empty group.
  ErrorCode validate_offset_commit(const std::string& member_id, int32_t member_epoch) const;

  ConsumerGroupState state() const;
  int32_t group_epoch() const { return group_epoch_; }
  int32_t coordinator_epoch() const { return settings_.coordinator_epoch; }
  int32_t assignment_epoch() const { return assignment_epoch_; }
  AssignorKind assignor() const;
  const absl::btree_map<std::string, ConsumerMember>& members() const { return members_; }
  const absl::btree_map<std::string, TopicPartitions>& target() const { return target_; }
  bool empty() const { return members_.empty(); }

 private:
  ConsumerHeartbeatResult fail(ErrorCode error, std::string message) const;
  void remove_member(const std::string& member_id);
  void maybe_refresh_metadata(const TopicImage& topics);
  void maybe_compute_target(Instant now);
  // Moves a member along its reconciliation; true if what it may own changed.
  bool reconcile(ConsumerMember& member, const std::optional<TopicPartitions>& owned, Instant now);
  // Whether a member other than `member_id` holds or is revoking the partition.
  bool held_by_other(const std::string& member_id, const Uuid& topic, int32_t partition) const;
  // The first broken invariant, or "" when all hold.
  std::string broken_invariant() const;
  void check_invariants() const;

  ConsumerGroupSettings settings_;
  absl::btree_map<std::string, ConsumerMember> members_;
  absl::btree_map<std::string, std::string> static_members_;  // instance id -> member id
  int32_t group_epoch_;
  int32_t assignment_epoch_;
  absl::btree_map<std::string, TopicPartitions> target_;  // member id -> partitions
  TopicImage subscribed_metadata_;  // the image the target was computed against
  uint64_t next_member_ = 0;
};

// The server-side assignors, pure functions of their inputs (exposed for tests).
struct AssignorMember {
  std::vector<std::string> subscribed;  // topic names, sorted
  TopicPartitions current;              // its current target, for stickiness
};
absl::btree_map<std::string, TopicPartitions> assign(
    AssignorKind kind, const absl::btree_map<std::string, AssignorMember>& members,
    const TopicImage& topics);

}  // namespace weir::group
