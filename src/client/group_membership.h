// Membership: the pure core of one classic-group member (Kafka's AbstractCoordinator
// without its I/O). It holds the member id, generation, coordinator and phase, and the
// timers of the heartbeat and of max.poll.interval; the GroupConsumer's fibers send the
// requests and feed every answer back in, and the state machine says what changed.
// No clock, no I/O: time comes in as arguments, so unit tests drive it exactly.
//
// Invariants:
//  - `stable` implies a member id and a generation >= 0 (the coordinator may be
//    unknown for a while: the member keeps its assignment and finds it again).
//  - An answer for a generation other than the current one changes nothing (a heartbeat
//    that was in flight while the member rejoined).
//  - UNKNOWN_MEMBER_ID forgets the member id (the next JoinGroup comes in as new);
//    ILLEGAL_GENERATION forgets the generation only; REBALANCE_IN_PROGRESS keeps both.
//  - NOT_COORDINATOR, COORDINATOR_NOT_AVAILABLE and a lost connection forget the
//    coordinator and nothing else: the member finds it again and carries on.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "protocol/errors.h"
#include "runtime/clock.h"

namespace weir::client {

// What an error answer from the coordinator means for a member.
enum class GroupReaction : uint8_t {
  none,        // success
  retry,       // send the same request again (after a backoff when the answer says so)
  rejoin,      // the group is rebalancing: join again with the same member id
  rediscover,  // the coordinator moved, is loading, or is gone: find it, then retry
  fatal,       // the caller must see it: fenced, misconfigured, not authorized
};
GroupReaction group_reaction(protocol::ErrorCode code);

enum class MemberPhase : uint8_t {
  unjoined,  // no generation; must JoinGroup
  joining,   // a JoinGroup is out
  syncing,   // joined; a SyncGroup is out
  stable,    // has an assignment for the current generation; heartbeats
};
std::string_view member_phase_name(MemberPhase phase);

struct MembershipTimeouts {
  runtime::Duration session_timeout;     // session.timeout.ms
  runtime::Duration heartbeat_interval;  // heartbeat.interval.ms
  runtime::Duration max_poll_interval;   // max.poll.interval.ms (the rebalance timeout)
  runtime::Duration retry_backoff;       // retry.backoff.ms
};

class Membership {
 public:
  Membership(MembershipTimeouts timeouts, bool static_member);

  MemberPhase phase() const { return phase_; }
  const std::string& member_id() const { return member_id_; }
  int32_t generation() const { return generation_; }
  std::optional<int32_t> coordinator() const { return coordinator_; }
  // The member must (re)join before it has a valid assignment again.
  bool needs_join() const { return phase_ != MemberPhase::stable || rejoin_requested_; }
  bool is_leader() const { return leader_; }
  // Whether offsets can be committed under the current generation: also true while a
  // rebalance is requested but not started (eager: commit before rejoining).
  bool can_commit() const { return generation_ >= 0 && !member_id_.empty(); }

  void coordinator_found(int32_t node);
  void coordinator_lost();
  // The member wants to rejoin (a new subscription, or the group rebalances).
  void request_rejoin() { rejoin_requested_ = true; }

  void join_sent();
  // JoinGroup's answer. MEMBER_ID_REQUIRED (KIP-394) adopts the id and says retry.
  GroupReaction on_join_response(protocol::ErrorCode error, const std::string& member_id,
                                 int32_t generation, const std::string& leader);
  void sync_sent();
  GroupReaction on_sync_response(protocol::ErrorCode error, runtime::Instant now);
  // A request failed without an answer (disconnect, timeout): the coordinator is lost,
  // and a JoinGroup or SyncGroup in flight must start over.
  void on_coordinator_call_failed();

  // The next heartbeat's time while stable; nullopt otherwise.
  std::optional<runtime::Instant> heartbeat_due() const;
  void heartbeat_sent(runtime::Instant now);
  GroupReaction on_heartbeat_response(protocol::ErrorCode error, int32_t generation_sent,
                                      runtime::Instant now);
  // No successful heartbeat within the session timeout: the coordinator has surely
  // dropped us; Kafka's client then treats the coordinator as unknown.
  bool session_expired(runtime::Instant now) const;

  // The application called poll: max.poll.interval starts again.
  void polled(runtime::Instant now) { last_poll_ = now; }
  // The application has not polled within max.poll.interval while stable: the member
  // should leave the group so the others need not wait for it (Kafka's heartbeat thread
  // does the same), and rejoin at its next poll.
  bool poll_interval_exceeded(runtime::Instant now) const;

  // An OffsetCommit's (first) error; rejoin-kind errors request a rejoin.
  GroupReaction on_commit_error(protocol::ErrorCode error);
  // LeaveGroup sent (close, poll timeout): a dynamic member forgets its id; a static
  // one keeps its instance and id.
  void left();

 private:
  void reset_generation();
  void check() const;

  MembershipTimeouts timeouts_;
  bool static_member_;
  MemberPhase phase_ = MemberPhase::unjoined;
  std::string member_id_;
  int32_t generation_ = -1;
  bool leader_ = false;
  bool rejoin_requested_ = false;
  std::optional<int32_t> coordinator_;
  runtime::Instant last_heartbeat_sent_{};
  runtime::Instant last_heartbeat_ok_{};
  runtime::Instant last_poll_{};
};

}  // namespace weir::client
