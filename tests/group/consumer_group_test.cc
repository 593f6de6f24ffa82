// ConsumerGroup (KIP-848) driven by clients in miniature: each test member heartbeats
// with what it owns and takes the assignment the group answers, as Kafka 4.x's
// consumer does. The group VERIFYs after every step that no partition is held by two
// members; the tests read as the protocol's promises.
#include "group/consumer_group.h"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <rapidcheck.h>
#include <rapidcheck/gtest.h>

namespace weir::group {
namespace {

Uuid topic_id(uint8_t n) {
  Uuid id;
  id.bytes[15] = n;
  return id;
}

const Uuid kOrders = topic_id(1);
const Uuid kClicks = topic_id(2);

TopicImage image(int32_t orders = 6, int32_t clicks = 0) {
  TopicImage topics;
  if (orders > 0) topics["orders"] = {kOrders, orders};
  if (clicks > 0) topics["clicks"] = {kClicks, clicks};
  return topics;
}

size_t count(const TopicPartitions& set) {
  size_t n = 0;
  for (const auto& [topic, partitions] : set) n += partitions.size();
  return n;
}

// The time and the image the test's group sees.
struct World {
  ConsumerGroup group;
  int64_t now_ms = 0;
  TopicImage topics = image();

  explicit World(ConsumerGroupSettings settings = make_settings()) : group(std::move(settings)) {}
  static ConsumerGroupSettings make_settings() {
    ConsumerGroupSettings s;
    s.group_id = "g";
    s.coordinator_epoch = 1;
    return s;
  }
  Instant now() const { return Instant::from_nanoseconds(now_ms * 1'000'000); }
  void advance(int64_t ms) {
    now_ms += ms;
    group.tick(now(), topics);
  }
};

// A faithful member: sends what it owns, adopts each assignment it is given (giving up
// what is not in it at once).
struct Client {
  World* world;
  std::string member_id;
  int32_t epoch = kJoinEpoch;
  TopicPartitions owned;
  std::vector<std::string> subscription = {"orders"};
  std::optional<std::string> assignor;
  std::optional<std::string> instance;
  ConsumerHeartbeatResult last;

  ConsumerHeartbeat request() const {
    ConsumerHeartbeat r;
    r.member_id = member_id;
    r.member_epoch = epoch;
    r.client_id = "c";
    r.client_host = "/127.0.0.1";
    r.instance_id = instance;
    r.rebalance_timeout_ms = 10000;
    r.subscribed_topic_names = subscription;
    r.server_assignor = assignor;
    r.owned = owned;
    return r;
  }
  ErrorCode beat() { return send(request()); }
  ErrorCode send(const ConsumerHeartbeat& r) {
    last = world->group.heartbeat(r, world->now(), world->topics);
    if (last.error != ErrorCode::none) return last.error;
    member_id = last.member_id;
    epoch = last.member_epoch;
    if (last.assignment) owned = *last.assignment;
    return ErrorCode::none;
  }
  ErrorCode leave() {
    ConsumerHeartbeat r = request();
    r.member_epoch = kLeaveEpoch;
    return send(r);
  }
};

// What a new coordinator makes of the group: its records encoded, decoded, replayed
// and restored at `now`.
std::optional<ConsumerGroup> failover(const ConsumerGroup& group, Instant now) {
  ConsumerGroupSettings settings = World::make_settings();
  settings.coordinator_epoch = group.coordinator_epoch() + 1;  // a new coordinator
  StoredConsumerGroup stored;
  for (const OffsetsRecord& record : group.records()) {
    const EncodedRecord encoded = encode_record(record);
    auto decoded = decode_record(encoded.key, std::span<const uint8_t>(*encoded.value));
    if (!decoded.ok() || !(*decoded == record)) return std::nullopt;
    stored.replay(std::get<ConsumerGroupKey>(decoded->key), decoded->value);
  }
  return ConsumerGroup::restore(std::move(settings), stored, now);
}

// Heartbeats every client in turn until the group is Stable (or gives up).
bool settle(World& world, std::vector<Client*> clients, int rounds = 10) {
  for (int round = 0; round < rounds; round++) {
    for (Client* c : clients) {
      if (c->beat() != ErrorCode::none) return false;
    }
    if (world.group.state() == ConsumerGroupState::stable) return true;
  }
  return false;
}

TEST(ConsumerGroup, ALoneMemberGetsEveryPartitionAtTheGroupEpoch) {
  World world;
  Client a{&world};
  ASSERT_EQ(a.beat(), ErrorCode::none);
  EXPECT_FALSE(a.member_id.empty()) << "a v0 member's id is made by the group";
  EXPECT_EQ(a.epoch, world.group.group_epoch());
  EXPECT_EQ(count(a.owned), 6u);
  EXPECT_EQ(world.group.state(), ConsumerGroupState::stable);
  EXPECT_EQ(a.last.heartbeat_interval_ms, 5000);
}

TEST(ConsumerGroup, APartitionMovesOnlyAfterItsOwnerRevokedIt) {
  World world;
  Client a{&world}, b{&world};
  ASSERT_EQ(a.beat(), ErrorCode::none);
  const int32_t first_epoch = a.epoch;
  ASSERT_EQ(b.beat(), ErrorCode::none);
  // b is at the new epoch but gets nothing a still holds.
  EXPECT_GT(b.epoch, first_epoch);
  EXPECT_EQ(count(b.owned), 0u);
  EXPECT_EQ(world.group.members().at(b.member_id).state, MemberState::unreleased_partitions);

  // a is told to give up three, keeping its epoch until it has.
  ASSERT_EQ(a.send([&] {
              ConsumerHeartbeat r = a.request();
              return r;
            }()),
            ErrorCode::none);
  EXPECT_EQ(a.epoch, first_epoch);
  EXPECT_EQ(count(a.owned), 3u) << "the assignment a is sent keeps only what stays";
  EXPECT_EQ(world.group.members().at(a.member_id).state, MemberState::unrevoked_partitions);
  EXPECT_EQ(world.group.state(), ConsumerGroupState::reconciling);

  // b still cannot have them: a has not said it let go.
  ASSERT_EQ(b.beat(), ErrorCode::none);
  EXPECT_EQ(count(b.owned), 0u);

  // a's next heartbeat shows the three gone: it moves to the new epoch, then b gets them.
  ASSERT_EQ(a.beat(), ErrorCode::none);
  EXPECT_EQ(a.epoch, b.epoch);
  ASSERT_EQ(b.beat(), ErrorCode::none);
  EXPECT_EQ(count(b.owned), 3u);
  EXPECT_EQ(world.group.state(), ConsumerGroupState::stable);
}

TEST(ConsumerGroup, AStaleOrUnknownMemberIsFenced) {
  World world;
  Client a{&world}, b{&world};
  ASSERT_TRUE(settle(world, {&a, &b}));
  ConsumerHeartbeat stale = a.request();
  stale.member_epoch = a.epoch + 1;
  EXPECT_EQ(world.group.heartbeat(stale, world.now(), world.topics).error,
            ErrorCode::fenced_member_epoch);
  ConsumerHeartbeat stranger = a.request();
  stranger.member_id = "nobody";
  EXPECT_EQ(world.group.heartbeat(stranger, world.now(), world.topics).error,
            ErrorCode::unknown_member_id);
  // One epoch behind, owning only what it was given: the answer that moved it was lost.
  Client c{&world};
  ASSERT_TRUE(settle(world, {&a, &b, &c}));
  ConsumerHeartbeat behind = a.request();
  behind.member_epoch = world.group.members().at(a.member_id).previous_member_epoch;
  EXPECT_EQ(world.group.heartbeat(behind, world.now(), world.topics).error, ErrorCode::none);
}

TEST(ConsumerGroup, AnExpiredSessionFreesTheMembersPartitions) {
  World world;
  Client a{&world}, b{&world};
  ASSERT_TRUE(settle(world, {&a, &b}));
  world.advance(30000);
  ASSERT_EQ(a.beat(), ErrorCode::none);
  world.advance(30000);  // b silent for 60 s: past its 45 s session
  EXPECT_FALSE(world.group.members().contains(b.member_id));
  ASSERT_TRUE(settle(world, {&a}));
  EXPECT_EQ(count(a.owned), 6u);
  EXPECT_EQ(b.beat(), ErrorCode::unknown_member_id);
}

TEST(ConsumerGroup, AMemberThatDoesNotRevokeWithinItsRebalanceTimeoutIsRemoved) {
  World world;
  Client a{&world};
  ASSERT_EQ(a.beat(), ErrorCode::none);
  const TopicPartitions everything = a.owned;
  Client b{&world};
  ASSERT_EQ(b.beat(), ErrorCode::none);
  // a hears it must revoke but keeps claiming everything.
  ConsumerHeartbeat stubborn = a.request();
  stubborn.owned = everything;
  ASSERT_EQ(world.group.heartbeat(stubborn, world.now(), world.topics).error, ErrorCode::none);
  world.advance(5000);
  ASSERT_EQ(world.group.heartbeat(stubborn, world.now(), world.topics).error, ErrorCode::none);
  EXPECT_EQ(count(b.owned), 0u) << "b waits while a has not revoked";
  world.advance(6000);  // past a's 10 s rebalance timeout
  EXPECT_FALSE(world.group.members().contains(a.member_id));
  ASSERT_TRUE(settle(world, {&b}));
  EXPECT_EQ(count(b.owned), 6u);
}

TEST(ConsumerGroup, ALeavingMembersPartitionsGoToTheOthers) {
  World world;
  Client a{&world}, b{&world};
  ASSERT_TRUE(settle(world, {&a, &b}));
  ASSERT_EQ(b.leave(), ErrorCode::none);
  EXPECT_EQ(b.last.member_epoch, kLeaveEpoch);
  ASSERT_TRUE(settle(world, {&a}));
  EXPECT_EQ(count(a.owned), 6u);
}

TEST(ConsumerGroup, ASubscribedTopicThatGrowsOrAppearsIsAssigned) {
  World world;
  Client a{&world}, b{&world};
  a.subscription = b.subscription = {"clicks", "orders"};
  ASSERT_TRUE(settle(world, {&a, &b}));
  EXPECT_EQ(count(a.owned) + count(b.owned), 6u) << "clicks does not exist yet";
  const int32_t before = world.group.group_epoch();
  world.topics = image(8, 4);
  ASSERT_TRUE(settle(world, {&a, &b}));
  EXPECT_GT(world.group.group_epoch(), before);
  EXPECT_EQ(count(a.owned) + count(b.owned), 12u);
  EXPECT_EQ(count(a.owned), 6u) << "uniform: 12 partitions, two members";
}

TEST(ConsumerGroup, BadHeartbeatsGetKafkasErrors) {
  ConsumerGroupSettings settings = World::make_settings();
  settings.max_size = 1;
  World world(settings);
  Client a{&world};
  ConsumerHeartbeat no_subscription = a.request();
  no_subscription.subscribed_topic_names.reset();
  EXPECT_EQ(world.group.heartbeat(no_subscription, world.now(), world.topics).error,
            ErrorCode::invalid_request);
  ConsumerHeartbeat no_timeout = a.request();
  no_timeout.rebalance_timeout_ms = -1;
  EXPECT_EQ(world.group.heartbeat(no_timeout, world.now(), world.topics).error,
            ErrorCode::invalid_request);
  a.assignor = "sticky";
  EXPECT_EQ(a.beat(), ErrorCode::unsupported_assignor);
  a.assignor = "range";
  a.instance = "i-1";
  ASSERT_EQ(a.beat(), ErrorCode::none);
  Client b{&world};
  EXPECT_EQ(b.beat(), ErrorCode::group_max_size_reached);
  Client again{&world};
  again.instance = "i-1";
  again.member_id = "another-incarnation";
  EXPECT_EQ(again.beat(), ErrorCode::unreleased_instance_id)
      << "a static member's instance id is taken until the old incarnation goes";
  ConsumerHeartbeat empty_id = a.request();
  empty_id.member_id = "";
  empty_id.member_epoch = 3;
  EXPECT_EQ(world.group.heartbeat(empty_id, world.now(), world.topics).error,
            ErrorCode::invalid_request);
}

TEST(ConsumerGroup, OffsetCommitsAreCheckedAgainstTheMemberEpoch) {
  World world;
  EXPECT_EQ(world.group.validate_offset_commit("", -1), ErrorCode::none)
      << "a simple commit to an empty group";
  Client a{&world};
  ASSERT_TRUE(settle(world, {&a}));
  EXPECT_EQ(world.group.validate_offset_commit(a.member_id, a.epoch), ErrorCode::none);
  EXPECT_EQ(world.group.validate_offset_commit(a.member_id, a.epoch - 1),
            ErrorCode::stale_member_epoch);
  EXPECT_EQ(world.group.validate_offset_commit("nobody", a.epoch), ErrorCode::unknown_member_id);
  EXPECT_EQ(world.group.validate_offset_commit("", -1), ErrorCode::unknown_member_id)
      << "a simple commit while members own partitions";
}

TEST(ConsumerGroup, AKnownMemberRejoiningWithEpochZeroStartsOver) {
  World world;
  Client a{&world}, b{&world};
  ASSERT_TRUE(settle(world, {&a, &b}));
  a.epoch = kJoinEpoch;  // say a restarted with its id and lost everything
  a.owned.clear();
  ASSERT_TRUE(settle(world, {&a, &b}));
  EXPECT_EQ(count(a.owned), 3u);
  EXPECT_EQ(count(b.owned), 3u);
}

TEST(ConsumerGroup, ARestoredGroupContinuesWhereItsRecordsLeftIt) {
  World world;
  Client a{&world}, b{&world};
  ASSERT_TRUE(settle(world, {&a}));
  ASSERT_EQ(b.beat(), ErrorCode::none);  // b joins: a must revoke half before b gets it
  ASSERT_EQ(a.beat(), ErrorCode::none);  // a is told to give three up...
  ASSERT_EQ(count(a.owned), 3u);         // ...and (a faithful client) does at once
  const std::vector<OffsetsRecord> before = world.group.records();
  const int32_t epoch = world.group.group_epoch();

  world.now_ms += 1000;
  std::optional<ConsumerGroup> restored = failover(world.group, world.now());
  ASSERT_TRUE(restored.has_value());
  EXPECT_EQ(restored->records(), before);
  world.group = std::move(*restored);
  // The members go on with the epochs they had: no rejoin, no new group epoch.
  ASSERT_TRUE(settle(world, {&a, &b}));
  EXPECT_EQ(world.group.group_epoch(), epoch);
  EXPECT_EQ(count(a.owned) + count(b.owned), 6u);
  EXPECT_EQ(a.epoch, epoch);
  EXPECT_EQ(b.epoch, epoch);

  // Sessions restart at the restore: b falls silent and is removed a session later.
  world.group = *failover(world.group, world.now());
  world.advance(44000);
  ASSERT_EQ(a.beat(), ErrorCode::none);
  world.advance(2000);
  EXPECT_EQ(world.group.members().size(), 1u);
  ASSERT_TRUE(settle(world, {&a}));
  EXPECT_EQ(count(a.owned), 6u);
}

TEST(ConsumerGroup, RecordsThatContradictEachOtherAreNotRestored) {
  World world;
  Client a{&world}, b{&world};
  ASSERT_TRUE(settle(world, {&a, &b}));
  StoredConsumerGroup stored;
  for (const OffsetsRecord& record : world.group.records()) {
    stored.replay(std::get<ConsumerGroupKey>(record.key), record.value);
  }
  ASSERT_TRUE(ConsumerGroup::restore(World::make_settings(), stored, world.now()).has_value());
  // b's current assignment claims a's partitions too.
  StoredConsumerGroup twice = stored;
  twice.current.at(b.member_id).assigned = stored.current.at(a.member_id).assigned;
  EXPECT_FALSE(ConsumerGroup::restore(World::make_settings(), twice, world.now()).has_value());
  // No group epoch.
  StoredConsumerGroup headless = stored;
  headless.metadata.reset();
  EXPECT_FALSE(ConsumerGroup::restore(World::make_settings(), headless, world.now()).has_value());
  // An unknown member state byte.
  StoredConsumerGroup unknown = stored;
  unknown.current.at(a.member_id).state = 9;
  EXPECT_FALSE(ConsumerGroup::restore(World::make_settings(), unknown, world.now()).has_value());
}

TEST(ConsumerGroupAssignors, UniformIsBalancedAndSticky) {
  TopicImage topics = image(10);
  absl::btree_map<std::string, AssignorMember> members;
  for (const char* id : {"a", "b", "c"}) members[id].subscribed = {"orders"};
  auto first = assign(AssignorKind::uniform, members, topics);
  std::vector<size_t> sizes;
  for (const auto& [id, tp] : first) sizes.push_back(count(tp));
  EXPECT_EQ(sizes, (std::vector<size_t>{4, 3, 3}));
  // A fourth member: each old member gives up only what balance needs.
  for (const auto& [id, tp] : first) members[id].current = tp;
  members["d"].subscribed = {"orders"};
  auto second = assign(AssignorKind::uniform, members, topics);
  size_t kept = 0;
  for (const char* id : {"a", "b", "c"}) {
    for (const auto& [topic, partitions] : second[id]) {
      for (int32_t p : partitions) kept += first[id].at(topic).contains(p) ? 1 : 0;
    }
  }
  EXPECT_EQ(kept, 8u) << "10 partitions over 4 members: 3,3,2,2 — the old three keep 8";
  EXPECT_EQ(count(second["d"]), 2u);
}

TEST(ConsumerGroupAssignors, RangeSplitsEachTopicIntoContiguousRanges) {
  TopicImage topics = image(7, 2);
  absl::btree_map<std::string, AssignorMember> members;
  members["a"].subscribed = {"clicks", "orders"};
  members["b"].subscribed = {"clicks", "orders"};
  members["c"].subscribed = {"orders"};
  auto out = assign(AssignorKind::range, members, topics);
  EXPECT_EQ(out["a"].at(kOrders), (absl::btree_set<int32_t>{0, 1, 2}));
  EXPECT_EQ(out["b"].at(kOrders), (absl::btree_set<int32_t>{3, 4}));
  EXPECT_EQ(out["c"].at(kOrders), (absl::btree_set<int32_t>{5, 6}));
  EXPECT_EQ(out["a"].at(kClicks), (absl::btree_set<int32_t>{0}));
  EXPECT_EQ(out["b"].at(kClicks), (absl::btree_set<int32_t>{1}));
  EXPECT_FALSE(out["c"].contains(kClicks));
}

// Random members joining, leaving, falling silent, lying about what they own, topics
// growing and the coordinator failing over (the group restored from its records, which
// must give back the same records): the group's own invariants (no partition held
// twice) hold at every step, and once the survivors heartbeat faithfully the group
// becomes Stable with every partition owned by exactly one of them.
RC_GTEST_PROP(ConsumerGroupProperty, RandomMembersNeverShareAPartitionAndConverge, ()) {
  World world;
  world.topics = image(*rc::gen::inRange(1, 12));
  const bool range = *rc::gen::arbitrary<bool>();
  std::vector<Client> clients;
  clients.reserve(5);
  for (int i = 0; i < 5; i++) {
    clients.push_back(Client{&world});
    if (range) clients.back().assignor = "range";
  }
  std::vector<bool> joined(5, false);
  const int steps = *rc::gen::inRange(1, 80);
  for (int step = 0; step < steps; step++) {
    Client& c = clients[static_cast<size_t>(*rc::gen::inRange(0, 5))];
    const size_t i = static_cast<size_t>(&c - clients.data());
    switch (*rc::gen::inRange(0, 7)) {
      case 0:
      case 1:
        if (c.beat() == ErrorCode::none) {
          joined[i] = true;
        } else {
          c = Client{&world};  // fenced or unknown: rejoin from scratch
          if (range) c.assignor = "range";
        }
        break;
      case 2: {  // heartbeats without saying what it owns
        ConsumerHeartbeat r = c.request();
        r.owned.reset();
        if (c.epoch != kJoinEpoch) (void)world.group.heartbeat(r, world.now(), world.topics);
        break;
      }
      case 3:
        if (joined[i]) (void)c.leave();
        c = Client{&world};
        if (range) c.assignor = "range";
        joined[i] = false;
        break;
      case 4: world.advance(*rc::gen::inRange(100, 20000)); break;
      case 5: world.topics = image(world.topics.at("orders").partitions + 1); break;
      case 6: {
        std::optional<ConsumerGroup> restored = failover(world.group, world.now());
        RC_ASSERT(restored.has_value());
        RC_ASSERT(restored->records() == world.group.records());
        world.group = std::move(*restored);
        break;
      }
    }
  }
  // The survivors (and whoever was dropped, rejoining) heartbeat faithfully.
  std::vector<Client*> all;
  for (Client& c : clients) {
    if (c.beat() != ErrorCode::none) {
      c = Client{&world};
      if (range) c.assignor = "range";
      RC_ASSERT(c.beat() == ErrorCode::none);
    }
    all.push_back(&c);
  }
  RC_ASSERT(settle(world, all, 6));
  size_t owned = 0;
  for (Client* c : all) owned += count(c->owned);
  RC_ASSERT(owned == static_cast<size_t>(world.topics.at("orders").partitions));
}

}  // namespace
}  // namespace weir::group
