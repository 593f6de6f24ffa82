// ClassicGroup: one consumer group of Kafka's classic rebalance protocol (JoinGroup,
// SyncGroup, Heartbeat, LeaveGroup) as a deterministic state machine (STYLE.md:
// protocols as state machines, fibers at the edges). No I/O, no clock, no randomness:
// the driver hands in each request with an opaque Token and the time, and performs the
// Effects that come back — replies to deliver, records to append to __consumer_offsets
// — then calls tick() at Effects::next_deadline.
//
// The rules are Kafka 4.x's GroupMetadataManager / ClassicGroup (KIP-62 rebalance
// timeouts, KIP-134 initial rebalance delay, KIP-345 static membership, KIP-394
// MEMBER_ID_REQUIRED, KIP-389 group.max.size, the pending-sync timeout of KAFKA-13350).
//
// Deferred answers: a JoinGroup is parked until the join phase completes; the leader's
// SyncGroup and the followers' are answered once the group's assignment record is
// durable. Such waits appear as a PersistRequest in Effects; the driver appends the
// record and reports on_persisted(id) or on_persist_failed(id), and the replies gated on
// it come out of that call. Only the latest state counts: an outcome that arrives after
// the group moved on (another rebalance, an unload) releases nothing stale.
//
// Member ids are deterministic: `<client id or group instance id>-<coordinator epoch as
// 8 hex digits>-<a per-group counter as 16 hex digits>`, in place of Kafka's
// `<client id>-<random UUID>`. The coordinator epoch (the leader epoch of the
// __consumer_offsets partition at load) is new at every load, so a coordinator that
// replayed the group never hands out an id a previous one gave; the counter makes ids
// unique within one load; the fixed-width suffix makes the prefix unambiguous.
//
// Invariants (checked after every step):
//  - Every token handed in is answered exactly once; the tokens not yet answered are
//    exactly those parked on members (awaiting join or sync).
//  - Empty and Dead groups have no members; a group with members has a leader among them.
//  - CompletingRebalance and Stable have a selected protocol that every member supports.
//  - No iteration over a hash container: members, static members and protocols are
//    ordered maps, so the leader and protocol choices are the same on every run.
#pragma once

#include <chrono>
#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include <absl/container/btree_map.h>
#include <absl/container/btree_set.h>

#include "group/records.h"
#include "group/types.h"
#include "protocol/errors.h"
#include "runtime/clock.h"

namespace weir::group {

using protocol::ErrorCode;
using runtime::Instant;
using std::chrono::milliseconds;

enum class GroupState { empty, preparing_rebalance, completing_rebalance, stable, dead };
// Kafka's names, as DescribeGroups and ListGroups report them ("PreparingRebalance").
const char* to_string(GroupState state);

struct GroupSettings {
  std::string group_id;
  // The leader epoch of the __consumer_offsets partition this coordinator loaded the
  // group in: part of every member id (see above). Must differ between loads.
  int32_t coordinator_epoch = 0;
  int32_t max_size = std::numeric_limits<int32_t>::max();  // group.max.size
  milliseconds initial_rebalance_delay{3000};              // group.initial.rebalance.delay.ms
  milliseconds min_session_timeout{6000};                  // group.min.session.timeout.ms
  milliseconds max_session_timeout{1800000};               // group.max.session.timeout.ms
  // How long a new member's parked JoinGroup may wait (Kafka's fixed 5 minutes): it
  // cannot heartbeat without its id, so its session timeout cannot expire it.
  milliseconds new_member_join_timeout{300000};
  // Test-only flaws the simulator plants (broker::GroupFlaws says what each breaks).
  bool flaw_same_generation = false;
  bool flaw_commit_any_generation = false;
};

// --- Requests and responses (the wire mapping belongs to the broker) ----------------------

struct Protocol {
  std::string name;
  Bytes metadata;
  bool operator==(const Protocol&) const = default;
};

struct JoinRequest {
  int16_t api_version = 9;  // 4+ requires a known member id, 9+ may skip assignment
  std::string member_id;    // "" for a member new to the group
  std::optional<std::string> group_instance_id;  // KIP-345 static membership
  std::string client_id;
  std::string client_host;
  int32_t session_timeout_ms = 10000;
  int32_t rebalance_timeout_ms = -1;  // -1 (v0): the session timeout
  std::string protocol_type;
  std::vector<Protocol> protocols;  // in the member's order of preference
};
struct JoinMember {
  std::string member_id;
  std::optional<std::string> group_instance_id;
  Bytes metadata;
  bool operator==(const JoinMember&) const = default;
};
struct JoinResponse {
  ErrorCode error = ErrorCode::none;
  GenerationId generation = kNoGeneration;
  std::optional<std::string> protocol_type;
  std::optional<std::string> protocol_name;
  std::string leader;
  bool skip_assignment = false;
  std::string member_id;
  std::vector<JoinMember> members;  // the leader's only
};

struct SyncAssignment {
  std::string member_id;
  Bytes assignment;
};
struct SyncRequest {
  GenerationId generation = kNoGeneration;
  std::string member_id;
  std::optional<std::string> group_instance_id;
  std::optional<std::string> protocol_type;  // v5+
  std::optional<std::string> protocol_name;  // v5+
  std::vector<SyncAssignment> assignments;   // the leader's only
};
struct SyncResponse {
  ErrorCode error = ErrorCode::none;
  std::optional<std::string> protocol_type;
  std::optional<std::string> protocol_name;
  Bytes assignment;
};

struct HeartbeatRequest {
  GenerationId generation = kNoGeneration;
  std::string member_id;
  std::optional<std::string> group_instance_id;
};
struct HeartbeatResponse {
  ErrorCode error = ErrorCode::none;
};

struct LeaveMember {
  std::string member_id;  // "" with a group instance id: an administrative removal
  std::optional<std::string> group_instance_id;
};
struct LeaveRequest {
  std::vector<LeaveMember> members;  // v0-2 carry one
};
struct LeaveMemberResult {
  std::string member_id;
  std::optional<std::string> group_instance_id;
  ErrorCode error = ErrorCode::none;
};
struct LeaveResponse {
  ErrorCode error = ErrorCode::none;  // the group's; v0-2 report the first member's instead
  std::vector<LeaveMemberResult> members;
};

// The identity an OffsetCommit (or TxnOffsetCommit) carries.
struct CommitIdentity {
  GenerationId generation = kNoGeneration;
  std::string member_id;
  std::optional<std::string> group_instance_id;
  bool transactional = false;
};

// --- Effects --------------------------------------------------------------------------

using Response = std::variant<JoinResponse, SyncResponse, HeartbeatResponse, LeaveResponse>;
struct Reply {
  Token token;
  Response response;
};
// Append `record` to __consumer_offsets and report the outcome under `id`.
struct PersistRequest {
  PersistId id;
  OffsetsRecord record;
};
struct Effects {
  std::vector<Reply> replies;
  std::vector<PersistRequest> persists;
  Instant next_deadline = Instant::max();  // call tick() then
};

// Why an append failed, as the driver can tell (Kafka's
// appendGroupMetadataErrorToResponseError maps these to the codes clients retry on).
enum class PersistFailure {
  unavailable,      // not enough replicas, timed out: COORDINATOR_NOT_AVAILABLE
  not_coordinator,  // the partition moved or its disk failed: NOT_COORDINATOR
  too_large,        // the record is too large: UNKNOWN_SERVER_ERROR
};
ErrorCode to_error_code(PersistFailure failure);

// When a group's committed offsets may expire (Kafka's offsetExpirationCondition).
struct OffsetExpiry {
  // Set: every offset expires retention after this instant (the group has been Empty
  // since then). Unset: each offset expires retention after its own commit.
  std::optional<int64_t> base_timestamp_ms;
};

// A member as the group keeps it.
struct Member {
  std::string member_id;
  std::optional<std::string> group_instance_id;
  std::string client_id;
  std::string client_host;
  milliseconds rebalance_timeout{0};
  milliseconds session_timeout{0};
  std::string protocol_type;
  std::vector<Protocol> protocols;
  Bytes assignment;
  std::optional<Token> join_token;  // a parked JoinGroup
  std::optional<Token> sync_token;  // a parked SyncGroup
  int16_t join_api_version = 0;     // of the parked JoinGroup
  // Joined in the current rebalance and not yet told its id: its parked JoinGroup
  // expires after new_member_join_timeout even while the group waits for it.
  bool is_new = false;
  Instant session_deadline = Instant::max();  // max: no heartbeat expected now
};

class ClassicGroup {
 public:
  // A group no one has joined yet (Empty, generation 0).
  ClassicGroup(GroupSettings settings, Now now);
  // The group as its last GroupMetadataValue describes it: Empty without members, else
  // Stable with every member's session started now (what a newly elected coordinator
  // does on load). A value with members but no protocol (never written by Kafka or
  // weir) restores as Empty.
  static ClassicGroup restore(GroupSettings settings, const GroupMetadataValue& value, Now now);

  // --- Requests: each is answered, now or later, by a Reply carrying its token. --------
  Effects join(const JoinRequest& request, Token token, Now now);
  Effects sync(const SyncRequest& request, Token token, Now now);
  Effects heartbeat(const HeartbeatRequest& request, Token token, Now now);
  Effects leave(const LeaveRequest& request, Token token, Now now);

  // --- Time and persistence ----------------------------------------------------------
  // Session timeouts, the join phase's deadlines (initial delay, rebalance timeout) and
  // the pending-sync timeout.
  Effects tick(Now now);
  Effects on_persisted(PersistId id, Now now);
  Effects on_persist_failed(PersistId id, PersistFailure failure, Now now);
  // This node stopped coordinating the group (its __consumer_offsets partition moved):
  // every parked request is answered NOT_COORDINATOR and the group is Dead.
  Effects unload(Now now);

  // --- Offsets ------------------------------------------------------------------------
  // Whether an offset commit with this identity may proceed (Kafka's
  // ClassicGroup.validateOffsetCommit). A commit is not a heartbeat.
  ErrorCode validate_offset_commit(const CommitIdentity& identity) const;
  // nullopt: the group's offsets do not expire now (it has members).
  std::optional<OffsetExpiry> offset_expiry() const;

  // --- State --------------------------------------------------------------------------
  const std::string& group_id() const { return settings_.group_id; }
  GroupState state() const { return state_; }
  GenerationId generation() const { return generation_; }
  const std::optional<std::string>& protocol_type() const { return protocol_type_; }
  const std::optional<std::string>& protocol_name() const { return protocol_name_; }
  const std::optional<std::string>& leader() const { return leader_; }
  const absl::btree_map<std::string, Member>& members() const { return members_; }
  const Member* member(const std::string& member_id) const;
  bool is_pending_member(const std::string& member_id) const {
    return pending_members_.contains(member_id);
  }
  std::optional<int64_t> current_state_timestamp_ms() const { return state_since_ms_; }
  // The group as a GroupMetadataValue with each member's current assignment.
  GroupMetadataValue to_record_value() const;
  Instant next_deadline() const;

 private:
  struct SyncPersist {
    GenerationId generation;
    absl::btree_map<std::string, Bytes> assignment;
  };
  // A static member that rejoined a Stable group under a new member id, its protocol
  // unchanged: its JoinGroup is answered once the replacement is durable, and undone
  // if the append fails.
  struct StaticJoinPersist {
    std::string group_instance_id;
    std::string old_member_id;
    std::string new_member_id;
    Token token;
    std::optional<std::string> leader_before;
    std::vector<Protocol> old_protocols;
    milliseconds old_rebalance_timeout{0};
    milliseconds old_session_timeout{0};
  };
  using Continuation = std::variant<std::monostate, SyncPersist, StaticJoinPersist>;

  // Step framing: records the time, collects effects, checks invariants at the end.
  void begin(Now now);
  Effects finish();
  void accept(Token token);
  void reply(Token token, Response response);
  void reply_join_error(Token token, ErrorCode error, const std::string& member_id);
  // Answers `member`'s parked JoinGroup (naming `join_member_id`) and SyncGroup, if
  // any, with `error`; it then has none parked.
  void answer_parked(Member& member, ErrorCode error, const std::string& join_member_id);
  PersistId persist(std::optional<GroupMetadataValue> value, Continuation continuation);

  void transition_to(GroupState state);
  bool can_rebalance() const;
  ErrorCode validate_member(const std::string& member_id,
                            const std::optional<std::string>& group_instance_id) const;
  bool accept_joining_member(const std::string& member_id) const;
  bool supports_protocols(const std::string& protocol_type,
                          const std::vector<Protocol>& protocols) const;
  std::string generate_member_id(const std::string& prefix);

  void join_new_member(const JoinRequest& request, Token token);
  void join_existing_member(const JoinRequest& request, Token token);
  void add_member_then_rebalance(const JoinRequest& request, Token token,
                                 const std::string& member_id);
  void update_member_then_rebalance(Member& member, const JoinRequest& request, Token token);
  void update_static_member_then_rebalance(const JoinRequest& request, Token token,
                                           const std::string& old_member_id,
                                           const std::string& new_member_id);

  // Membership changes; remove_member answers the member's parked requests.
  void add_member(Member member);
  void update_member(Member& member, const std::vector<Protocol>& protocols,
                     milliseconds rebalance_timeout, milliseconds session_timeout,
                     std::optional<Token> join_token, int16_t api_version);
  void remove_member(const std::string& member_id, ErrorCode parked_error);
  Member& replace_static_member(const std::string& group_instance_id,
                                const std::string& old_member_id, const std::string& new_member_id);
  void reschedule_session(Member& member, milliseconds timeout);
  void reschedule_session(Member& member) { reschedule_session(member, member.session_timeout); }

  // The rebalance.
  void maybe_prepare_rebalance_or_complete_join();
  void prepare_rebalance();
  void maybe_complete_join_else_schedule();
  void maybe_complete_join_phase();
  void complete_join();
  void on_initial_delay_expired();
  bool maybe_elect_new_joined_leader();
  void init_next_generation();
  std::string select_protocol() const;
  bool has_all_members_joined() const;
  milliseconds rebalance_timeout() const;
  std::vector<JoinMember> current_members() const;
  JoinResponse join_success(const Member& member, bool with_members) const;
  void propagate_assignment(ErrorCode error);
  void reset_and_propagate_assignment_with_error(ErrorCode error);
  void set_and_propagate_assignment(const absl::btree_map<std::string, Bytes>& assignment);
  void remove_member_and_update_group(const std::string& member_id);

  // Timers.
  void on_session_expired(const std::string& member_id);
  void on_pending_member_expired(const std::string& member_id);
  void on_pending_sync_expired();

  void on_sync_persisted(const SyncPersist& persist, std::optional<PersistFailure> failure);
  void on_static_join_persisted(const StaticJoinPersist& persist,
                                std::optional<PersistFailure> failure);
  GroupMetadataValue record_value(const absl::btree_map<std::string, Bytes>* assignment) const;
  void check_invariants() const;

  GroupSettings settings_;
  GroupState state_ = GroupState::empty;
  std::optional<GroupState> previous_state_;
  std::optional<int64_t> state_since_ms_;
  GenerationId generation_{0};
  std::optional<std::string> protocol_type_;
  std::optional<std::string> protocol_name_;
  std::optional<std::string> leader_;
  absl::btree_map<std::string, Member> members_;
  absl::btree_map<std::string, std::string> static_members_;   // instance id -> member id
  absl::btree_map<std::string, int32_t> supported_protocols_;  // name -> members offering it
  // KIP-394: ids handed out with MEMBER_ID_REQUIRED, awaiting the member's rejoin.
  absl::btree_map<std::string, Instant> pending_members_;
  // Members of the new generation that have not sent SyncGroup yet.
  absl::btree_set<std::string> pending_sync_;
  uint64_t member_id_counter_ = 0;

  // The join phase's timer: the initial delay of an Empty group's first rebalance
  // (extended while members keep arriving, up to the rebalance timeout), else the
  // rebalance timeout.
  enum class JoinTimer { none, initial_delay, rebalance };
  JoinTimer join_timer_ = JoinTimer::none;
  Instant join_deadline_ = Instant::max();
  milliseconds initial_delay_{0};
  milliseconds initial_remaining_{0};
  bool new_member_added_ = false;
  // The pending-sync timer of generation sync_generation_.
  Instant sync_deadline_ = Instant::max();
  GenerationId sync_generation_ = kNoGeneration;

  uint64_t next_persist_id_ = 1;
  absl::btree_map<PersistId, Continuation> persists_;
  absl::btree_set<Token> outstanding_;

  // The step in progress.
  Now now_{};
  Effects effects_;
};

}  // namespace weir::group
