// ClassicGroup: the classic rebalance protocol's rules. Each function names the Kafka
// GroupMetadataManager / ClassicGroup method it follows where one exists; deviations
// are commented where they are made.
#include "group/classic_group.h"

#include <algorithm>
#include <utility>

#include <fmt/format.h>

#include "base/assert.h"

namespace weir::group {

const char* to_string(GroupState state) {
  switch (state) {
    case GroupState::empty: return "Empty";
    case GroupState::preparing_rebalance: return "PreparingRebalance";
    case GroupState::completing_rebalance: return "CompletingRebalance";
    case GroupState::stable: return "Stable";
    case GroupState::dead: return "Dead";
  }
  return "Unknown";
}

ErrorCode to_error_code(PersistFailure failure) {
  switch (failure) {
    case PersistFailure::unavailable: return ErrorCode::coordinator_not_available;
    case PersistFailure::not_coordinator: return ErrorCode::not_coordinator;
    case PersistFailure::too_large: return ErrorCode::unknown_server_error;
  }
  UNREACHABLE("PersistFailure {}", static_cast<int>(failure));
}

ClassicGroup::ClassicGroup(GroupSettings settings, Now now) : settings_(std::move(settings)) {
  VERIFY(!settings_.group_id.empty(), "a group has an id");
  VERIFY(settings_.max_size > 0, "group.max.size {}", settings_.max_size);
  VERIFY(settings_.min_session_timeout > milliseconds(0), "a session lasts");
  VERIFY(settings_.min_session_timeout <= settings_.max_session_timeout,
         "the session timeout range is not empty");
  state_since_ms_ = now.wall.milliseconds;
  now_ = now;
}

ClassicGroup ClassicGroup::restore(GroupSettings settings, const GroupMetadataValue& value,
                                   Now now) {
  ClassicGroup group(std::move(settings), now);
  group.begin(now);
  if (!value.protocol_type.empty()) group.protocol_type_ = value.protocol_type;
  group.generation_ = value.generation;
  group.state_since_ms_ = value.current_state_timestamp_ms >= 0
                              ? std::optional<int64_t>(value.current_state_timestamp_ms)
                              : std::nullopt;
  if (value.protocol && !value.members.empty()) {
    group.protocol_name_ = value.protocol;
    for (const GroupMemberMetadata& record : value.members) {
      if (group.members_.contains(record.member_id)) continue;  // a malformed record
      Member member;
      member.member_id = record.member_id;
      member.group_instance_id = record.group_instance_id;
      if (member.group_instance_id && group.static_members_.contains(*member.group_instance_id)) {
        member.group_instance_id.reset();  // a malformed record: two members, one instance
      }
      member.client_id = record.client_id;
      member.client_host = record.client_host;
      member.rebalance_timeout = milliseconds(record.rebalance_timeout_ms);
      member.session_timeout = milliseconds(record.session_timeout_ms);
      member.protocol_type = value.protocol_type;
      member.protocols = {Protocol{*value.protocol, record.subscription}};
      member.assignment = record.assignment;
      group.add_member(std::move(member));
    }
    if (value.leader && group.members_.contains(*value.leader)) group.leader_ = value.leader;
    for (auto& [id, member] : group.members_) group.reschedule_session(member);
    group.state_ = GroupState::stable;
  }
  Effects effects = group.finish();
  VERIFY(effects.replies.empty(), "restoring answers nothing");
  VERIFY(effects.persists.empty(), "restoring appends nothing");
  return group;
}

// --- Step framing -----------------------------------------------------------------------

void ClassicGroup::begin(Now now) {
  VERIFY(effects_.replies.empty(), "a step began inside another");
  VERIFY(effects_.persists.empty(), "a step began inside another");
  now_ = now;
}

Effects ClassicGroup::finish() {
  effects_.next_deadline = next_deadline();
  check_invariants();
  Effects effects = std::move(effects_);
  effects_ = Effects{};
  return effects;
}

void ClassicGroup::accept(Token token) {
  const bool inserted = outstanding_.insert(token).second;
  VERIFY(inserted, "token {} is already waiting for an answer", token);
}

void ClassicGroup::reply(Token token, Response response) {
  const size_t erased = outstanding_.erase(token);
  VERIFY(erased == 1, "token {} answered twice or never handed in", token);
  effects_.replies.push_back(Reply{token, std::move(response)});
}

void ClassicGroup::reply_join_error(Token token, ErrorCode error, const std::string& member_id) {
  VERIFY(error != ErrorCode::none, "an error reply carries an error");
  JoinResponse response;
  response.error = error;
  response.member_id = member_id;
  reply(token, std::move(response));
}

PersistId ClassicGroup::persist(std::optional<GroupMetadataValue> value,
                                Continuation continuation) {
  const PersistId id(next_persist_id_++);
  OffsetsRecord record{GroupMetadataKey{settings_.group_id}, std::nullopt};
  if (value) record.value = RecordValue(std::move(*value));
  effects_.persists.push_back(PersistRequest{id, std::move(record)});
  persists_.emplace(id, std::move(continuation));
  return id;
}

void ClassicGroup::transition_to(GroupState state) {
  // Kafka's ClassicGroupState.validPreviousStates.
  switch (state) {
    case GroupState::preparing_rebalance:
      VERIFY(state_ == GroupState::stable || state_ == GroupState::completing_rebalance ||
                 state_ == GroupState::empty,
             "PreparingRebalance from {}", to_string(state_));
      break;
    case GroupState::completing_rebalance:
    case GroupState::empty:
      VERIFY(state_ == GroupState::preparing_rebalance, "{} from {}", to_string(state),
             to_string(state_));
      break;
    case GroupState::stable:
      VERIFY(state_ == GroupState::completing_rebalance, "Stable from {}", to_string(state_));
      break;
    case GroupState::dead: break;
  }
  previous_state_ = state_;
  state_ = state;
  state_since_ms_ = now_.wall.milliseconds;
}

bool ClassicGroup::can_rebalance() const {
  return state_ == GroupState::stable || state_ == GroupState::completing_rebalance ||
         state_ == GroupState::empty;
}

const Member* ClassicGroup::member(const std::string& member_id) const {
  auto it = members_.find(member_id);
  return it == members_.end() ? nullptr : &it->second;
}

// ClassicGroup.validateMember: a static member is known by its instance id, and a
// request from the instance under another member id is from a fenced incarnation.
ErrorCode ClassicGroup::validate_member(const std::string& member_id,
                                        const std::optional<std::string>& instance_id) const {
  if (instance_id) {
    auto it = static_members_.find(*instance_id);
    if (it == static_members_.end()) return ErrorCode::unknown_member_id;
    if (it->second != member_id) return ErrorCode::fenced_instance_id;
    return ErrorCode::none;
  }
  return members_.contains(member_id) ? ErrorCode::none : ErrorCode::unknown_member_id;
}

// GroupMetadataManager.acceptJoiningMember (KIP-389). While preparing, awaiting members
// are counted rather than members, so that a lowered group.max.size sheds the last
// members to rejoin.
bool ClassicGroup::accept_joining_member(const std::string& member_id) const {
  switch (state_) {
    case GroupState::empty:
    case GroupState::dead: return true;
    case GroupState::preparing_rebalance: {
      auto it = members_.find(member_id);
      if (it != members_.end() && it->second.join_token) return true;
      const auto awaiting = std::count_if(members_.begin(), members_.end(), [](const auto& entry) {
        return entry.second.join_token.has_value();
      });
      return awaiting < settings_.max_size;
    }
    case GroupState::completing_rebalance:
    case GroupState::stable:
      return members_.contains(member_id) ||
             static_cast<int64_t>(members_.size()) < settings_.max_size;
  }
  return false;
}

// ClassicGroup.supportsProtocols: an Empty group takes any non-empty offer; otherwise
// the protocol type must match and one offered protocol be supported by every member.
bool ClassicGroup::supports_protocols(const std::string& protocol_type,
                                      const std::vector<Protocol>& protocols) const {
  if (state_ == GroupState::empty) return !protocol_type.empty() && !protocols.empty();
  if (!protocol_type_ || *protocol_type_ != protocol_type) return false;
  // Kafka counts a protocol no member names as supported by 0 members: a group left
  // without members while it rebalances (PreparingRebalance, waiting out the join
  // phase) takes any protocol, or every joiner is refused until the phase ends — and
  // a joiner holding a pending member id retries into it forever (groups seed 120).
  return std::any_of(protocols.begin(), protocols.end(), [&](const Protocol& protocol) {
    auto it = supported_protocols_.find(protocol.name);
    const int32_t supporters = it == supported_protocols_.end() ? 0 : it->second;
    return supporters == static_cast<int32_t>(members_.size());
  });
}

std::string ClassicGroup::generate_member_id(const std::string& prefix) {
  const std::string id =
      fmt::format("{}-{:08x}-{:016x}", prefix, static_cast<uint32_t>(settings_.coordinator_epoch),
                  member_id_counter_++);
  VERIFY(!members_.contains(id), "member id {} generated twice", id);
  VERIFY(!pending_members_.contains(id), "member id {} generated twice", id);
  return id;
}

// --- JoinGroup --------------------------------------------------------------------------

Effects ClassicGroup::join(const JoinRequest& request, Token token, Now now) {
  begin(now);
  accept(token);
  const milliseconds session_timeout(request.session_timeout_ms);
  if (session_timeout < settings_.min_session_timeout ||
      session_timeout > settings_.max_session_timeout) {
    reply_join_error(token, ErrorCode::invalid_session_timeout, request.member_id);
  } else if (state_ == GroupState::dead) {
    // The group was unloaded or deleted: the client finds the coordinator again.
    reply_join_error(token, ErrorCode::coordinator_not_available, request.member_id);
  } else if (!accept_joining_member(request.member_id)) {
    if (members_.contains(request.member_id)) {
      remove_member(request.member_id, ErrorCode::group_max_size_reached);
    }
    reply_join_error(token, ErrorCode::group_max_size_reached, request.member_id);
  } else if (request.member_id.empty()) {
    join_new_member(request, token);
  } else {
    join_existing_member(request, token);
  }
  return finish();
}

// classicGroupJoinNewMember, with its static and dynamic halves.
void ClassicGroup::join_new_member(const JoinRequest& request, Token token) {
  if (!supports_protocols(request.protocol_type, request.protocols)) {
    reply_join_error(token, ErrorCode::inconsistent_group_protocol, request.member_id);
    return;
  }
  const std::string new_member_id =
      generate_member_id(request.group_instance_id.value_or(request.client_id));
  if (request.group_instance_id) {
    auto existing = static_members_.find(*request.group_instance_id);
    if (existing != static_members_.end()) {
      const std::string old_member_id = existing->second;
      update_static_member_then_rebalance(request, token, old_member_id, new_member_id);
    } else {
      add_member_then_rebalance(request, token, new_member_id);
    }
  } else if (request.api_version >= 4) {
    // KIP-394: the member learns its id first and joins with it, so a client that times
    // out and retries does not leave a defunct member behind for the rebalance to wait on.
    pending_members_[new_member_id] = now_.monotonic + milliseconds(request.session_timeout_ms);
    reply_join_error(token, ErrorCode::member_id_required, new_member_id);
  } else {
    add_member_then_rebalance(request, token, new_member_id);
  }
}

// classicGroupJoinExistingMember.
void ClassicGroup::join_existing_member(const JoinRequest& request, Token token) {
  const std::string& member_id = request.member_id;
  if (!supports_protocols(request.protocol_type, request.protocols)) {
    reply_join_error(token, ErrorCode::inconsistent_group_protocol, member_id);
    return;
  }
  if (pending_members_.contains(member_id)) {
    if (request.group_instance_id) {
      // Pending ids go to dynamic members only; Kafka fails such a request with an
      // IllegalStateException, which clients see as UNKNOWN_SERVER_ERROR.
      reply_join_error(token, ErrorCode::unknown_server_error, member_id);
      return;
    }
    add_member_then_rebalance(request, token, member_id);
    return;
  }
  const ErrorCode error = validate_member(member_id, request.group_instance_id);
  if (error != ErrorCode::none) {
    reply_join_error(token, error, member_id);
    return;
  }
  Member& member = members_.at(member_id);
  switch (state_) {
    case GroupState::preparing_rebalance:
      update_member_then_rebalance(member, request, token);
      return;
    case GroupState::completing_rebalance:
      if (member.protocols == request.protocols) {
        // The member lost the JoinGroup answer: repeat it for the current generation.
        reply(token, join_success(member, leader_ == member_id));
      } else {
        update_member_then_rebalance(member, request, token);
      }
      return;
    case GroupState::stable:
      // The leader rejoining forces a rebalance: that is how it reacts to changes the
      // members' metadata does not show (a topic gained partitions).
      if (leader_ == member_id || member.protocols != request.protocols) {
        update_member_then_rebalance(member, request, token);
      } else {
        reply(token, join_success(member, false));
      }
      return;
    case GroupState::empty:
    case GroupState::dead: break;
  }
  reply_join_error(token, ErrorCode::unknown_member_id, member_id);
}

void ClassicGroup::add_member_then_rebalance(const JoinRequest& request, Token token,
                                             const std::string& member_id) {
  Member member;
  member.member_id = member_id;
  member.group_instance_id = request.group_instance_id;
  member.client_id = request.client_id;
  member.client_host = request.client_host;
  member.session_timeout = milliseconds(request.session_timeout_ms);
  member.rebalance_timeout = request.rebalance_timeout_ms >= 0
                                 ? milliseconds(request.rebalance_timeout_ms)
                                 : member.session_timeout;
  member.protocol_type = request.protocol_type;
  member.protocols = request.protocols;
  member.join_token = token;
  member.join_api_version = request.api_version;
  member.is_new = true;
  // A member arriving during an Empty group's initial delay extends it.
  if (state_ == GroupState::preparing_rebalance && previous_state_ == GroupState::empty) {
    new_member_added_ = true;
  }
  add_member(std::move(member));
  reschedule_session(members_.at(member_id), settings_.new_member_join_timeout);
  maybe_prepare_rebalance_or_complete_join();
}

void ClassicGroup::update_member_then_rebalance(Member& member, const JoinRequest& request,
                                                Token token) {
  const milliseconds session_timeout(request.session_timeout_ms);
  const milliseconds rebalance_timeout = request.rebalance_timeout_ms >= 0
                                             ? milliseconds(request.rebalance_timeout_ms)
                                             : session_timeout;
  update_member(member, request.protocols, rebalance_timeout, session_timeout, token,
                request.api_version);
  maybe_prepare_rebalance_or_complete_join();
}

// updateStaticMemberThenRebalanceOrCompleteJoin (KIP-345): the instance keeps its
// place and assignment under the new member id; the old id is fenced.
void ClassicGroup::update_static_member_then_rebalance(const JoinRequest& request, Token token,
                                                       const std::string& old_member_id,
                                                       const std::string& new_member_id) {
  const std::optional<std::string> leader_before = leader_;
  Member& member = replace_static_member(*request.group_instance_id, old_member_id, new_member_id);
  reschedule_session(member);
  StaticJoinPersist undo;
  undo.group_instance_id = *request.group_instance_id;
  undo.old_member_id = old_member_id;
  undo.new_member_id = new_member_id;
  undo.token = token;
  undo.leader_before = leader_before;
  undo.old_protocols = member.protocols;
  undo.old_rebalance_timeout = member.rebalance_timeout;
  undo.old_session_timeout = member.session_timeout;
  const milliseconds session_timeout(request.session_timeout_ms);
  const milliseconds rebalance_timeout = request.rebalance_timeout_ms >= 0
                                             ? milliseconds(request.rebalance_timeout_ms)
                                             : session_timeout;
  update_member(member, request.protocols, rebalance_timeout, session_timeout, token,
                request.api_version);
  switch (state_) {
    case GroupState::stable:
      if (protocol_name_ == select_protocol()) {
        // Nothing the assignment depends on changed: persist the new id, then answer.
        persist(record_value(nullptr), std::move(undo));
      } else {
        maybe_prepare_rebalance_or_complete_join();
      }
      return;
    case GroupState::completing_rebalance:
      // The leader may be assigning to the old member id: rebalance so the new one
      // gets an assignment.
      prepare_rebalance();
      return;
    case GroupState::preparing_rebalance: maybe_complete_join_phase(); return;
    case GroupState::empty:
    case GroupState::dead: break;
  }
  UNREACHABLE("a static member {} is known to a {} group", undo.group_instance_id,
              to_string(state_));
}

// --- Membership -------------------------------------------------------------------------

void ClassicGroup::add_member(Member member) {
  VERIFY(!members_.contains(member.member_id), "member {} added twice", member.member_id);
  if (members_.empty()) protocol_type_ = member.protocol_type;
  for (const Protocol& protocol : member.protocols) supported_protocols_[protocol.name]++;
  if (member.group_instance_id) {
    const bool inserted =
        static_members_.emplace(*member.group_instance_id, member.member_id).second;
    VERIFY(inserted, "instance {} has one member", *member.group_instance_id);
  }
  if (!leader_) leader_ = member.member_id;
  pending_members_.erase(member.member_id);
  const std::string id = member.member_id;
  members_.emplace(id, std::move(member));
}

void ClassicGroup::update_member(Member& member, const std::vector<Protocol>& protocols,
                                 milliseconds rebalance_timeout, milliseconds session_timeout,
                                 std::optional<Token> join_token, int16_t api_version) {
  for (const Protocol& protocol : member.protocols) {
    auto it = supported_protocols_.find(protocol.name);
    VERIFY(it != supported_protocols_.end(), "protocol {} counted", protocol.name);
    if (--it->second == 0) supported_protocols_.erase(it);
  }
  member.protocols = protocols;
  for (const Protocol& protocol : member.protocols) supported_protocols_[protocol.name]++;
  member.rebalance_timeout = rebalance_timeout;
  member.session_timeout = session_timeout;
  if (join_token && member.join_token) {
    // Kafka drops the superseded JoinGroup; weir answers it so no token dangles. The
    // client resent, so this answer reaches a request it already gave up on.
    const Token superseded = *member.join_token;
    member.join_token.reset();
    reply_join_error(superseded, ErrorCode::rebalance_in_progress, member.member_id);
  }
  member.join_token = join_token;
  member.join_api_version = api_version;
}

void ClassicGroup::answer_parked(Member& member, ErrorCode error,
                                 const std::string& join_member_id) {
  if (member.join_token) {
    const Token token = *member.join_token;
    member.join_token.reset();
    reply_join_error(token, error, join_member_id);
  }
  if (member.sync_token) {
    const Token token = *member.sync_token;
    member.sync_token.reset();
    SyncResponse response;
    response.error = error;
    reply(token, std::move(response));
  }
  VERIFY(!member.join_token && !member.sync_token);
}

void ClassicGroup::remove_member(const std::string& member_id, ErrorCode parked_error) {
  auto it = members_.find(member_id);
  VERIFY(it != members_.end(), "removing member {} that is not there", member_id);
  Member& member = it->second;
  // Parked requests are answered before the member goes: its client retries the
  // JoinGroup if it is still alive.
  answer_parked(member, parked_error, "");
  for (const Protocol& protocol : member.protocols) {
    auto counted = supported_protocols_.find(protocol.name);
    VERIFY(counted != supported_protocols_.end(), "protocol {} counted", protocol.name);
    if (--counted->second == 0) supported_protocols_.erase(counted);
  }
  if (member.group_instance_id) static_members_.erase(*member.group_instance_id);
  members_.erase(it);
  pending_members_.erase(member_id);
  pending_sync_.erase(member_id);
  if (leader_ == member_id) {
    leader_ = members_.empty() ? std::nullopt : std::optional(members_.begin()->first);
  }
}

// ClassicGroup.replaceStaticMember: the old incarnation's parked requests are fenced.
Member& ClassicGroup::replace_static_member(const std::string& instance_id,
                                            const std::string& old_member_id,
                                            const std::string& new_member_id) {
  auto it = members_.find(old_member_id);
  VERIFY(it != members_.end(), "static member {} is there", old_member_id);
  VERIFY(!members_.contains(new_member_id), "member {} is new", new_member_id);
  Member member = std::move(it->second);
  members_.erase(it);
  answer_parked(member, ErrorCode::fenced_instance_id, old_member_id);
  member.member_id = new_member_id;
  if (pending_sync_.erase(old_member_id) > 0) pending_sync_.insert(new_member_id);
  if (leader_ == old_member_id) leader_ = new_member_id;
  static_members_[instance_id] = new_member_id;
  auto [inserted, ok] = members_.emplace(new_member_id, std::move(member));
  VERIFY(ok, "member {} inserted", new_member_id);
  return inserted->second;
}

void ClassicGroup::reschedule_session(Member& member, milliseconds timeout) {
  member.session_deadline = now_.monotonic + timeout;
}

// --- The rebalance ----------------------------------------------------------------------

void ClassicGroup::maybe_prepare_rebalance_or_complete_join() {
  if (can_rebalance()) {
    prepare_rebalance();
  } else {
    maybe_complete_join_phase();
  }
}

void ClassicGroup::prepare_rebalance() {
  VERIFY(can_rebalance(), "rebalance from {}", to_string(state_));
  // Members waiting for an assignment of the old generation rejoin instead.
  if (state_ == GroupState::completing_rebalance) {
    reset_and_propagate_assignment_with_error(ErrorCode::rebalance_in_progress);
  }
  sync_deadline_ = Instant::max();
  const bool initial = state_ == GroupState::empty;
  if (initial) {
    // KIP-134: wait for more members of a new group before the first generation, in
    // steps of the delay, for at most the rebalance timeout.
    join_timer_ = JoinTimer::initial_delay;
    initial_delay_ = settings_.initial_rebalance_delay;
    initial_remaining_ =
        std::max(rebalance_timeout() - settings_.initial_rebalance_delay, milliseconds(0));
    join_deadline_ = now_.monotonic + initial_delay_;
  }
  transition_to(GroupState::preparing_rebalance);
  if (!initial) maybe_complete_join_else_schedule();
}

void ClassicGroup::maybe_complete_join_else_schedule() {
  if (has_all_members_joined()) {
    complete_join();
  } else {
    join_timer_ = JoinTimer::rebalance;
    join_deadline_ = now_.monotonic + rebalance_timeout();
  }
}

void ClassicGroup::maybe_complete_join_phase() {
  // An initial rebalance always waits out its delay.
  if (state_ == GroupState::preparing_rebalance && has_all_members_joined() &&
      previous_state_ != GroupState::empty) {
    complete_join();
  }
}

void ClassicGroup::on_initial_delay_expired() {
  VERIFY(join_timer_ == JoinTimer::initial_delay, "initial delay timer");
  if (new_member_added_ && initial_remaining_ > milliseconds(0)) {
    new_member_added_ = false;
    const milliseconds delay = std::min(settings_.initial_rebalance_delay, initial_remaining_);
    initial_remaining_ = std::max(initial_remaining_ - initial_delay_, milliseconds(0));
    initial_delay_ = delay;
    join_deadline_ = now_.monotonic + delay;
  } else {
    complete_join();
  }
}

// GroupMetadataManager.completeClassicGroupJoin.
void ClassicGroup::complete_join() {
  VERIFY(state_ == GroupState::preparing_rebalance, "join completes in {}", to_string(state_));
  join_timer_ = JoinTimer::none;
  join_deadline_ = Instant::max();
  // Dynamic members that did not rejoin in time leave; static ones keep their place.
  std::vector<std::string> not_rejoined;
  for (const auto& [id, member] : members_) {
    if (!member.join_token && !member.group_instance_id) not_rejoined.push_back(id);
  }
  for (const std::string& id : not_rejoined) remove_member(id, ErrorCode::unknown_member_id);

  if (!maybe_elect_new_joined_leader() && !members_.empty()) {
    // Only static members that did not rejoin remain: wait another rebalance timeout
    // for them (their sessions may expire meanwhile). At least 1 ms, so that a zero
    // timeout cannot make tick() spin.
    join_timer_ = JoinTimer::rebalance;
    join_deadline_ = now_.monotonic + std::max(rebalance_timeout(), milliseconds(1));
    return;
  }
  init_next_generation();
  if (state_ == GroupState::empty) {
    persist(record_value(nullptr), std::monostate{});
    return;
  }
  for (auto& [id, member] : members_) {
    if (member.join_token) {
      const Token token = *member.join_token;
      member.join_token.reset();
      reply(token, join_success(member, leader_ == id));
    }
    reschedule_session(member);
    member.is_new = false;
    pending_sync_.insert(id);
  }
  // KAFKA-13350: members that never send SyncGroup are removed after a rebalance timeout.
  sync_generation_ = generation_;
  sync_deadline_ = now_.monotonic + rebalance_timeout();
}

// The leader must be a member that rejoined: it computes the assignment.
bool ClassicGroup::maybe_elect_new_joined_leader() {
  if (!leader_) return false;
  if (members_.at(*leader_).join_token) return true;
  for (const auto& [id, member] : members_) {
    if (member.join_token) {
      leader_ = id;
      return true;
    }
  }
  return false;
}

void ClassicGroup::init_next_generation() {
  if (!settings_.flaw_same_generation || generation_.value() < 1) generation_ = generation_.next();
  if (!members_.empty()) {
    protocol_name_ = select_protocol();
    transition_to(GroupState::completing_rebalance);
  } else {
    protocol_name_.reset();
    transition_to(GroupState::empty);
  }
  pending_sync_.clear();
}

// ClassicGroup.selectProtocol: each member votes for its most preferred protocol that
// every member supports; the most votes win. Kafka breaks a tie by hash-map order;
// weir by the smallest name.
std::string ClassicGroup::select_protocol() const {
  VERIFY(!members_.empty(), "a protocol is selected for members");
  absl::btree_map<std::string, int32_t> votes;
  for (const auto& [id, member] : members_) {
    auto vote = std::find_if(member.protocols.begin(), member.protocols.end(),
                             [&](const Protocol& protocol) {
                               auto it = supported_protocols_.find(protocol.name);
                               return it != supported_protocols_.end() &&
                                      it->second == static_cast<int32_t>(members_.size());
                             });
    VERIFY(vote != member.protocols.end(), "member {} supports a common protocol", id);
    votes[vote->name]++;
  }
  auto best = votes.begin();
  for (auto it = votes.begin(); it != votes.end(); ++it) {
    if (it->second > best->second) best = it;
  }
  return best->first;
}

bool ClassicGroup::has_all_members_joined() const {
  if (!pending_members_.empty()) return false;
  return std::all_of(members_.begin(), members_.end(),
                     [](const auto& entry) { return entry.second.join_token.has_value(); });
}

milliseconds ClassicGroup::rebalance_timeout() const {
  milliseconds timeout(0);
  for (const auto& [id, member] : members_) timeout = std::max(timeout, member.rebalance_timeout);
  return timeout;
}

std::vector<JoinMember> ClassicGroup::current_members() const {
  VERIFY(protocol_name_.has_value(), "members are listed for a selected protocol");
  std::vector<JoinMember> members;
  for (const auto& [id, member] : members_) {
    auto protocol = std::find_if(member.protocols.begin(), member.protocols.end(),
                                 [&](const Protocol& p) { return p.name == *protocol_name_; });
    VERIFY(protocol != member.protocols.end(), "member {} supports {}", id, *protocol_name_);
    members.push_back(JoinMember{id, member.group_instance_id, protocol->metadata});
  }
  return members;
}

JoinResponse ClassicGroup::join_success(const Member& member, bool with_members) const {
  JoinResponse response;
  response.generation = generation_;
  response.protocol_type = protocol_type_;
  response.protocol_name = protocol_name_;
  response.leader = leader_.value_or("");
  response.member_id = member.member_id;
  if (with_members) response.members = current_members();
  return response;
}

void ClassicGroup::propagate_assignment(ErrorCode error) {
  for (auto& [id, member] : members_) {
    if (!member.sync_token) continue;
    const Token token = *member.sync_token;
    member.sync_token.reset();
    SyncResponse response;
    response.error = error;
    response.protocol_type = protocol_type_;
    response.protocol_name = protocol_name_;
    response.assignment = member.assignment;
    reply(token, std::move(response));
    // Expirations while the member waited were ignored (it was awaiting sync); its
    // session starts again from its answer.
    reschedule_session(member);
  }
}

void ClassicGroup::reset_and_propagate_assignment_with_error(ErrorCode error) {
  VERIFY(state_ == GroupState::completing_rebalance, "assignments reset in {}", to_string(state_));
  VERIFY(error != ErrorCode::none, "a reset carries an error");
  for (auto& [id, member] : members_) member.assignment.clear();
  propagate_assignment(error);
}

void ClassicGroup::set_and_propagate_assignment(
    const absl::btree_map<std::string, Bytes>& assignment) {
  VERIFY(state_ == GroupState::completing_rebalance, "assignments set in {}", to_string(state_));
  for (auto& [id, member] : members_) {
    auto it = assignment.find(id);
    member.assignment = it == assignment.end() ? Bytes{} : it->second;
  }
  propagate_assignment(ErrorCode::none);
}

// removeMemberAndUpdateClassicGroup.
void ClassicGroup::remove_member_and_update_group(const std::string& member_id) {
  remove_member(member_id, ErrorCode::unknown_member_id);
  if (state_ == GroupState::stable || state_ == GroupState::completing_rebalance) {
    prepare_rebalance();
  } else if (state_ == GroupState::preparing_rebalance && has_all_members_joined()) {
    complete_join();
  }
}

// --- SyncGroup --------------------------------------------------------------------------

Effects ClassicGroup::sync(const SyncRequest& request, Token token, Now now) {
  begin(now);
  accept(token);
  auto fail = [&](ErrorCode error) {
    SyncResponse response;
    response.error = error;
    reply(token, std::move(response));
  };
  // A protocol named in the request must be the group's (v5+ send them).
  auto inconsistent = [](const std::optional<std::string>& requested,
                         const std::optional<std::string>& actual) {
    return requested && actual && *requested != *actual;
  };
  auto check = [&]() {
    if (state_ == GroupState::dead) return ErrorCode::coordinator_not_available;
    const ErrorCode member_error = validate_member(request.member_id, request.group_instance_id);
    if (member_error != ErrorCode::none) return member_error;
    if (request.generation != generation_) return ErrorCode::illegal_generation;
    if (inconsistent(request.protocol_type, protocol_type_) ||
        inconsistent(request.protocol_name, protocol_name_)) {
      return ErrorCode::inconsistent_group_protocol;
    }
    if (state_ == GroupState::empty) return ErrorCode::unknown_member_id;
    if (state_ == GroupState::preparing_rebalance) return ErrorCode::rebalance_in_progress;
    return ErrorCode::none;
  };
  const ErrorCode error = check();
  if (error != ErrorCode::none) {
    fail(error);
    return finish();
  }
  Member& member = members_.at(request.member_id);
  if (state_ == GroupState::stable) {
    pending_sync_.erase(member.member_id);
    reschedule_session(member);
    SyncResponse response;
    response.protocol_type = protocol_type_;
    response.protocol_name = protocol_name_;
    response.assignment = member.assignment;
    reply(token, std::move(response));
    return finish();
  }
  VERIFY(state_ == GroupState::completing_rebalance, "sync in {}", to_string(state_));
  if (member.sync_token) {
    // A resent SyncGroup supersedes the parked one (Kafka drops the old; weir answers it).
    const Token superseded = *member.sync_token;
    member.sync_token.reset();
    SyncResponse response;
    response.error = ErrorCode::rebalance_in_progress;
    reply(superseded, std::move(response));
  }
  member.sync_token = token;
  pending_sync_.erase(member.member_id);
  if (leader_ == member.member_id) {
    // Members the leader left out get an empty assignment; ids it made up are ignored.
    absl::btree_map<std::string, Bytes> assignment;
    for (const SyncAssignment& entry : request.assignments) {
      if (members_.contains(entry.member_id)) assignment[entry.member_id] = entry.assignment;
    }
    for (const auto& [id, unused] : members_) assignment.try_emplace(id);
    SyncPersist persist_state{generation_, assignment};
    persist(record_value(&assignment), std::move(persist_state));
  }
  return finish();
}

void ClassicGroup::on_sync_persisted(const SyncPersist& persist,
                                     std::optional<PersistFailure> failure) {
  // The group may have moved on while the record was being written; then the new
  // rebalance has already answered the parked syncs.
  if (state_ != GroupState::completing_rebalance || generation_ != persist.generation) return;
  if (failure) {
    reset_and_propagate_assignment_with_error(to_error_code(*failure));
    maybe_prepare_rebalance_or_complete_join();
  } else {
    set_and_propagate_assignment(persist.assignment);
    transition_to(GroupState::stable);
  }
}

void ClassicGroup::on_static_join_persisted(const StaticJoinPersist& persist,
                                            std::optional<PersistFailure> failure) {
  auto it = members_.find(persist.new_member_id);
  // A rebalance or a removal answered the parked join meanwhile: nothing to release
  // (and nothing to undo: the group no longer relies on the record).
  if (it == members_.end() || it->second.join_token != persist.token) return;
  Member& member = it->second;
  const Token token = persist.token;
  if (failure) {
    // Kafka's revert: the old incarnation gets its member id back.
    update_member(member, persist.old_protocols, persist.old_rebalance_timeout,
                  persist.old_session_timeout, std::nullopt, member.join_api_version);
    Member& old = replace_static_member(persist.group_instance_id, persist.new_member_id,
                                        persist.old_member_id);
    reschedule_session(old);
    JoinResponse response;
    response.error = to_error_code(*failure);
    response.generation = generation_;
    response.protocol_type = protocol_type_;
    response.protocol_name = protocol_name_;
    response.leader = persist.leader_before.value_or("");
    reply(token, std::move(response));
    return;
  }
  member.join_token.reset();
  const bool is_leader = leader_ == member.member_id;
  if (member.join_api_version >= 9) {
    // KIP-814: the leader learns the members but keeps the assignment it has.
    JoinResponse response = join_success(member, is_leader);
    response.skip_assignment = is_leader;
    reply(token, std::move(response));
  } else {
    // Older leaders are told the old leader id, so they act as followers and do not
    // recompute an assignment the group still holds.
    JoinResponse response = join_success(member, false);
    response.leader = persist.leader_before.value_or("");
    reply(token, std::move(response));
  }
}

// --- Heartbeat and LeaveGroup -------------------------------------------------------------

Effects ClassicGroup::heartbeat(const HeartbeatRequest& request, Token token, Now now) {
  begin(now);
  accept(token);
  HeartbeatResponse response;
  auto check = [&]() {
    if (state_ == GroupState::dead) return ErrorCode::coordinator_not_available;
    const ErrorCode member_error = validate_member(request.member_id, request.group_instance_id);
    if (member_error != ErrorCode::none) return member_error;
    if (request.generation != generation_) return ErrorCode::illegal_generation;
    if (state_ == GroupState::empty) return ErrorCode::unknown_member_id;
    return ErrorCode::none;
  };
  response.error = check();
  if (response.error == ErrorCode::none) {
    reschedule_session(members_.at(request.member_id));
    // During the join phase the answer tells the member to rejoin.
    if (state_ == GroupState::preparing_rebalance) {
      response.error = ErrorCode::rebalance_in_progress;
    }
  }
  reply(token, response);
  return finish();
}

// GroupMetadataManager.classicGroupLeave.
Effects ClassicGroup::leave(const LeaveRequest& request, Token token, Now now) {
  begin(now);
  accept(token);
  LeaveResponse response;
  if (state_ == GroupState::dead) {
    response.error = ErrorCode::coordinator_not_available;
    reply(token, std::move(response));
    return finish();
  }
  bool any_left = false;
  for (const LeaveMember& leaving : request.members) {
    LeaveMemberResult result{leaving.member_id, leaving.group_instance_id, ErrorCode::none};
    if (leaving.member_id.empty()) {
      // An administrative removal names the instance only.
      auto it = leaving.group_instance_id ? static_members_.find(*leaving.group_instance_id)
                                          : static_members_.end();
      if (it != static_members_.end()) {
        const std::string member_id = it->second;
        remove_member(member_id, ErrorCode::unknown_member_id);
      } else {
        result.error = ErrorCode::unknown_member_id;
      }
    } else if (pending_members_.contains(leaving.member_id)) {
      pending_members_.erase(leaving.member_id);
    } else {
      result.error = validate_member(leaving.member_id, leaving.group_instance_id);
      if (result.error == ErrorCode::none) {
        remove_member(leaving.member_id, ErrorCode::unknown_member_id);
      }
    }
    any_left = any_left || result.error == ErrorCode::none;
    response.members.push_back(std::move(result));
  }
  if (any_left) {
    if (state_ == GroupState::stable || state_ == GroupState::completing_rebalance) {
      maybe_prepare_rebalance_or_complete_join();
    } else if (state_ == GroupState::preparing_rebalance) {
      maybe_complete_join_phase();
    }
  }
  reply(token, std::move(response));
  return finish();
}

// --- Timers -----------------------------------------------------------------------------

Effects ClassicGroup::tick(Now now) {
  begin(now);
  // Fire due timers earliest first; each firing removes its timer or moves it past now,
  // so a member's timers fire a bounded number of times.
  const size_t firings_max = 4 * (members_.size() + pending_members_.size()) + 16;
  for (size_t fired = 0;; fired++) {
    VERIFY(fired <= firings_max, "tick() made no progress");
    Instant earliest = Instant::max();
    enum class Kind { none, session, pending, join, sync } kind = Kind::none;
    std::string member_id;
    for (const auto& [id, member] : members_) {
      if (member.session_deadline < earliest) {
        earliest = member.session_deadline;
        kind = Kind::session;
        member_id = id;
      }
    }
    for (const auto& [id, deadline] : pending_members_) {
      if (deadline < earliest) {
        earliest = deadline;
        kind = Kind::pending;
        member_id = id;
      }
    }
    if (join_deadline_ < earliest) {
      earliest = join_deadline_;
      kind = Kind::join;
    }
    if (sync_deadline_ < earliest) {
      earliest = sync_deadline_;
      kind = Kind::sync;
    }
    if (kind == Kind::none || earliest > now.monotonic) break;
    switch (kind) {
      case Kind::session: on_session_expired(member_id); break;
      case Kind::pending: on_pending_member_expired(member_id); break;
      case Kind::join:
        if (join_timer_ == JoinTimer::initial_delay) {
          on_initial_delay_expired();
        } else {
          complete_join();
        }
        break;
      case Kind::sync: on_pending_sync_expired(); break;
      case Kind::none: break;
    }
  }
  return finish();
}

// expireClassicGroupMemberHeartbeat: a member waiting for a rebalance to answer it has
// nothing to heartbeat for; its session restarts when it is answered.
void ClassicGroup::on_session_expired(const std::string& member_id) {
  Member& member = members_.at(member_id);
  const bool awaiting = member.join_token || member.sync_token;
  if (!member.is_new && awaiting) {
    member.session_deadline = Instant::max();
    return;
  }
  remove_member_and_update_group(member_id);
}

void ClassicGroup::on_pending_member_expired(const std::string& member_id) {
  pending_members_.erase(member_id);
  if (state_ == GroupState::preparing_rebalance && has_all_members_joined()) complete_join();
}

void ClassicGroup::on_pending_sync_expired() {
  sync_deadline_ = Instant::max();
  if (generation_ != sync_generation_) return;
  if (state_ != GroupState::completing_rebalance && state_ != GroupState::stable) return;
  if (pending_sync_.empty()) return;
  const std::vector<std::string> missing(pending_sync_.begin(), pending_sync_.end());
  for (const std::string& id : missing) remove_member(id, ErrorCode::unknown_member_id);
  prepare_rebalance();
}

Instant ClassicGroup::next_deadline() const {
  Instant earliest = std::min(join_deadline_, sync_deadline_);
  for (const auto& [id, member] : members_) earliest = std::min(earliest, member.session_deadline);
  for (const auto& [id, deadline] : pending_members_) earliest = std::min(earliest, deadline);
  return earliest;
}

// --- Persistence ------------------------------------------------------------------------

Effects ClassicGroup::on_persisted(PersistId id, Now now) {
  begin(now);
  auto it = persists_.find(id);
  VERIFY(it != persists_.end(), "persist {} is not awaited", id);
  const Continuation continuation = std::move(it->second);
  persists_.erase(it);
  if (const auto* sync_persist = std::get_if<SyncPersist>(&continuation)) {
    on_sync_persisted(*sync_persist, std::nullopt);
  } else if (const auto* join_persist = std::get_if<StaticJoinPersist>(&continuation)) {
    on_static_join_persisted(*join_persist, std::nullopt);
  }
  return finish();
}

Effects ClassicGroup::on_persist_failed(PersistId id, PersistFailure failure, Now now) {
  begin(now);
  auto it = persists_.find(id);
  VERIFY(it != persists_.end(), "persist {} is not awaited", id);
  const Continuation continuation = std::move(it->second);
  persists_.erase(it);
  if (const auto* sync_persist = std::get_if<SyncPersist>(&continuation)) {
    on_sync_persisted(*sync_persist, failure);
  } else if (const auto* join_persist = std::get_if<StaticJoinPersist>(&continuation)) {
    on_static_join_persisted(*join_persist, failure);
  }
  return finish();
}

Effects ClassicGroup::unload(Now now) {
  begin(now);
  for (auto& [id, member] : members_) answer_parked(member, ErrorCode::not_coordinator, id);
  members_.clear();
  static_members_.clear();
  supported_protocols_.clear();
  pending_members_.clear();
  pending_sync_.clear();
  leader_.reset();
  persists_.clear();
  join_timer_ = JoinTimer::none;
  join_deadline_ = Instant::max();
  sync_deadline_ = Instant::max();
  transition_to(GroupState::dead);
  return finish();
}

GroupMetadataValue ClassicGroup::record_value(
    const absl::btree_map<std::string, Bytes>* assignment) const {
  GroupMetadataValue value;
  value.protocol_type = protocol_type_.value_or("");
  value.generation = generation_;
  value.protocol = protocol_name_;
  value.leader = leader_;
  value.current_state_timestamp_ms = state_since_ms_.value_or(-1);
  if (!protocol_name_) return value;  // an Empty group's record lists no members
  for (const JoinMember& listed : current_members()) {
    const Member& member = members_.at(listed.member_id);
    GroupMemberMetadata record;
    record.member_id = member.member_id;
    record.group_instance_id = member.group_instance_id;
    record.client_id = member.client_id;
    record.client_host = member.client_host;
    record.rebalance_timeout_ms = static_cast<int32_t>(member.rebalance_timeout.count());
    record.session_timeout_ms = static_cast<int32_t>(member.session_timeout.count());
    record.subscription = listed.metadata;
    if (assignment) {
      auto it = assignment->find(member.member_id);
      if (it != assignment->end()) record.assignment = it->second;
    } else {
      record.assignment = member.assignment;
    }
    value.members.push_back(std::move(record));
  }
  return value;
}

GroupMetadataValue ClassicGroup::to_record_value() const { return record_value(nullptr); }

// --- Offsets ----------------------------------------------------------------------------

// ClassicGroup.validateOffsetCommit.
ErrorCode ClassicGroup::validate_offset_commit(const CommitIdentity& identity) const {
  if (state_ == GroupState::dead) return ErrorCode::coordinator_not_available;
  if (settings_.flaw_commit_any_generation) return ErrorCode::none;
  // Generation -1: an admin client or a consumer managing its own partitions, allowed
  // while no member owns the group's partitions.
  if (identity.generation.value() < 0 && state_ == GroupState::empty) return ErrorCode::none;
  if (identity.generation.value() >= 0 || !identity.member_id.empty() ||
      identity.group_instance_id) {
    const ErrorCode error = validate_member(identity.member_id, identity.group_instance_id);
    if (error != ErrorCode::none) return error;
    if (identity.generation != generation_) return ErrorCode::illegal_generation;
  } else if (!identity.transactional && state_ != GroupState::empty) {
    return ErrorCode::unknown_member_id;
  }
  // The member knows its generation but not yet its assignment: it commits again once
  // it has synced.
  if (!identity.transactional && state_ == GroupState::completing_rebalance) {
    return ErrorCode::rebalance_in_progress;
  }
  return ErrorCode::none;
}

// ClassicGroup.offsetExpirationCondition. Kafka also expires a Stable consumer group's
// offsets of topics it no longer subscribes to; weir does not parse subscriptions yet.
std::optional<OffsetExpiry> ClassicGroup::offset_expiry() const {
  if (!protocol_type_) return OffsetExpiry{std::nullopt};  // simple commits only
  if (state_ == GroupState::empty) return OffsetExpiry{state_since_ms_};
  return std::nullopt;
}

// --- Invariants -------------------------------------------------------------------------

void ClassicGroup::check_invariants() const {
  size_t parked = 0;
  for (const auto& [id, member] : members_) {
    VERIFY(member.member_id == id, "member {} keyed as {}", member.member_id, id);
    for (const std::optional<Token>& token : {member.join_token, member.sync_token}) {
      if (!token) continue;
      VERIFY(outstanding_.contains(*token), "member {} parks an answered token", id);
      parked++;
    }
    if (member.group_instance_id) {
      auto it = static_members_.find(*member.group_instance_id);
      VERIFY(it != static_members_.end() && it->second == id, "static member {} mapped", id);
    }
  }
  VERIFY(parked == outstanding_.size(), "{} tokens outstanding, {} parked", outstanding_.size(),
         parked);
  VERIFY(static_members_.size() <= members_.size(), "static members are members");
  if (state_ == GroupState::empty || state_ == GroupState::dead) {
    VERIFY(members_.empty(), "a {} group has {} members", to_string(state_), members_.size());
  }
  VERIFY(members_.empty() == !leader_.has_value(), "a group with members has a leader");
  if (leader_) VERIFY(members_.contains(*leader_), "leader {} is a member", *leader_);
  if (state_ == GroupState::completing_rebalance || state_ == GroupState::stable) {
    VERIFY(protocol_name_.has_value(), "{} has a protocol", to_string(state_));
    auto it = supported_protocols_.find(*protocol_name_);
    VERIFY(it != supported_protocols_.end() && it->second == static_cast<int32_t>(members_.size()),
           "every member supports {}", *protocol_name_);
  }
  if (state_ != GroupState::preparing_rebalance) {
    VERIFY(join_deadline_ == Instant::max(), "no join timer in {}", to_string(state_));
  }
}

}  // namespace weir::group
