#include "client/group_membership.h"

#include "base/assert.h"

namespace weir::client {

using protocol::ErrorCode;

GroupReaction group_reaction(ErrorCode code) {
  switch (code) {
    case ErrorCode::none: return GroupReaction::none;
    case ErrorCode::not_coordinator:
    case ErrorCode::coordinator_not_available:
    case ErrorCode::coordinator_load_in_progress: return GroupReaction::rediscover;
    case ErrorCode::rebalance_in_progress:
    case ErrorCode::illegal_generation:
    case ErrorCode::unknown_member_id: return GroupReaction::rejoin;
    case ErrorCode::member_id_required:
    case ErrorCode::unstable_offset_commit: return GroupReaction::retry;
    default: return GroupReaction::fatal;
  }
}

std::string_view member_phase_name(MemberPhase phase) {
  switch (phase) {
    case MemberPhase::unjoined: return "unjoined";
    case MemberPhase::joining: return "joining";
    case MemberPhase::syncing: return "syncing";
    case MemberPhase::stable: return "stable";
  }
  return "unknown";
}

Membership::Membership(MembershipTimeouts timeouts, bool static_member)
    : timeouts_(timeouts), static_member_(static_member) {
  VERIFY(timeouts.heartbeat_interval > runtime::Duration::zero());
  VERIFY(timeouts.heartbeat_interval < timeouts.session_timeout,
         "heartbeat.interval.ms must be lower than session.timeout.ms");
}

void Membership::check() const {
  if (phase_ == MemberPhase::stable) {
    VERIFY(!member_id_.empty(), "a stable member has an id");
    VERIFY(generation_ >= 0, "a stable member has a generation");
  }
}

void Membership::coordinator_found(int32_t node) {
  VERIFY(node >= 0);
  coordinator_ = node;
  check();
}

void Membership::coordinator_lost() {
  coordinator_.reset();
  // A JoinGroup or SyncGroup in flight died with the connection and starts over. A
  // stable member keeps its generation and assignment and heartbeats again once the
  // coordinator is found (Kafka's client does the same); if the session expired
  // meanwhile, that heartbeat says UNKNOWN_MEMBER_ID and the member rejoins.
  if (phase_ == MemberPhase::joining || phase_ == MemberPhase::syncing) {
    phase_ = MemberPhase::unjoined;
  }
  check();
}

void Membership::reset_generation() {
  generation_ = -1;
  leader_ = false;
  phase_ = MemberPhase::unjoined;
}

void Membership::join_sent() {
  VERIFY(coordinator_.has_value(), "JoinGroup goes to a known coordinator");
  phase_ = MemberPhase::joining;
  rejoin_requested_ = false;
}

GroupReaction Membership::on_join_response(ErrorCode error, const std::string& member_id,
                                           int32_t generation, const std::string& leader) {
  if (phase_ != MemberPhase::joining) return GroupReaction::none;  // stale
  const GroupReaction reaction = group_reaction(error);
  switch (error) {
    case ErrorCode::none:
      VERIFY(!member_id.empty(), "a successful JoinGroup names the member");
      member_id_ = member_id;
      generation_ = generation;
      leader_ = leader == member_id;
      phase_ = MemberPhase::syncing;
      break;
    case ErrorCode::member_id_required:
      // KIP-394: the coordinator made up our id; join again with it.
      member_id_ = member_id;
      phase_ = MemberPhase::unjoined;
      break;
    case ErrorCode::unknown_member_id:
      member_id_.clear();
      reset_generation();
      break;
    case ErrorCode::illegal_generation: reset_generation(); break;
    default:
      phase_ = MemberPhase::unjoined;
      if (reaction == GroupReaction::rediscover) coordinator_.reset();
      break;
  }
  check();
  return reaction;
}

void Membership::sync_sent() {
  VERIFY(phase_ == MemberPhase::syncing, "SyncGroup follows a successful JoinGroup");
  VERIFY(generation_ >= 0);
}

GroupReaction Membership::on_sync_response(ErrorCode error, runtime::Instant now) {
  if (phase_ != MemberPhase::syncing) return GroupReaction::none;  // stale
  const GroupReaction reaction = group_reaction(error);
  if (error == ErrorCode::none) {
    phase_ = MemberPhase::stable;
    last_heartbeat_sent_ = now;
    last_heartbeat_ok_ = now;
    last_poll_ = now;
  } else if (error == ErrorCode::unknown_member_id) {
    member_id_.clear();
    reset_generation();
  } else if (error == ErrorCode::illegal_generation) {
    reset_generation();
  } else {
    phase_ = MemberPhase::unjoined;
    if (reaction == GroupReaction::rediscover) coordinator_.reset();
  }
  check();
  return reaction;
}

void Membership::on_coordinator_call_failed() { coordinator_lost(); }

std::optional<runtime::Instant> Membership::heartbeat_due() const {
  if (phase_ != MemberPhase::stable || !coordinator_) return std::nullopt;
  return last_heartbeat_sent_ + timeouts_.heartbeat_interval;
}

void Membership::heartbeat_sent(runtime::Instant now) {
  VERIFY(phase_ == MemberPhase::stable);
  last_heartbeat_sent_ = now;
}

GroupReaction Membership::on_heartbeat_response(ErrorCode error, int32_t generation_sent,
                                                runtime::Instant now) {
  // Answers for an earlier generation say nothing about this one.
  if (generation_sent != generation_ || phase_ != MemberPhase::stable) return GroupReaction::none;
  const GroupReaction reaction = group_reaction(error);
  switch (error) {
    case ErrorCode::none: last_heartbeat_ok_ = now; break;
    case ErrorCode::rebalance_in_progress:
      // The generation stays valid until we rejoin: commits in PreparingRebalance pass.
      rejoin_requested_ = true;
      last_heartbeat_ok_ = now;
      break;
    case ErrorCode::unknown_member_id:
      member_id_.clear();
      reset_generation();
      break;
    case ErrorCode::illegal_generation: reset_generation(); break;
    default:
      if (reaction == GroupReaction::rediscover) {
        coordinator_lost();
      } else {
        // Retry at the next interval; a fatal one (fenced) is the driver's to raise.
        last_heartbeat_sent_ = now - timeouts_.heartbeat_interval + timeouts_.retry_backoff;
      }
      break;
  }
  check();
  return reaction;
}

bool Membership::session_expired(runtime::Instant now) const {
  return phase_ == MemberPhase::stable && now - last_heartbeat_ok_ > timeouts_.session_timeout;
}

bool Membership::poll_interval_exceeded(runtime::Instant now) const {
  return phase_ == MemberPhase::stable && now - last_poll_ > timeouts_.max_poll_interval;
}

GroupReaction Membership::on_commit_error(ErrorCode error) {
  const GroupReaction reaction = group_reaction(error);
  if (error == ErrorCode::unknown_member_id) {
    member_id_.clear();
    reset_generation();
  } else if (error == ErrorCode::illegal_generation) {
    reset_generation();
  } else if (error == ErrorCode::rebalance_in_progress) {
    rejoin_requested_ = true;
  } else if (reaction == GroupReaction::rediscover) {
    coordinator_lost();
  }
  check();
  return reaction;
}

void Membership::left() {
  if (!static_member_) member_id_.clear();
  reset_generation();
  check();
}

}  // namespace weir::client
