// The pure parts of the group consumer: the consumer protocol's byte layouts, the range
// and roundrobin assignors, and the Membership state machine. Plain GoogleTest: no
// network, no fibers, time passed in.
#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

#include "client/consumer_protocol.h"
#include "client/group_consumer.h"
#include "client/group_membership.h"

namespace weir::client {
namespace {

using protocol::ErrorCode;
using runtime::Instant;
using runtime::milliseconds;
using runtime::seconds;

ProtocolBytes hex(std::initializer_list<int> bytes) {
  ProtocolBytes out;
  for (int b : bytes) out.push_back(static_cast<uint8_t>(b));
  return out;
}

AssignorMember member(std::string id, std::vector<std::string> topics,
                      std::optional<std::string> instance = std::nullopt) {
  AssignorMember m;
  m.member_id = std::move(id);
  m.group_instance_id = std::move(instance);
  m.subscription.topics = std::move(topics);
  return m;
}

std::vector<TopicPartition> tps(const std::string& topic, std::vector<int32_t> partitions) {
  std::vector<TopicPartition> out;
  for (int32_t p : partitions) out.push_back(TopicPartition{topic, p});
  return out;
}

// --- Byte layouts --------------------------------------------------------------------

TEST(ConsumerProtocol, SubscriptionV0IsKafkasLayout) {
  Subscription subscription;
  subscription.topics = {"ab"};
  // version 0, [1 topic] "ab", user_data null (-1): what Java's ConsumerProtocol writes.
  EXPECT_EQ(encode_subscription(subscription),
            hex({0, 0, 0, 0, 0, 1, 0, 2, 'a', 'b', 0xff, 0xff, 0xff, 0xff}));
}

TEST(ConsumerProtocol, DecodesKafkaPythonsSubscription) {
  // kafka-python writes version 0 with an empty (not null) user_data.
  auto decoded = decode_subscription(hex({0, 0, 0, 0, 0, 2, 0, 1, 'x', 0, 1, 'y', 0, 0, 0, 0}));
  ASSERT_TRUE(decoded.ok());
  EXPECT_EQ(decoded->topics, (std::vector<std::string>{"x", "y"}));
  EXPECT_EQ(decoded->user_data, ProtocolBytes{});
}

TEST(ConsumerProtocol, SubscriptionV3RoundTripsAndV0TailIsTolerated) {
  Subscription subscription;
  subscription.topics = {"t"};
  subscription.owned_partitions = tps("t", {0, 2});
  subscription.generation = 7;
  subscription.rack = "r1";
  auto decoded = decode_subscription(encode_subscription(subscription, 3));
  ASSERT_TRUE(decoded.ok());
  EXPECT_EQ(*decoded, subscription);
  // A higher version with only the v0 fields (old librdkafka) reads with defaults.
  ProtocolBytes short_v3 = encode_subscription(Subscription{{"t"}, {}, {}, -1, {}}, 0);
  short_v3[1] = 3;
  auto tolerant = decode_subscription(short_v3);
  ASSERT_TRUE(tolerant.ok());
  EXPECT_EQ(tolerant->topics, std::vector<std::string>{"t"});
  EXPECT_EQ(tolerant->generation, -1);
}

TEST(ConsumerProtocol, AssignmentLayoutAndRoundTrip) {
  Assignment assignment;
  assignment.partitions = tps("t", {1, 3});
  EXPECT_EQ(encode_assignment(assignment), hex({0, 0, 0, 0, 0, 1, 0, 1, 't',  0,    0,    0,   2,
                                                0, 0, 0, 1, 0, 0, 0, 3, 0xff, 0xff, 0xff, 0xff}));
  auto decoded = decode_assignment(encode_assignment(assignment));
  ASSERT_TRUE(decoded.ok());
  EXPECT_EQ(*decoded, assignment);
}

TEST(ConsumerProtocol, MalformedBytesAreErrors) {
  EXPECT_EQ(decode_subscription(hex({0})).error(), ProtocolDecodeError::truncated);
  EXPECT_EQ(decode_subscription(hex({0xff, 0xff})).error(), ProtocolDecodeError::negative_version);
  // A topic count far beyond the bytes left does not allocate; it is truncated.
  EXPECT_EQ(decode_assignment(hex({0, 0, 0x7f, 0xff, 0xff, 0xff})).error(),
            ProtocolDecodeError::truncated);
  EXPECT_EQ(decode_assignment(hex({0, 0, 0, 0, 0, 1, 0xff, 0xfe, 0, 0, 0, 0})).error(),
            ProtocolDecodeError::invalid_length);
}

RC_GTEST_PROP(ConsumerProtocol, DecodingArbitraryBytesNeverCrashes, (std::vector<uint8_t> bytes)) {
  (void)decode_subscription(bytes);
  (void)decode_assignment(bytes);
}

// --- Assignors -------------------------------------------------------------------------

TEST(RangeAssignor, SplitsEachTopicInConsecutiveRanges) {
  // Kafka's RangeAssignor javadoc example: t0, t1 with 3 partitions, C0 and C1.
  auto out = assign_range({member("C1", {"t0", "t1"}), member("C0", {"t0", "t1"})},
                          {{"t0", 3}, {"t1", 3}});
  std::vector<TopicPartition> c0 = {{"t0", 0}, {"t0", 1}, {"t1", 0}, {"t1", 1}};
  std::vector<TopicPartition> c1 = {{"t0", 2}, {"t1", 2}};
  EXPECT_EQ(out["C0"].partitions, c0);
  EXPECT_EQ(out["C1"].partitions, c1);
}

TEST(RangeAssignor, FourPartitionsTwoMembersAndOnlySubscribers) {
  auto out = assign_range({member("a", {"t"}), member("b", {"t"}), member("c", {"u"})},
                          {{"t", 4}, {"u", 1}, {"v", 5}});
  EXPECT_EQ(out["a"].partitions, tps("t", {0, 1}));
  EXPECT_EQ(out["b"].partitions, tps("t", {2, 3}));
  EXPECT_EQ(out["c"].partitions, tps("u", {0}));
  EXPECT_EQ(out.size(), 3U);
}

TEST(RangeAssignor, MoreMembersThanPartitionsAndUnknownTopics) {
  auto out = assign_range({member("a", {"t", "gone"}), member("b", {"t"}), member("c", {"t"})},
                          {{"t", 2}});
  EXPECT_EQ(out["a"].partitions, tps("t", {0}));
  EXPECT_EQ(out["b"].partitions, tps("t", {1}));
  EXPECT_TRUE(out["c"].partitions.empty());  // present, empty
}

TEST(RangeAssignor, StaticMembersComeFirstByInstanceId) {
  auto out = assign_range({member("a", {"t"}), member("z", {"t"}, "i2"), member("y", {"t"}, "i1")},
                          {{"t", 3}});
  EXPECT_EQ(out["y"].partitions, tps("t", {0}));
  EXPECT_EQ(out["z"].partitions, tps("t", {1}));
  EXPECT_EQ(out["a"].partitions, tps("t", {2}));
}

TEST(RoundRobinAssignor, DealsPartitionsInTurn) {
  // Kafka's RoundRobinAssignor javadoc example.
  auto out = assign_roundrobin({member("C0", {"t0", "t1"}), member("C1", {"t0", "t1"})},
                               {{"t0", 3}, {"t1", 3}});
  std::vector<TopicPartition> c0 = {{"t0", 0}, {"t0", 2}, {"t1", 1}};
  std::vector<TopicPartition> c1 = {{"t0", 1}, {"t1", 0}, {"t1", 2}};
  EXPECT_EQ(out["C0"].partitions, c0);
  EXPECT_EQ(out["C1"].partitions, c1);
}

// Properties every assignor keeps: each partition of a subscribed topic goes to exactly
// one subscriber; every member is named; the input order does not matter.
RC_GTEST_PROP(Assignors, EveryPartitionOnceToASubscriber, ()) {
  const auto member_count = *rc::gen::inRange<int>(1, 6);
  const auto topic_count = *rc::gen::inRange<int>(1, 4);
  PartitionCounts counts;
  std::vector<std::string> topic_names;
  for (int t = 0; t < topic_count; t++) {
    topic_names.push_back("t" + std::to_string(t));
    counts[topic_names.back()] = *rc::gen::inRange<int32_t>(1, 9);
  }
  std::vector<AssignorMember> members;
  for (int m = 0; m < member_count; m++) {
    std::vector<std::string> subscribed;
    for (const std::string& topic : topic_names) {
      if (*rc::gen::arbitrary<bool>()) subscribed.push_back(topic);
    }
    members.push_back(member("m" + std::to_string(m), subscribed));
  }
  for (AssignorKind kind : {AssignorKind::range, AssignorKind::roundrobin}) {
    GroupAssignment out = assign(kind, members, counts);
    RC_ASSERT(out.size() == members.size());
    absl::btree_map<TopicPartition, int> owners;
    for (const AssignorMember& m : members) {
      for (const TopicPartition& tp : out[m.member_id].partitions) {
        owners[tp]++;
        const auto& topics = m.subscription.topics;
        RC_ASSERT(std::find(topics.begin(), topics.end(), tp.topic) != topics.end());
      }
    }
    for (const auto& [topic, count] : counts) {
      bool subscribed = false;
      for (const AssignorMember& m : members) {
        const auto& topics = m.subscription.topics;
        subscribed |= std::find(topics.begin(), topics.end(), topic) != topics.end();
      }
      for (int32_t p = 0; p < count; p++) {
        const TopicPartition tp{topic, p};
        RC_ASSERT(owners[tp] == (subscribed ? 1 : 0));
      }
    }
    std::vector<AssignorMember> reversed(members.rbegin(), members.rend());
    RC_ASSERT(assign(kind, reversed, counts) == out);
  }
}

// --- Configuration -------------------------------------------------------------------

TEST(GroupConsumerConfig, KafkaPropertyNamesAndErrorsNamingTheKey) {
  GroupConsumerConfig config;
  EXPECT_EQ(validate_group_consumer_config(config), "group.id is required");
  EXPECT_FALSE(apply_group_consumer_property(config, "group.id", "billing"));
  EXPECT_FALSE(apply_group_consumer_property(config, "session.timeout.ms", "10000"));
  EXPECT_FALSE(apply_group_consumer_property(config, "heartbeat.interval.ms", "2000"));
  EXPECT_FALSE(apply_group_consumer_property(config, "enable.auto.commit", "false"));
  EXPECT_FALSE(apply_group_consumer_property(config, "group.instance.id", "w-1"));
  EXPECT_FALSE(
      apply_group_consumer_property(config, "partition.assignment.strategy",
                                    "org.apache.kafka.clients.consumer.RoundRobinAssignor, range"));
  // Consumer properties fall through to the Consumer's.
  EXPECT_FALSE(apply_group_consumer_property(config, "auto.offset.reset", "earliest"));
  EXPECT_EQ(config.group_id, "billing");
  EXPECT_EQ(config.session_timeout, seconds(10));
  EXPECT_EQ(config.heartbeat_interval, seconds(2));
  EXPECT_FALSE(config.enable_auto_commit);
  EXPECT_EQ(config.group_instance_id, "w-1");
  EXPECT_EQ(config.assignors,
            (std::vector<AssignorKind>{AssignorKind::roundrobin, AssignorKind::range}));
  EXPECT_EQ(config.consumer.auto_offset_reset, OffsetReset::earliest);
  EXPECT_EQ(validate_group_consumer_config(config), std::nullopt);

  auto error = apply_group_consumer_property(config, "session.timeout.ms", "soon");
  ASSERT_TRUE(error);
  EXPECT_NE(error->find("session.timeout.ms"), std::string::npos);
  error = apply_group_consumer_property(config, "partition.assignment.strategy", "sticky");
  ASSERT_TRUE(error);
  EXPECT_NE(error->find("partition.assignment.strategy"), std::string::npos);
  error = apply_group_consumer_property(config, "no.such.key", "1");
  ASSERT_TRUE(error);
  EXPECT_NE(error->find("no.such.key"), std::string::npos);
  EXPECT_FALSE(apply_group_consumer_property(config, "heartbeat.interval.ms", "10000"));
  EXPECT_EQ(validate_group_consumer_config(config),
            "heartbeat.interval.ms must be lower than session.timeout.ms");
}

// --- Membership ------------------------------------------------------------------------

class MembershipTest : public ::testing::Test {
 protected:
  MembershipTimeouts timeouts{seconds(10), seconds(3), seconds(30), milliseconds(100)};
  Instant t0 = Instant{} + seconds(1000);

  // A member through FindCoordinator, MEMBER_ID_REQUIRED, JoinGroup, SyncGroup.
  Membership stable_member(bool static_member = false) {
    Membership m(timeouts, static_member);
    m.coordinator_found(1);
    m.join_sent();
    EXPECT_EQ(m.on_join_response(ErrorCode::member_id_required, "c-1", -1, ""),
              GroupReaction::retry);
    EXPECT_EQ(m.member_id(), "c-1");
    EXPECT_TRUE(m.needs_join());
    m.join_sent();
    EXPECT_EQ(m.on_join_response(ErrorCode::none, "c-1", 5, "c-1"), GroupReaction::none);
    EXPECT_TRUE(m.is_leader());
    EXPECT_EQ(m.phase(), MemberPhase::syncing);
    m.sync_sent();
    EXPECT_EQ(m.on_sync_response(ErrorCode::none, t0), GroupReaction::none);
    EXPECT_EQ(m.phase(), MemberPhase::stable);
    EXPECT_FALSE(m.needs_join());
    return m;
  }
};

TEST_F(MembershipTest, JoinsAndHeartbeatsAtTheInterval) {
  Membership m = stable_member();
  EXPECT_EQ(m.generation(), 5);
  EXPECT_EQ(m.heartbeat_due(), t0 + seconds(3));
  m.heartbeat_sent(t0 + seconds(3));
  EXPECT_EQ(m.on_heartbeat_response(ErrorCode::none, 5, t0 + seconds(3)), GroupReaction::none);
  EXPECT_EQ(m.heartbeat_due(), t0 + seconds(6));
  EXPECT_FALSE(m.session_expired(t0 + seconds(12)));
  EXPECT_TRUE(m.session_expired(t0 + seconds(14)));
}

TEST_F(MembershipTest, RebalanceInProgressKeepsIdAndGenerationForTheCommit) {
  Membership m = stable_member();
  m.heartbeat_sent(t0 + seconds(3));
  EXPECT_EQ(m.on_heartbeat_response(ErrorCode::rebalance_in_progress, 5, t0 + seconds(3)),
            GroupReaction::rejoin);
  EXPECT_TRUE(m.needs_join());
  EXPECT_TRUE(m.can_commit());  // eager: commit positions, then rejoin
  EXPECT_EQ(m.member_id(), "c-1");
  m.join_sent();
  EXPECT_EQ(m.phase(), MemberPhase::joining);
}

TEST_F(MembershipTest, UnknownMemberForgetsTheIdIllegalGenerationOnlyTheGeneration) {
  Membership a = stable_member();
  EXPECT_EQ(a.on_heartbeat_response(ErrorCode::unknown_member_id, 5, t0), GroupReaction::rejoin);
  EXPECT_EQ(a.member_id(), "");
  EXPECT_EQ(a.generation(), -1);
  EXPECT_FALSE(a.can_commit());
  EXPECT_TRUE(a.needs_join());

  Membership b = stable_member();
  EXPECT_EQ(b.on_heartbeat_response(ErrorCode::illegal_generation, 5, t0), GroupReaction::rejoin);
  EXPECT_EQ(b.member_id(), "c-1");
  EXPECT_EQ(b.generation(), -1);
  EXPECT_TRUE(b.needs_join());
}

TEST_F(MembershipTest, StaleHeartbeatAnswersChangeNothing) {
  Membership m = stable_member();
  EXPECT_EQ(m.on_heartbeat_response(ErrorCode::unknown_member_id, 4, t0), GroupReaction::none);
  EXPECT_EQ(m.member_id(), "c-1");
  EXPECT_FALSE(m.needs_join());
}

TEST_F(MembershipTest, CoordinatorErrorsForgetOnlyTheCoordinator) {
  Membership m = stable_member();
  EXPECT_EQ(m.on_heartbeat_response(ErrorCode::not_coordinator, 5, t0), GroupReaction::rediscover);
  EXPECT_FALSE(m.coordinator().has_value());
  EXPECT_FALSE(m.heartbeat_due().has_value());  // no heartbeat until it is found
  EXPECT_FALSE(m.needs_join());                 // the assignment stays
  m.coordinator_found(2);
  EXPECT_TRUE(m.heartbeat_due().has_value());

  // A JoinGroup cut off by a disconnect starts over.
  Membership j(timeouts, false);
  j.coordinator_found(1);
  j.join_sent();
  j.on_coordinator_call_failed();
  EXPECT_EQ(j.phase(), MemberPhase::unjoined);
  EXPECT_FALSE(j.coordinator().has_value());
  j.coordinator_found(1);
  j.join_sent();
  EXPECT_EQ(j.on_join_response(ErrorCode::coordinator_load_in_progress, "", -1, ""),
            GroupReaction::rediscover);
  EXPECT_FALSE(j.coordinator().has_value());
}

TEST_F(MembershipTest, FatalErrorsAreFatal) {
  Membership m(timeouts, true);
  m.coordinator_found(1);
  m.join_sent();
  EXPECT_EQ(m.on_join_response(ErrorCode::fenced_instance_id, "", -1, ""), GroupReaction::fatal);
  m.join_sent();
  EXPECT_EQ(m.on_join_response(ErrorCode::invalid_session_timeout, "", -1, ""),
            GroupReaction::fatal);
  m.join_sent();
  EXPECT_EQ(m.on_join_response(ErrorCode::group_authorization_failed, "", -1, ""),
            GroupReaction::fatal);
}

TEST_F(MembershipTest, SyncErrorsRejoin) {
  Membership m(timeouts, false);
  m.coordinator_found(1);
  m.join_sent();
  m.on_join_response(ErrorCode::none, "c-2", 3, "c-1");
  EXPECT_FALSE(m.is_leader());
  m.sync_sent();
  EXPECT_EQ(m.on_sync_response(ErrorCode::rebalance_in_progress, t0), GroupReaction::rejoin);
  EXPECT_EQ(m.phase(), MemberPhase::unjoined);
  EXPECT_EQ(m.member_id(), "c-2");
}

TEST_F(MembershipTest, MissedPollIntervalAndLeaving) {
  Membership m = stable_member();
  m.polled(t0 + seconds(5));
  EXPECT_FALSE(m.poll_interval_exceeded(t0 + seconds(35)));
  EXPECT_TRUE(m.poll_interval_exceeded(t0 + seconds(36)));
  m.left();
  EXPECT_EQ(m.member_id(), "");
  EXPECT_TRUE(m.needs_join());
  EXPECT_FALSE(m.poll_interval_exceeded(t0 + seconds(100)));

  Membership s = stable_member(/*static_member=*/true);
  s.left();
  EXPECT_EQ(s.member_id(), "c-1");  // a static member keeps its id
  EXPECT_EQ(s.generation(), -1);
}

TEST_F(MembershipTest, CommitErrors) {
  Membership m = stable_member();
  EXPECT_EQ(m.on_commit_error(ErrorCode::rebalance_in_progress), GroupReaction::rejoin);
  EXPECT_TRUE(m.needs_join());
  EXPECT_TRUE(m.can_commit());
  EXPECT_EQ(m.on_commit_error(ErrorCode::coordinator_not_available), GroupReaction::rediscover);
  EXPECT_FALSE(m.coordinator().has_value());
  EXPECT_EQ(m.on_commit_error(ErrorCode::offset_metadata_too_large), GroupReaction::fatal);
  EXPECT_EQ(m.on_commit_error(ErrorCode::illegal_generation), GroupReaction::rejoin);
  EXPECT_FALSE(m.can_commit());
}

}  // namespace
}  // namespace weir::client
