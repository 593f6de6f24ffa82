// ClassicGroup driven like a coordinator would drive it: requests with tokens, time
// advanced explicitly, appends to __consumer_offsets completed (or failed) on command.
// Each test reads as a script of what Kafka's classic protocol promises.
#include "group/classic_group.h"

#include <cstdint>
#include <map>
#include <set>
#include <optional>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <rapidcheck.h>
#include <rapidcheck/gtest.h>

namespace weir::group {
namespace {

constexpr int64_t kWallStartMs = 1'700'000'000'000;

Bytes bytes(std::initializer_list<int> values) {
  Bytes out;
  for (int value : values) out.push_back(static_cast<uint8_t>(value));
  return out;
}

GroupSettings settings(milliseconds initial_delay = milliseconds(0)) {
  GroupSettings s;
  s.group_id = "g";
  s.coordinator_epoch = 1;
  s.initial_rebalance_delay = initial_delay;
  return s;
}

JoinRequest join_request(std::string member_id, std::string client_id,
                         std::vector<Protocol> protocols = {{"range", {1}}}) {
  JoinRequest request;
  request.member_id = std::move(member_id);
  request.client_id = std::move(client_id);
  request.client_host = "/127.0.0.1";
  request.session_timeout_ms = 30000;
  request.rebalance_timeout_ms = 10000;
  request.protocol_type = "consumer";
  request.protocols = std::move(protocols);
  return request;
}

// A coordinator in miniature: hands out tokens, collects answers, holds the appends.
class Script {
 public:
  explicit Script(GroupSettings group_settings = settings())
      : group_(std::move(group_settings), now()) {}

  ClassicGroup& group() { return group_; }
  Now now() const {
    return Now{runtime::Instant::from_nanoseconds(clock_ms_ * 1'000'000),
               runtime::WallTime{kWallStartMs + clock_ms_}};
  }
  void advance(int64_t ms) {
    clock_ms_ += ms;
    absorb(group_.tick(now()));
  }

  Token join(const JoinRequest& request) {
    const Token token = next_token();
    absorb(group_.join(request, token, now()));
    return token;
  }
  Token sync(const std::string& member_id, std::vector<SyncAssignment> assignments = {},
             std::optional<std::string> instance_id = std::nullopt) {
    SyncRequest request;
    request.generation = group_.generation();
    request.member_id = member_id;
    request.group_instance_id = std::move(instance_id);
    request.assignments = std::move(assignments);
    const Token token = next_token();
    absorb(group_.sync(request, token, now()));
    return token;
  }
  ErrorCode heartbeat(const std::string& member_id,
                      std::optional<std::string> instance_id = std::nullopt,
                      std::optional<GenerationId> generation = std::nullopt) {
    HeartbeatRequest request{generation.value_or(group_.generation()), member_id,
                             std::move(instance_id)};
    const Token token = next_token();
    absorb(group_.heartbeat(request, token, now()));
    return answer<HeartbeatResponse>(token).value().error;
  }
  LeaveResponse leave(std::vector<LeaveMember> members) {
    const Token token = next_token();
    absorb(group_.leave(LeaveRequest{std::move(members)}, token, now()));
    return answer<LeaveResponse>(token).value();
  }

  // Completes (or fails) every append the group asked for, oldest first.
  void persist_all() {
    auto pending = std::move(persists_);
    persists_.clear();
    for (const PersistRequest& request : pending) {
      absorb(group_.on_persisted(request.id, now()));
    }
  }
  void fail_persists(PersistFailure failure) {
    auto pending = std::move(persists_);
    persists_.clear();
    for (const PersistRequest& request : pending) {
      absorb(group_.on_persist_failed(request.id, failure, now()));
    }
  }
  const std::vector<PersistRequest>& persists() const { return persists_; }
  void absorb(Effects effects) {
    for (Reply& reply : effects.replies) {
      ASSERT_FALSE(answers_.contains(reply.token.value())) << "token answered twice";
      answers_.emplace(reply.token.value(), std::move(reply.response));
    }
    for (PersistRequest& request : effects.persists) persists_.push_back(std::move(request));
    EXPECT_EQ(effects.next_deadline, group_.next_deadline());
  }

  template <typename T>
  std::optional<T> answer(Token token) const {
    auto it = answers_.find(token.value());
    if (it == answers_.end()) return std::nullopt;
    const T* response = std::get_if<T>(&it->second);
    EXPECT_NE(response, nullptr) << "token answered with another response type";
    return response ? std::optional<T>(*response) : std::nullopt;
  }
  bool answered(Token token) const { return answers_.contains(token.value()); }

  // Joins a new dynamic member through KIP-394's two steps; returns the parked token
  // of its second JoinGroup and its member id.
  std::pair<Token, std::string> join_new(const std::string& client_id,
                                         std::vector<Protocol> protocols = {{"range", {1}}}) {
    const Token first = join(join_request("", client_id, protocols));
    const JoinResponse required = answer<JoinResponse>(first).value();
    EXPECT_EQ(required.error, ErrorCode::member_id_required);
    const Token second = join(join_request(required.member_id, client_id, protocols));
    return {second, required.member_id};
  }

 private:
  Token next_token() { return Token(next_token_++); }

  int64_t clock_ms_ = 0;
  uint64_t next_token_ = 1;
  ClassicGroup group_;
  std::map<uint64_t, Response> answers_;
  std::vector<PersistRequest> persists_;
};

// Two members a and b form generation 1 with `a` leading and assignments {a: [1], b: [2]}.
struct StableGroup {
  explicit StableGroup(Script& script) {
    auto [a_token, a_id] = script.join_new("a");
    auto [b_token, b_id] = script.join_new("b");
    a = a_id;
    b = b_id;
    script.advance(0);  // the initial delay (0 here) passes: generation 1
    EXPECT_EQ(script.answer<JoinResponse>(a_token)->error, ErrorCode::none);
    const Token b_sync = script.sync(b);
    script.sync(a, {{a, bytes({1})}, {b, bytes({2})}});
    script.persist_all();
    EXPECT_EQ(script.answer<SyncResponse>(b_sync)->assignment, bytes({2}));
    EXPECT_EQ(script.group().state(), GroupState::stable);
  }
  std::string a;
  std::string b;
};

TEST(ClassicGroupTest, TwoMembersJoinSyncAndGetTheirAssignments) {
  Script script(settings(milliseconds(3000)));
  // KIP-394: a new member first learns its id.
  const Token a_first = script.join(join_request("", "a"));
  const JoinResponse a_required = script.answer<JoinResponse>(a_first).value();
  EXPECT_EQ(a_required.error, ErrorCode::member_id_required);
  EXPECT_EQ(a_required.member_id, "a-00000001-0000000000000000");
  EXPECT_EQ(script.group().state(), GroupState::empty);
  EXPECT_TRUE(script.group().is_pending_member(a_required.member_id));

  const Token a_join = script.join(join_request(a_required.member_id, "a"));
  EXPECT_FALSE(script.answered(a_join));  // parked until the join phase ends
  EXPECT_EQ(script.group().state(), GroupState::preparing_rebalance);

  auto [b_join, b_id] = script.join_new("b");
  EXPECT_EQ(b_id, "b-00000001-0000000000000001");
  EXPECT_FALSE(script.answered(b_join));

  // The initial delay: b arrived during it, so it is extended once more.
  script.advance(3000);
  EXPECT_FALSE(script.answered(a_join));
  script.advance(3000);
  const JoinResponse a_joined = script.answer<JoinResponse>(a_join).value();
  const JoinResponse b_joined = script.answer<JoinResponse>(b_join).value();
  EXPECT_EQ(a_joined.error, ErrorCode::none);
  EXPECT_EQ(a_joined.generation, GenerationId(1));
  EXPECT_EQ(a_joined.protocol_name, "range");
  EXPECT_EQ(a_joined.leader, a_required.member_id);
  ASSERT_EQ(a_joined.members.size(), 2u);  // the leader learns every member
  EXPECT_EQ(b_joined.leader, a_required.member_id);
  EXPECT_TRUE(b_joined.members.empty());
  EXPECT_EQ(script.group().state(), GroupState::completing_rebalance);

  // The follower waits for the leader's assignment, and the leader for its record.
  const Token b_sync = script.sync(b_id);
  EXPECT_FALSE(script.answered(b_sync));
  const Token a_sync =
      script.sync(a_required.member_id, {{a_required.member_id, bytes({1})}, {b_id, bytes({2})}});
  EXPECT_FALSE(script.answered(a_sync));
  ASSERT_EQ(script.persists().size(), 1u);
  const OffsetsRecord& record = script.persists()[0].record;
  EXPECT_EQ(std::get<GroupMetadataKey>(record.key).group, "g");
  const auto& value = std::get<GroupMetadataValue>(*record.value);
  EXPECT_EQ(value.generation, GenerationId(1));
  ASSERT_EQ(value.members.size(), 2u);
  EXPECT_EQ(value.members[1].assignment, bytes({2}));

  script.persist_all();
  EXPECT_EQ(script.answer<SyncResponse>(a_sync)->assignment, bytes({1}));
  EXPECT_EQ(script.answer<SyncResponse>(b_sync)->assignment, bytes({2}));
  EXPECT_EQ(script.group().state(), GroupState::stable);
  // A SyncGroup in Stable answers at once.
  EXPECT_EQ(script.answer<SyncResponse>(script.sync(b_id))->assignment, bytes({2}));
}

TEST(ClassicGroupTest, HeartbeatDuringRebalanceSaysRejoin) {
  Script script;
  StableGroup stable(script);
  EXPECT_EQ(script.heartbeat(stable.b), ErrorCode::none);
  // The leader rejoining starts a rebalance.
  const Token a_join = script.join(join_request(stable.a, "a"));
  EXPECT_EQ(script.group().state(), GroupState::preparing_rebalance);
  EXPECT_EQ(script.heartbeat(stable.b), ErrorCode::rebalance_in_progress);
  EXPECT_EQ(script.heartbeat(stable.b, std::nullopt, GenerationId(0)),
            ErrorCode::illegal_generation);
  EXPECT_EQ(script.heartbeat("nobody"), ErrorCode::unknown_member_id);
  // Once b rejoins, the join phase completes at once (no initial delay after Stable).
  const Token b_join = script.join(join_request(stable.b, "b"));
  EXPECT_EQ(script.answer<JoinResponse>(a_join)->generation, GenerationId(2));
  EXPECT_EQ(script.answer<JoinResponse>(b_join)->generation, GenerationId(2));
  EXPECT_EQ(script.heartbeat(stable.b), ErrorCode::none);
}

TEST(ClassicGroupTest, SessionTimeoutRemovesTheMemberAndRebalances) {
  Script script;
  StableGroup stable(script);
  for (int i = 0; i < 2; i++) {
    script.advance(10000);
    EXPECT_EQ(script.heartbeat(stable.a), ErrorCode::none);
  }
  EXPECT_NE(script.group().member(stable.b), nullptr);
  script.advance(10000);  // b's 30 s session passes without a heartbeat
  EXPECT_EQ(script.group().member(stable.b), nullptr);
  EXPECT_EQ(script.group().state(), GroupState::preparing_rebalance);
  EXPECT_EQ(script.heartbeat(stable.a), ErrorCode::rebalance_in_progress);
  const Token a_join = script.join(join_request(stable.a, "a"));
  const JoinResponse joined = script.answer<JoinResponse>(a_join).value();
  EXPECT_EQ(joined.generation, GenerationId(2));
  EXPECT_EQ(joined.members.size(), 1u);
}

TEST(ClassicGroupTest, RebalanceTimeoutRemovesAMemberThatDidNotRejoin) {
  Script script;
  StableGroup stable(script);
  const Token a_join = script.join(join_request(stable.a, "a"));
  // b keeps heartbeating but never rejoins.
  script.advance(5000);
  EXPECT_EQ(script.heartbeat(stable.b), ErrorCode::rebalance_in_progress);
  EXPECT_FALSE(script.answered(a_join));
  script.advance(5000);  // the 10 s rebalance timeout
  const JoinResponse joined = script.answer<JoinResponse>(a_join).value();
  EXPECT_EQ(joined.generation, GenerationId(2));
  ASSERT_EQ(joined.members.size(), 1u);
  EXPECT_EQ(joined.members[0].member_id, stable.a);
  EXPECT_EQ(script.heartbeat(stable.b), ErrorCode::unknown_member_id);
}

TEST(ClassicGroupTest, MembersThatNeverSyncAreRemoved) {
  Script script;
  StableGroup stable(script);
  const Token a_join = script.join(join_request(stable.a, "a"));
  const Token b_join = script.join(join_request(stable.b, "b"));
  ASSERT_TRUE(script.answered(a_join) && script.answered(b_join));
  script.sync(stable.a, {{stable.a, bytes({1})}});
  script.persist_all();
  EXPECT_EQ(script.group().state(), GroupState::stable);
  script.advance(10000);  // b never sent SyncGroup for generation 2
  EXPECT_EQ(script.group().member(stable.b), nullptr);
  EXPECT_EQ(script.group().state(), GroupState::preparing_rebalance);
}

TEST(ClassicGroupTest, StaticMemberRejoiningFencesItsOldId) {
  Script script;
  JoinRequest a = join_request("", "a");
  a.group_instance_id = "instance-a";
  const Token a_join = script.join(a);  // static members skip MEMBER_ID_REQUIRED
  auto [b_join, b_id] = script.join_new("b");
  script.advance(0);
  const std::string old_a = script.answer<JoinResponse>(a_join)->member_id;
  EXPECT_EQ(old_a, "instance-a-00000001-0000000000000000");
  script.sync(b_id);
  script.sync(old_a, {{old_a, bytes({7})}, {b_id, bytes({8})}}, "instance-a");
  script.persist_all();
  ASSERT_EQ(script.group().state(), GroupState::stable);

  // The instance restarts and joins without its member id.
  const Token rejoin = script.join(a);
  EXPECT_FALSE(script.answered(rejoin));  // waits for the record naming its new id
  ASSERT_EQ(script.persists().size(), 1u);
  EXPECT_EQ(script.heartbeat(old_a, "instance-a"), ErrorCode::fenced_instance_id);
  script.persist_all();
  const JoinResponse rejoined = script.answer<JoinResponse>(rejoin).value();
  EXPECT_EQ(rejoined.error, ErrorCode::none);
  EXPECT_NE(rejoined.member_id, old_a);
  EXPECT_EQ(rejoined.generation, GenerationId(1));  // no rebalance
  EXPECT_TRUE(rejoined.skip_assignment);            // the leader keeps the assignment
  EXPECT_EQ(script.group().state(), GroupState::stable);
  EXPECT_EQ(script.heartbeat(rejoined.member_id, "instance-a"), ErrorCode::none);
  // Its assignment carried over.
  EXPECT_EQ(
      script.answer<SyncResponse>(script.sync(rejoined.member_id, {}, "instance-a"))->assignment,
      bytes({7}));
}

TEST(ClassicGroupTest, StaticReplacementIsUndoneWhenItsRecordFails) {
  Script script;
  JoinRequest a = join_request("", "a");
  a.group_instance_id = "instance-a";
  const Token a_join = script.join(a);
  script.advance(0);
  const std::string old_a = script.answer<JoinResponse>(a_join)->member_id;
  script.sync(old_a, {{old_a, bytes({7})}}, "instance-a");
  script.persist_all();
  const Token rejoin = script.join(a);
  script.fail_persists(PersistFailure::unavailable);
  EXPECT_EQ(script.answer<JoinResponse>(rejoin)->error, ErrorCode::coordinator_not_available);
  EXPECT_EQ(script.heartbeat(old_a, "instance-a"), ErrorCode::none);
}

TEST(ClassicGroupTest, LeavingMembersTriggerARebalanceAndTheLastEmptiesTheGroup) {
  Script script;
  StableGroup stable(script);
  const LeaveResponse left = script.leave({{stable.b, std::nullopt}, {"ghost", std::nullopt}});
  ASSERT_EQ(left.members.size(), 2u);
  EXPECT_EQ(left.members[0].error, ErrorCode::none);
  EXPECT_EQ(left.members[1].error, ErrorCode::unknown_member_id);
  EXPECT_EQ(script.heartbeat(stable.a), ErrorCode::rebalance_in_progress);
  const Token a_join = script.join(join_request(stable.a, "a"));
  EXPECT_EQ(script.answer<JoinResponse>(a_join)->members.size(), 1u);

  script.leave({{stable.a, std::nullopt}});
  EXPECT_EQ(script.group().state(), GroupState::empty);
  EXPECT_EQ(script.group().generation(), GenerationId(3));
  ASSERT_EQ(script.persists().size(), 1u);
  const auto& value = std::get<GroupMetadataValue>(*script.persists()[0].record.value);
  EXPECT_TRUE(value.members.empty());
  EXPECT_EQ(value.protocol, std::nullopt);
}

TEST(ClassicGroupTest, FailedAssignmentRecordAnswersSyncsWithAnError) {
  Script script;
  auto [a_join, a] = script.join_new("a");
  auto [b_join, b] = script.join_new("b");
  script.advance(0);
  const Token b_sync = script.sync(b);
  const Token a_sync = script.sync(a, {{a, bytes({1})}, {b, bytes({2})}});
  script.fail_persists(PersistFailure::unavailable);
  EXPECT_EQ(script.answer<SyncResponse>(a_sync)->error, ErrorCode::coordinator_not_available);
  EXPECT_EQ(script.answer<SyncResponse>(b_sync)->error, ErrorCode::coordinator_not_available);
  EXPECT_EQ(script.group().state(), GroupState::preparing_rebalance);
}

TEST(ClassicGroupTest, SyncChecksMemberGenerationAndState) {
  Script script;
  auto [a_join, a] = script.join_new("a");
  EXPECT_EQ(script.answer<SyncResponse>(script.sync(a))->error, ErrorCode::rebalance_in_progress);
  script.advance(0);
  SyncRequest stale{GenerationId(0), a, std::nullopt, std::nullopt, std::nullopt, {}};
  const Token token(1000);
  script.absorb(script.group().sync(stale, token, script.now()));
  EXPECT_EQ(script.answer<SyncResponse>(token)->error, ErrorCode::illegal_generation);
  EXPECT_EQ(script.answer<SyncResponse>(script.sync("nobody"))->error,
            ErrorCode::unknown_member_id);
}

TEST(ClassicGroupTest, GroupMaxSizeTurnsAwayAThirdMember) {
  GroupSettings small = settings();
  small.max_size = 2;
  Script script(small);
  StableGroup stable(script);
  const Token third = script.join(join_request("", "c"));
  EXPECT_EQ(script.answer<JoinResponse>(third)->error, ErrorCode::group_max_size_reached);
  EXPECT_EQ(script.group().state(), GroupState::stable);
}

TEST(ClassicGroupTest, JoinValidation) {
  Script script;
  StableGroup stable(script);
  // Another protocol type, or no protocol every member supports.
  JoinRequest connect = join_request("", "c");
  connect.protocol_type = "connect";
  EXPECT_EQ(script.answer<JoinResponse>(script.join(connect))->error,
            ErrorCode::inconsistent_group_protocol);
  EXPECT_EQ(script.answer<JoinResponse>(script.join(join_request(stable.b, "b", {{"sticky", {}}})))
                ->error,
            ErrorCode::inconsistent_group_protocol);
  JoinRequest hasty = join_request("", "c");
  hasty.session_timeout_ms = 100;
  EXPECT_EQ(script.answer<JoinResponse>(script.join(hasty))->error,
            ErrorCode::invalid_session_timeout);
  EXPECT_EQ(script.answer<JoinResponse>(script.join(join_request("made-up", "c")))->error,
            ErrorCode::unknown_member_id);
}

TEST(ClassicGroupTest, ProtocolChosenByVotesAmongCommonOnes) {
  Script script;
  auto [a_join, a] = script.join_new("a", {{"range", {}}, {"roundrobin", {}}});
  auto [b_join, b] = script.join_new("b", {{"roundrobin", {}}, {"range", {}}, {"sticky", {}}});
  auto [c_join, c] = script.join_new("c", {{"roundrobin", {}}, {"range", {}}});
  script.advance(0);
  EXPECT_EQ(script.answer<JoinResponse>(a_join)->protocol_name, "roundrobin");
  EXPECT_EQ(script.group().protocol_name(), "roundrobin");
}

TEST(ClassicGroupTest, OlderClientsJoinWithoutMemberIdRequired) {
  Script script;
  JoinRequest old = join_request("", "a");
  old.api_version = 3;
  const Token token = script.join(old);
  EXPECT_FALSE(script.answered(token));
  script.advance(0);
  EXPECT_EQ(script.answer<JoinResponse>(token)->error, ErrorCode::none);
}

TEST(ClassicGroupTest, PendingMemberThatNeverRejoinsExpires) {
  Script script;
  const Token first = script.join(join_request("", "a"));
  const std::string id = script.answer<JoinResponse>(first)->member_id;
  EXPECT_TRUE(script.group().is_pending_member(id));
  script.advance(30000);
  EXPECT_FALSE(script.group().is_pending_member(id));
}

TEST(ClassicGroupTest, OffsetCommitChecks) {
  Script script;
  const CommitIdentity simple{kNoGeneration, "", std::nullopt, false};
  EXPECT_EQ(script.group().validate_offset_commit(simple), ErrorCode::none);  // Empty
  auto [a_join, a] = script.join_new("a");
  script.advance(0);
  // CompletingRebalance: the member knows its generation but not its partitions.
  EXPECT_EQ(script.group().validate_offset_commit({GenerationId(1), a, std::nullopt, false}),
            ErrorCode::rebalance_in_progress);
  script.sync(a, {{a, bytes({1})}});
  script.persist_all();
  EXPECT_EQ(script.group().validate_offset_commit({GenerationId(1), a, std::nullopt, false}),
            ErrorCode::none);
  EXPECT_EQ(script.group().validate_offset_commit(simple), ErrorCode::unknown_member_id);
  EXPECT_EQ(script.group().validate_offset_commit({GenerationId(0), a, std::nullopt, false}),
            ErrorCode::illegal_generation);
  EXPECT_EQ(script.group().validate_offset_commit({GenerationId(1), "b", std::nullopt, false}),
            ErrorCode::unknown_member_id);
  EXPECT_EQ(script.group().offset_expiry(), std::nullopt);  // members keep their offsets
}

TEST(ClassicGroupTest, RestoreFromRecordRebuildsAStableGroup) {
  Script script;
  StableGroup stable(script);
  const GroupMetadataValue value = script.group().to_record_value();
  GroupSettings next = settings();
  next.coordinator_epoch = 2;  // a new coordinator loads the group
  ClassicGroup restored = ClassicGroup::restore(next, value, script.now());
  EXPECT_EQ(restored.state(), GroupState::stable);
  EXPECT_EQ(restored.generation(), GenerationId(1));
  EXPECT_EQ(restored.leader(), stable.a);
  ASSERT_NE(restored.member(stable.b), nullptr);
  EXPECT_EQ(restored.member(stable.b)->assignment, bytes({2}));
  EXPECT_EQ(restored.to_record_value(), value);
  // Sessions restart at load: the members have their timeout to heartbeat.
  EXPECT_EQ(restored.next_deadline(), script.now().monotonic + milliseconds(30000));
}

TEST(ClassicGroupTest, UnloadAnswersParkedRequestsNotCoordinator) {
  Script script;
  StableGroup stable(script);
  const Token a_join = script.join(join_request(stable.a, "a"));
  script.absorb(script.group().unload(script.now()));
  EXPECT_EQ(script.answer<JoinResponse>(a_join)->error, ErrorCode::not_coordinator);
  EXPECT_EQ(script.group().state(), GroupState::dead);
  EXPECT_EQ(script.heartbeat(stable.b), ErrorCode::coordinator_not_available);
}

}  // namespace
}  // namespace weir::group

// --- Property: random clients never break the group's invariants -------------------------

namespace weir::group {
namespace {

// Four clients (two static) send random requests, time jumps, appends succeed or fail
// at random. ClassicGroup checks its invariants after every step (a VERIFY failure
// throws); here every token is answered at most once, and after unload exactly once.
// group.max.size is not an invariant: while preparing, Kafka counts only the members
// that rejoined, and static members that did not rejoin stay.
RC_GTEST_PROP(ClassicGroupProperty, RandomClientsKeepInvariants, ()) {
  GroupSettings group_settings = settings(milliseconds(*rc::gen::element(0, 3000)));
  group_settings.max_size = *rc::gen::inRange(1, 5);
  int64_t clock_ms = 0;
  auto now = [&] {
    return Now{runtime::Instant::from_nanoseconds(clock_ms * 1'000'000),
               runtime::WallTime{kWallStartMs + clock_ms}};
  };
  ClassicGroup group(group_settings, now());
  uint64_t next_token = 1;
  std::set<uint64_t> issued;
  std::set<uint64_t> answered;
  std::vector<PersistId> persists;
  std::map<int, std::string> member_ids;  // client -> id it was last told
  auto absorb = [&](Effects effects) {
    for (const Reply& reply : effects.replies) {
      RC_ASSERT(issued.contains(reply.token.value()));
      RC_ASSERT(answered.insert(reply.token.value()).second);
      if (const auto* join = std::get_if<JoinResponse>(&reply.response)) {
        if (!join->member_id.empty()) member_ids[static_cast<int>(reply.token.value() % 4)] =
                                           join->member_id;
      }
    }
    for (const PersistRequest& persist : effects.persists) persists.push_back(persist.id);
    RC_ASSERT(effects.next_deadline == group.next_deadline());
  };
  // A client's token is ≡ client (mod 4), so answers find their way back.
  auto token_for = [&](int client) {
    while (next_token % 4 != static_cast<uint64_t>(client)) next_token++;
    issued.insert(next_token);
    return Token(next_token++);
  };
  const int steps = *rc::gen::inRange(1, 120);
  for (int step = 0; step < steps; step++) {
    const int client = *rc::gen::inRange(0, 4);
    const bool is_static = client >= 2;
    const std::string known = member_ids.contains(client) ? member_ids[client] : "";
    switch (*rc::gen::inRange(0, 8)) {
      case 0:
      case 1: {
        JoinRequest request = join_request(*rc::gen::element(std::string(), known),
                                           fmt::format("client{}", client));
        if (is_static) request.group_instance_id = fmt::format("instance{}", client);
        request.api_version = *rc::gen::element<int16_t>(3, 9);
        if (*rc::gen::arbitrary<bool>()) request.protocols.push_back({"roundrobin", {2}});
        absorb(group.join(request, token_for(client), now()));
        break;
      }
      case 2: {
        SyncRequest request;
        request.generation = group.generation() - *rc::gen::element(0, 1);
        request.member_id = known;
        if (is_static) request.group_instance_id = fmt::format("instance{}", client);
        for (const auto& [id, member] : group.members()) request.assignments.push_back({id, {}});
        absorb(group.sync(request, token_for(client), now()));
        break;
      }
      case 3: {
        HeartbeatRequest request{group.generation(), known, std::nullopt};
        if (is_static) request.group_instance_id = fmt::format("instance{}", client);
        absorb(group.heartbeat(request, token_for(client), now()));
        break;
      }
      case 4: {
        LeaveRequest request;
        request.members.push_back({known, std::nullopt});
        if (is_static && *rc::gen::arbitrary<bool>()) {
          request.members.back() = {"", fmt::format("instance{}", client)};
        }
        absorb(group.leave(request, token_for(client), now()));
        break;
      }
      case 5:
        clock_ms += *rc::gen::element(0, 1000, 10000, 40000);
        absorb(group.tick(now()));
        break;
      case 6:
      case 7:
        if (!persists.empty()) {
          const PersistId id = persists.front();
          persists.erase(persists.begin());
          if (*rc::gen::inRange(0, 4) == 0) {
            absorb(group.on_persist_failed(id, PersistFailure::unavailable, now()));
          } else {
            absorb(group.on_persisted(id, now()));
          }
        }
        break;
    }
  }
  absorb(group.unload(now()));
  RC_ASSERT(answered == issued);
}

}  // namespace
}  // namespace weir::group
