// The active controller's decisions (metadata::Controller), driven directly: broker
// registration, unfencing once caught up, fencing when heartbeats stop, controlled
// shutdown, topic creation and deletion with placement, producer id blocks. Each test
// also replays the decisions' records into a fresh MetadataState, as every other node
// would, and checks it reaches the controller's own image.
#include "metadata/controller.h"

#include <algorithm>
#include <optional>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include <gtest/gtest.h>

#include "metadata/state.h"
#include "protocol/errors.h"
#include "runtime/random.h"

namespace weir::metadata {
namespace {

using protocol::error_value;
using protocol::ErrorCode;

template <typename T>
bool holds(const std::vector<Record>& records) {
  for (const Record& record : records) {
    if (std::holds_alternative<T>(record)) return true;
  }
  return false;
}

class ControllerTest : public ::testing::Test {
 protected:
  explicit ControllerTest(bool eligible_leader_replicas = true)
      : random_(42), controller_(settings(eligible_leader_replicas), random_) {
    controller_.reset_to(MetadataState{}, now_);
    commit(controller_.bootstrap());
  }

  static ControllerSettings settings(bool eligible_leader_replicas = true) {
    ControllerSettings s;
    s.eligible_leader_replicas = eligible_leader_replicas;
    s.cluster_id = "test-cluster";
    s.broker_session_timeout_ms = 9000;
    s.default_replication_factor = 1;
    return s;
  }

  // The log: records are "committed" in order; the follower replays them.
  void commit(const std::vector<Record>& records) {
    for (const Record& record : records) {
      ASSERT_TRUE(follower_.apply(record)) << "a decision's record does not replay";
      next_offset_++;
    }
  }

  protocol::BrokerRegistrationRequest registration(int32_t id, uint8_t incarnation = 1) {
    protocol::BrokerRegistrationRequest request;
    request.broker_id = id;
    request.cluster_id = "test-cluster";
    request.incarnation_id.bytes[0] = static_cast<uint8_t>(id);
    request.incarnation_id.bytes[1] = incarnation;
    protocol::BrokerRegistrationRequest::Listener listener;
    listener.name = "PLAINTEXT";
    listener.host = "127.0.0.1";
    listener.port = static_cast<uint16_t>(9090 + id);
    request.listeners.push_back(listener);
    protocol::BrokerRegistrationRequest::Feature feature;
    feature.name = std::string(kMetadataVersionFeature);
    feature.min_supported_version = 1;
    feature.max_supported_version = kMetadataVersionLevel;
    request.features.push_back(feature);
    return request;
  }

  int64_t register_broker(int32_t id, uint8_t incarnation = 1) {
    auto decision = controller_.register_broker(registration(id, incarnation),
                                                record::Offset(next_offset_), now_);
    EXPECT_EQ(decision.response.error_code, 0);
    commit(decision.records);
    return decision.response.broker_epoch;
  }

  protocol::BrokerHeartbeatResponse heartbeat(int32_t id, int64_t epoch, int64_t offset,
                                              bool shut_down = false) {
    protocol::BrokerHeartbeatRequest request;
    request.broker_id = id;
    request.broker_epoch = epoch;
    request.current_metadata_offset = offset;
    request.want_shut_down = shut_down;
    auto decision = controller_.broker_heartbeat(request, record::Offset(next_offset_), now_);
    commit(decision.records);
    return decision.response;
  }

  // Registers brokers 1..n and unfences them.
  std::vector<int64_t> live_brokers(int n) {
    std::vector<int64_t> epochs;
    for (int32_t id = 1; id <= n; id++) epochs.push_back(register_broker(id));
    for (int32_t id = 1; id <= n; id++) {
      EXPECT_FALSE(heartbeat(id, epochs[id - 1], next_offset_ - 1).is_fenced);
    }
    return epochs;
  }

  protocol::CreateTopicsResponse create(
      const std::string& name, int32_t partitions, int16_t replication, bool validate_only = false,
      const std::vector<std::pair<std::string, std::string>>& configs = {}) {
    protocol::CreateTopicsRequest request;
    protocol::CreateTopicsRequest::CreatableTopic topic;
    topic.name = name;
    topic.num_partitions = partitions;
    topic.replication_factor = replication;
    for (const auto& [key, value] : configs) {
      auto& config = topic.configs.emplace_back();
      config.name = key;
      config.value = value;
    }
    request.topics.push_back(topic);
    request.validate_only = validate_only;
    auto decision = controller_.create_topics(request);
    commit(decision.records);
    return decision.response;
  }

  // The brokers `ids`, as the image lists them.
  static ReplicaList list(std::initializer_list<int32_t> ids) {
    ReplicaList brokers;
    for (int32_t id : ids) brokers.push_back(BrokerId(id));
    return brokers;
  }

  runtime::Random random_;
  Controller controller_;
  MetadataState follower_;
  int64_t next_offset_ = 0;
  int64_t now_ = 1'000'000;
};

TEST_F(ControllerTest, BootstrapWritesTheMetadataVersionOnce) {
  EXPECT_EQ(follower_.image().metadata_version(), kMetadataVersionLevel);
  EXPECT_TRUE(controller_.bootstrap().empty());
}

TEST_F(ControllerTest, ABrokerIsUnfencedOnlyOnceItHasReplayedItsRegistration) {
  const int64_t epoch = register_broker(1);
  EXPECT_EQ(epoch, next_offset_ - 1) << "the broker epoch is its registration's offset";
  ASSERT_NE(follower_.image().broker(BrokerId(1)), nullptr);
  EXPECT_TRUE(follower_.image().broker(BrokerId(1))->fenced);

  auto behind = heartbeat(1, epoch, epoch - 1);
  EXPECT_FALSE(behind.is_caught_up);
  EXPECT_TRUE(behind.is_fenced);
  EXPECT_TRUE(follower_.image().broker(BrokerId(1))->fenced);

  auto caught_up = heartbeat(1, epoch, epoch);
  EXPECT_TRUE(caught_up.is_caught_up);
  EXPECT_FALSE(caught_up.is_fenced);
  EXPECT_FALSE(follower_.image().broker(BrokerId(1))->fenced);
  EXPECT_EQ(follower_.image(), controller_.image());
}

TEST_F(ControllerTest, AStaleEpochOrAnotherClusterIsRefused) {
  const int64_t epoch = register_broker(1);
  EXPECT_EQ(heartbeat(1, epoch + 7, epoch).error_code, error_value(ErrorCode::stale_broker_epoch));
  auto request = registration(2);
  request.cluster_id = "elsewhere";
  auto decision = controller_.register_broker(request, record::Offset(next_offset_), now_);
  EXPECT_EQ(decision.response.error_code, error_value(ErrorCode::inconsistent_cluster_id));
  EXPECT_TRUE(decision.records.empty());
}

TEST_F(ControllerTest, ANewIncarnationWaitsForTheOldSessionToExpire) {
  const int64_t first = register_broker(1, /*incarnation=*/1);
  auto early = controller_.register_broker(registration(1, /*incarnation=*/2),
                                           record::Offset(next_offset_), now_ + 1000);
  EXPECT_EQ(early.response.error_code, error_value(ErrorCode::duplicate_broker_registration));
  EXPECT_TRUE(early.records.empty());
  now_ += 10'000;
  const int64_t second = register_broker(1, /*incarnation=*/2);
  EXPECT_GT(second, first);
  EXPECT_EQ(follower_.image().broker(BrokerId(1))->epoch, BrokerEpoch(second));
}

// On a combined node the controller's own broker restarted with it (kill -9, restart):
// its new incarnation registers at once. Another broker's still waits.
TEST_F(ControllerTest, TheColocatedBrokersNewIncarnationNeedNotWait) {
  ControllerSettings combined = settings();
  combined.node_id = 1;
  combined.colocated_broker = true;
  live_brokers(2);
  Controller controller(combined, random_);
  controller.reset_to(follower_, now_);
  auto own = controller.register_broker(registration(1, 2), record::Offset(next_offset_), now_);
  EXPECT_EQ(own.response.error_code, 0);
  auto other = controller.register_broker(registration(2, 2), record::Offset(next_offset_), now_);
  EXPECT_EQ(other.response.error_code, error_value(ErrorCode::duplicate_broker_registration));
}

TEST_F(ControllerTest, TopicsArePlacedOnDistinctActiveBrokers) {
  live_brokers(3);
  auto response = create("orders", 6, 3);
  ASSERT_EQ(response.topics.size(), 1u);
  EXPECT_EQ(response.topics[0].error_code, 0) << response.topics[0].error_message.value_or("");
  const TopicImage* topic = follower_.image().topic("orders");
  ASSERT_NE(topic, nullptr);
  EXPECT_EQ(topic->id.uuid, response.topics[0].topic_id);
  ASSERT_EQ(topic->partitions.size(), 6u);
  std::set<int32_t> leaders;
  for (const PartitionState& partition : topic->partitions) {
    std::set<BrokerId> replicas(partition.replicas.begin(), partition.replicas.end());
    EXPECT_EQ(replicas.size(), 3u) << "replicas on distinct brokers";
    EXPECT_EQ(partition.leader, partition.replicas[0]) << "the preferred replica leads";
    EXPECT_EQ(partition.isr.size(), 3u);
    leaders.insert(partition.leader.value());
  }
  EXPECT_EQ(leaders.size(), 3u) << "leadership spread over the brokers";
  EXPECT_EQ(follower_.image(), controller_.image());
}

TEST_F(ControllerTest, CreationErrorsWriteNothing) {
  live_brokers(2);
  const int64_t before = next_offset_;
  EXPECT_EQ(create("wide", 1, 3).topics[0].error_code,
            error_value(ErrorCode::invalid_replication_factor));
  EXPECT_EQ(create("bad/name", 1, 1).topics[0].error_code,
            error_value(ErrorCode::invalid_topic_exception));
  // The metadata log's own name (its directory shares the data root).
  EXPECT_EQ(create("__cluster_metadata", 1, 1).topics[0].error_code,
            error_value(ErrorCode::invalid_topic_exception));
  EXPECT_EQ(create("none", 0, 1).topics[0].error_code, error_value(ErrorCode::invalid_partitions));
  EXPECT_EQ(create("dry", 2, 2, /*validate_only=*/true).topics[0].error_code, 0);
  EXPECT_EQ(follower_.image().topic("dry"), nullptr);
  EXPECT_EQ(next_offset_, before);
  EXPECT_EQ(create("once", 1, 1).topics[0].error_code, 0);
  EXPECT_EQ(create("once", 1, 1).topics[0].error_code,
            error_value(ErrorCode::topic_already_exists));
}

TEST_F(ControllerTest, DeletionRemovesTheTopic) {
  live_brokers(1);
  ASSERT_EQ(create("gone", 2, 1).topics[0].error_code, 0);
  protocol::DeleteTopicsRequest request;
  protocol::DeleteTopicsRequest::DeleteTopicState state;
  state.name = "gone";
  request.topics.push_back(state);
  state.name = "never";
  request.topics.push_back(state);
  auto decision = controller_.delete_topics(request, /*version=*/6);
  commit(decision.records);
  ASSERT_EQ(decision.response.responses.size(), 2u);
  EXPECT_EQ(decision.response.responses[0].error_code, 0);
  EXPECT_EQ(decision.response.responses[1].error_code,
            error_value(ErrorCode::unknown_topic_or_partition));
  EXPECT_TRUE(holds<RemoveTopicRecord>(decision.records));
  EXPECT_EQ(follower_.image().topic("gone"), nullptr);
  EXPECT_EQ(follower_.image().partition_count(), 0u);
}

TEST_F(ControllerTest, SilentBrokersAreFencedAndLoseTheirLeaderships) {
  auto epochs = live_brokers(2);
  ASSERT_EQ(create("pairs", 4, 2).topics[0].error_code, 0);
  // Broker 1 keeps heartbeating; broker 2 goes silent.
  for (int step = 0; step < 5; step++) {
    now_ += 2000;
    heartbeat(1, epochs[0], next_offset_ - 1);
    commit(controller_.tick(now_));
  }
  const BrokerRegistration* silent = follower_.image().broker(BrokerId(2));
  ASSERT_NE(silent, nullptr);
  EXPECT_TRUE(silent->fenced);
  EXPECT_FALSE(follower_.image().broker(BrokerId(1))->fenced);
  for (const PartitionState& partition : follower_.image().topic("pairs")->partitions) {
    EXPECT_EQ(partition.leader, BrokerId(1)) << "every partition moved to the live broker";
    EXPECT_FALSE(partition.in_isr(BrokerId(2)));
  }
  EXPECT_EQ(follower_.image(), controller_.image());
}

TEST_F(ControllerTest, ControlledShutdownMovesLeadershipsThenLetsTheBrokerGo) {
  auto epochs = live_brokers(2);
  ASSERT_EQ(create("handover", 4, 2).topics[0].error_code, 0);
  auto first = heartbeat(2, epochs[1], next_offset_ - 1, /*shut_down=*/true);
  EXPECT_FALSE(first.should_shut_down) << "not before it has seen its leaderships go";
  EXPECT_TRUE(follower_.image().broker(BrokerId(2))->in_controlled_shutdown);
  for (const PartitionState& partition : follower_.image().topic("handover")->partitions) {
    EXPECT_EQ(partition.leader, BrokerId(1));
  }
  auto second = heartbeat(2, epochs[1], next_offset_ - 1, /*shut_down=*/true);
  EXPECT_TRUE(second.should_shut_down);
  EXPECT_TRUE(follower_.image().broker(BrokerId(2))->fenced);
}

TEST_F(ControllerTest, ProducerIdBlocksDoNotOverlap) {
  auto epochs = live_brokers(2);
  std::vector<std::pair<int64_t, int32_t>> blocks;
  for (int i = 0; i < 3; i++) {
    protocol::AllocateProducerIdsRequest request;
    request.broker_id = 1 + i % 2;
    request.broker_epoch = epochs[static_cast<size_t>(i % 2)];
    auto decision = controller_.allocate_producer_ids(request);
    EXPECT_EQ(decision.response.error_code, 0);
    commit(decision.records);
    blocks.emplace_back(decision.response.producer_id_start, decision.response.producer_id_len);
  }
  for (size_t i = 1; i < blocks.size(); i++) {
    EXPECT_EQ(blocks[i].first, blocks[i - 1].first + blocks[i - 1].second);
  }
  protocol::AllocateProducerIdsRequest stale;
  stale.broker_id = 1;
  stale.broker_epoch = epochs[0] + 100;
  EXPECT_EQ(controller_.allocate_producer_ids(stale).response.error_code,
            error_value(ErrorCode::stale_broker_epoch));
}

// A lone node of an older weir kept its topics in its own file: the controller adopts
// them under their old ids, once, and moves the producer-id blocks past the old ids.
TEST_F(ControllerTest, LegacyTopicsAreAdoptedOnceUnderTheirIds) {
  LegacyTopic kept;
  kept.name = "kept";
  kept.id.uuid.bytes[0] = 7;
  kept.partitions = 3;
  kept.configs["retention.ms"] = "1000";
  LegacyTopic clashing;  // a topic of this name is in the log already: left alone
  clashing.name = "taken";
  clashing.id.uuid.bytes[0] = 8;
  clashing.partitions = 1;
  auto epochs = live_brokers(1);
  ASSERT_EQ(create("taken", 2, 1).topics[0].error_code, 0);
  const TopicId taken_id = follower_.image().topic("taken")->id;

  auto records = controller_.adopt_legacy_topics({kept, clashing}, BrokerId(1), ProducerId(5000));
  commit(records);
  const TopicImage* adopted = follower_.image().topic("kept");
  ASSERT_NE(adopted, nullptr);
  EXPECT_EQ(adopted->id, kept.id);
  ASSERT_EQ(adopted->partitions.size(), 3u);
  for (const PartitionState& partition : adopted->partitions) {
    EXPECT_EQ(partition.leader, BrokerId(1));
    EXPECT_EQ(partition.replicas, ReplicaList{BrokerId(1)});
    EXPECT_EQ(partition.isr, ReplicaList{BrokerId(1)});
  }
  EXPECT_EQ(follower_.image().topic_config("kept").at("retention.ms"), "1000");
  EXPECT_EQ(follower_.image().topic("taken")->id, taken_id);
  EXPECT_EQ(follower_.image().topic("taken")->partitions.size(), 2u);
  EXPECT_EQ(follower_.image().next_producer_id(), ProducerId(5000));
  // Again (a crash before the old file went): nothing more.
  EXPECT_TRUE(
      controller_.adopt_legacy_topics({kept, clashing}, BrokerId(1), ProducerId(5000)).empty());
  // The next block starts past the old node's ids.
  protocol::AllocateProducerIdsRequest request;
  request.broker_id = 1;
  request.broker_epoch = epochs[0];
  EXPECT_EQ(controller_.allocate_producer_ids(request).response.producer_id_start, 5000);
}

// A snapshot holds image_records(image): replayed into an empty state they rebuild an
// equal image (and digest), whatever history led to it — fenced and shutting-down
// brokers, moved leaders (leader and partition epochs above 0), configs, producer ids.
// A leader's ISR change, as Kafka's controller checks it: the broker epoch, the topic,
// the leader and partition epochs, that the requester leads the partition, that the new
// ISR holds it and only replicas, and that every member is active in the named epoch.
TEST_F(ControllerTest, AlterPartitionChangesTheIsrOfALeaderInItsEpochsOnly) {
  auto epochs = live_brokers(3);
  ASSERT_EQ(create("replicated", 1, 3).topics[0].error_code, 0);
  const TopicImage* topic = follower_.image().topic("replicated");
  ASSERT_NE(topic, nullptr);
  const PartitionState before = topic->partitions[0];
  ASSERT_EQ(before.isr.size(), 3u);
  const int32_t leader = before.leader.value();
  const int32_t follower = (before.isr[0] == before.leader ? before.isr[1] : before.isr[0]).value();

  auto ask = [&](int32_t broker, int64_t broker_epoch, std::vector<std::pair<int32_t, int64_t>> isr,
                 int32_t leader_epoch, int32_t partition_epoch) {
    protocol::AlterPartitionRequest request;
    request.broker_id = broker;
    request.broker_epoch = broker_epoch;
    auto& t = request.topics.emplace_back();
    t.topic_id = topic->id.uuid;
    auto& p = t.partitions.emplace_back();
    p.partition_index = 0;
    p.leader_epoch = leader_epoch;
    p.partition_epoch = partition_epoch;
    for (auto [id, epoch] : isr) {
      auto& member = p.new_isr_with_epochs.emplace_back();
      member.broker_id = id;
      member.broker_epoch = epoch;
    }
    auto decision = controller_.alter_partition(request, 3);
    commit(decision.records);
    return decision;
  };
  const int32_t le = before.leader_epoch.value();
  const int32_t pe = before.partition_epoch.value();
  auto code = [](const Decision<protocol::AlterPartitionResponse>& d) {
    if (d.response.error_code != 0) return d.response.error_code;
    return d.response.topics[0].partitions[0].error_code;
  };
  const int64_t leader_epoch_of_broker = epochs[leader - 1];
  // Refusals write nothing.
  EXPECT_EQ(code(ask(leader, leader_epoch_of_broker + 1, {{leader, -1}}, le, pe)),
            error_value(ErrorCode::stale_broker_epoch));
  EXPECT_EQ(code(ask(follower, epochs[follower - 1], {{follower, -1}}, le, pe)),
            error_value(ErrorCode::invalid_request));
  EXPECT_EQ(code(ask(leader, leader_epoch_of_broker, {{leader, -1}}, le + 1, pe)),
            error_value(ErrorCode::not_controller));
  EXPECT_EQ(code(ask(leader, leader_epoch_of_broker, {{follower, -1}}, le, pe)),
            error_value(ErrorCode::invalid_request));  // without the leader
  EXPECT_EQ(code(ask(leader, leader_epoch_of_broker, {{leader, -1}, {9, -1}}, le, pe)),
            error_value(ErrorCode::invalid_request));  // not a replica
  EXPECT_EQ(code(ask(leader, leader_epoch_of_broker,
                     {{leader, -1}, {follower, epochs[follower - 1] + 7}}, le, pe)),
            error_value(ErrorCode::ineligible_replica));  // another incarnation
  EXPECT_EQ(follower_.image().topic("replicated")->partitions[0], before);

  // The shrink to {leader, follower}: the partition epoch moves, the leader epoch stays.
  auto shrink = ask(leader, leader_epoch_of_broker,
                    {{leader, leader_epoch_of_broker}, {follower, epochs[follower - 1]}}, le, pe);
  ASSERT_EQ(code(shrink), 0);
  const PartitionState& after = follower_.image().topic("replicated")->partitions[0];
  EXPECT_EQ(after.isr.size(), 2u);
  EXPECT_EQ(after.leader_epoch, before.leader_epoch);
  EXPECT_EQ(after.partition_epoch, before.partition_epoch.next());
  const auto& answer = shrink.response.topics[0].partitions[0];
  EXPECT_EQ(answer.partition_epoch, after.partition_epoch.value());
  EXPECT_EQ(answer.leader_epoch, le);
  EXPECT_EQ(answer.isr.size(), 2u);
  // The same proposal again is of an older partition epoch now.
  EXPECT_EQ(code(ask(leader, leader_epoch_of_broker, {{leader, -1}}, le, pe)),
            error_value(ErrorCode::invalid_update_version));
  // A fenced broker is not taken back into the ISR.
  const int32_t third = 6 - leader - follower;
  for (int step = 0; step < 6; step++) {
    now_ += 2000;
    heartbeat(leader, epochs[leader - 1], next_offset_ - 1);
    heartbeat(follower, epochs[follower - 1], next_offset_ - 1);
    commit(controller_.tick(now_));
  }
  ASSERT_TRUE(follower_.image().broker(BrokerId(third))->fenced);
  const PartitionState& now = follower_.image().topic("replicated")->partitions[0];
  EXPECT_EQ(code(ask(leader, leader_epoch_of_broker,
                     {{leader, -1}, {follower, -1}, {third, -1}}, now.leader_epoch.value(),
                     now.partition_epoch.value())),
            error_value(ErrorCode::ineligible_replica));
  EXPECT_EQ(follower_.image(), controller_.image());
}

TEST_F(ControllerTest, ElectLeadersMovesToThePreferredReplicaOrElectsUncleanlyOnRequest) {
  auto epochs = live_brokers(2);
  ASSERT_EQ(create("elect", 1, 2).topics[0].error_code, 0);
  auto elect = [&](int8_t type) {
    protocol::ElectLeadersRequest request;
    request.election_type = type;
    auto& asked = request.topic_partitions->emplace_back();
    asked.topic = "elect";
    asked.partitions = {0, 7};
    auto decision = controller_.elect_leaders(request, 2);
    commit(decision.records);
    EXPECT_EQ(decision.response.replica_election_results.size(), 1u);
    const auto& results = decision.response.replica_election_results[0].partition_result;
    EXPECT_EQ(results.size(), 2u);
    EXPECT_EQ(results[1].error_code, error_value(ErrorCode::unknown_topic_or_partition));
    return results[0].error_code;
  };
  auto state = [&] { return follower_.image().topic("elect")->partitions[0]; };
  const int32_t preferred = state().replicas[0].value();
  const int32_t other = 3 - preferred;
  ASSERT_EQ(state().leader, BrokerId(preferred));
  EXPECT_EQ(elect(0), error_value(ErrorCode::election_not_needed));
  EXPECT_EQ(elect(1), error_value(ErrorCode::election_not_needed));  // it has a leader

  // The preferred replica falls silent: fenced, out of the ISR, and not electable.
  auto keep_alive = [&](int32_t id) { heartbeat(id, epochs[id - 1], next_offset_ - 1); };
  for (int step = 0; step < 6; step++) {
    now_ += 2000;
    keep_alive(other);
    commit(controller_.tick(now_));
  }
  ASSERT_EQ(state().leader, BrokerId(other));
  EXPECT_EQ(elect(0), error_value(ErrorCode::preferred_leader_not_available));

  // It returns (unfenced, still out of sync); then the leader, last of the ISR, is
  // fenced: the partition is leaderless, and unclean.leader.election.enable is off.
  EXPECT_FALSE(heartbeat(preferred, epochs[preferred - 1], next_offset_ - 1).is_fenced);
  for (int step = 0; step < 6; step++) {
    now_ += 2000;
    keep_alive(preferred);
    commit(controller_.tick(now_));
  }
  ASSERT_FALSE(state().has_leader());
  // With eligible leader replicas the last ISR member's claim moves to the ELR.
  ASSERT_TRUE(state().isr.empty());
  ASSERT_EQ(state().elr, ReplicaList{BrokerId(other)});
  EXPECT_EQ(elect(0), error_value(ErrorCode::preferred_leader_not_available));
  // The administrator's unclean election overrides the topic: the out-of-sync replica
  // leads, alone in the ISR, recovering.
  const int32_t epoch_before = state().leader_epoch.value();
  EXPECT_EQ(elect(1), 0);
  EXPECT_EQ(state().leader, BrokerId(preferred));
  EXPECT_EQ(state().isr, ReplicaList{BrokerId(preferred)});
  EXPECT_EQ(state().leader_recovery_state, 1);
  EXPECT_GT(state().leader_epoch.value(), epoch_before);
  EXPECT_TRUE(state().elr.empty()) << "after an unclean election nobody else has a claim";
  EXPECT_TRUE(state().last_known_elr.empty());
  EXPECT_EQ(follower_.image(), controller_.image());
}

// KIP-966 driven through fencing and restarts: an RF 3 topic with min.insync.replicas=2.
class EligibleLeaderReplicasTest : public ControllerTest {
 protected:
  void SetUp() override {
    epochs_ = live_brokers(3);
    ASSERT_EQ(create("elr", 1, 3, false, {{"min.insync.replicas", "2"}}).topics[0].error_code, 0);
    alive_ = {1, 2, 3};
  }
  PartitionState state() const { return follower_.image().topic("elr")->partitions[0]; }
  // `id` falls silent: after the session timeout it is fenced.
  void silence(int32_t id) {
    alive_.erase(id);
    for (int step = 0; step < 6; step++) {
      now_ += 2000;
      for (int32_t live : alive_) heartbeat(live, epochs_[live - 1], next_offset_ - 1);
      commit(controller_.tick(now_));
    }
    ASSERT_TRUE(follower_.image().broker(BrokerId(id))->fenced);
  }
  // `id` restarts: a new incarnation whose registration names its last epoch if its
  // shutdown was clean, then heartbeats until unfenced.
  void restart(int32_t id, bool clean, uint8_t incarnation) {
    auto request = registration(id, incarnation);
    request.previous_broker_epoch = clean ? epochs_[id - 1] : -1;
    auto decision = controller_.register_broker(request, record::Offset(next_offset_), now_);
    ASSERT_EQ(decision.response.error_code, 0);
    commit(decision.records);
    epochs_[id - 1] = decision.response.broker_epoch;
    ASSERT_FALSE(heartbeat(id, epochs_[id - 1], next_offset_ - 1).is_fenced);
    alive_.insert(id);
  }
  // The followers fall silent in turn, then the leader: the ISR empties. Returns the
  // leader and the followers (the first to go, the second).
  std::tuple<int32_t, int32_t, int32_t> empty_the_isr() {
    const int32_t leader = state().leader.value();
    const auto [a, b] = followers();
    silence(a);
    silence(b);
    silence(leader);
    return {leader, a, b};
  }
  // The replicas other than the leader, in replica order.
  std::pair<int32_t, int32_t> followers() const {
    std::vector<int32_t> others;
    for (BrokerId replica : state().replicas) {
      if (replica != state().leader) others.push_back(replica.value());
    }
    return {others[0], others[1]};
  }

  std::vector<int64_t> epochs_;
  std::set<int32_t> alive_;
};

TEST_F(EligibleLeaderReplicasTest, TheIsrShrinkingBelowTheMinimumKeepsAnEligibleLeader) {
  ASSERT_TRUE(follower_.image().eligible_leader_replicas_enabled());
  const int32_t leader = state().leader.value();
  const auto [a, b] = followers();
  silence(a);  // ISR of two: at the minimum, nobody keeps a claim
  EXPECT_EQ(state().isr.size(), 2u);
  EXPECT_TRUE(state().elr.empty());
  silence(b);  // below the minimum: b keeps its claim
  EXPECT_EQ(state().isr, list({leader}));
  EXPECT_EQ(state().elr, list({b}));
  silence(leader);  // the ISR empties; both keep a claim; the partition is offline
  EXPECT_TRUE(state().isr.empty());
  EXPECT_FALSE(state().has_leader());
  EXPECT_EQ(state().elr.size(), 2u);
  EXPECT_TRUE(state().in_elr(BrokerId(leader)) && state().in_elr(BrokerId(b)));
  EXPECT_EQ(state().last_known_elr, list({leader}));
  // a was out of sync before the minimum was broken: its return elects nobody.
  restart(a, /*clean=*/true, 2);
  EXPECT_FALSE(state().has_leader());
  // b, back after a clean shutdown, leads cleanly from the ELR.
  restart(b, /*clean=*/true, 2);
  EXPECT_EQ(state().leader, BrokerId(b));
  EXPECT_EQ(state().isr, list({b}));
  EXPECT_EQ(state().elr, list({leader}));
  EXPECT_TRUE(state().last_known_elr.empty());
  EXPECT_EQ(state().leader_recovery_state, 0) << "a clean election";
  EXPECT_EQ(follower_.image(), controller_.image());
}

TEST_F(EligibleLeaderReplicasTest, AnUncleanShutdownForfeitsTheClaim) {
  const auto [leader, a, b] = empty_the_isr();
  // b lost power: its unflushed tail may be gone, so it may not lead.
  restart(b, /*clean=*/false, 2);
  EXPECT_FALSE(state().has_leader());
  EXPECT_EQ(state().elr, list({leader}));
  // The leader, back after a clean shutdown, still has its claim and leads.
  restart(leader, /*clean=*/true, 2);
  EXPECT_EQ(state().leader, BrokerId(leader));
  EXPECT_EQ(state().isr, list({leader}));
  EXPECT_TRUE(state().elr.empty());
  EXPECT_EQ(follower_.image(), controller_.image());
}

TEST_F(EligibleLeaderReplicasTest, TheLastKnownLeaderLeadsOnceEveryClaimIsForfeited) {
  const auto [leader, a, b] = empty_the_isr();
  restart(b, /*clean=*/false, 2);
  restart(leader, /*clean=*/false, 2);
  // Nobody has a claim; the last leader is back, as the last ISR member would have been
  // before KIP-966: it leads again.
  EXPECT_EQ(state().leader, BrokerId(leader));
  EXPECT_EQ(state().isr, list({leader}));
  EXPECT_TRUE(state().last_known_elr.empty());
  EXPECT_EQ(follower_.image(), controller_.image());
}

TEST_F(EligibleLeaderReplicasTest, ChangingMinInsyncReplicasForgetsTheClaims) {
  const int32_t leader = state().leader.value();
  const auto [a, b] = followers();
  silence(a);
  silence(b);
  ASSERT_EQ(state().elr, list({b}));
  protocol::IncrementalAlterConfigsRequest request;
  auto& resource = request.resources.emplace_back();
  resource.resource_type = static_cast<int8_t>(ConfigResourceType::topic);
  resource.resource_name = "elr";
  auto& config = resource.configs.emplace_back();
  config.name = "min.insync.replicas";
  config.config_operation = 0;  // SET
  config.value = "1";
  auto decision = controller_.incremental_alter_configs(request);
  ASSERT_EQ(decision.response.responses[0].error_code, 0);
  commit(decision.records);
  // With a minimum of 1 the high watermark moves without b: its claim would be stale.
  EXPECT_TRUE(state().elr.empty());
  EXPECT_EQ(state().isr, list({leader}));
  EXPECT_EQ(follower_.image(), controller_.image());
}

// Kafka's partition reassignment: RF 3 on brokers 1-4.
class ReassignmentTest : public ControllerTest {
 protected:
  void SetUp() override {
    epochs_ = live_brokers(4);
    ASSERT_EQ(create("moving", 1, 3).topics[0].error_code, 0);
  }
  PartitionState state() const { return follower_.image().topic("moving")->partitions[0]; }
  // The error of partition 0 (nullopt replicas: cancel).
  int16_t reassign(std::optional<std::vector<int32_t>> replicas, bool allow_factor_change = true,
                   int32_t partition = 0) {
    protocol::AlterPartitionReassignmentsRequest request;
    request.allow_replication_factor_change = allow_factor_change;
    auto& topic = request.topics.emplace_back();
    topic.name = "moving";
    auto& asked = topic.partitions.emplace_back();
    asked.partition_index = partition;
    asked.replicas = std::move(replicas);
    auto decision = controller_.alter_partition_reassignments(request, 1);
    commit(decision.records);
    return decision.response.responses[0].partitions[0].error_code;
  }
  // The leader takes `isr` (by AlterPartition, in its current epochs).
  void set_isr(const std::vector<int32_t>& isr) {
    const PartitionState now = state();
    protocol::AlterPartitionRequest request;
    request.broker_id = now.leader.value();
    request.broker_epoch = epochs_[now.leader.value() - 1];
    auto& t = request.topics.emplace_back();
    t.topic_id = follower_.image().topic("moving")->id.uuid;
    auto& p = t.partitions.emplace_back();
    p.leader_epoch = now.leader_epoch.value();
    p.partition_epoch = now.partition_epoch.value();
    for (int32_t id : isr) {
      auto& member = p.new_isr_with_epochs.emplace_back();
      member.broker_id = id;
      member.broker_epoch = epochs_[id - 1];
    }
    auto decision = controller_.alter_partition(request, 3);
    ASSERT_EQ(decision.response.topics[0].partitions[0].error_code, 0);
    commit(decision.records);
  }
  // The brokers of `replicas`, as ints.
  static std::vector<int32_t> ints(const ReplicaList& replicas) {
    std::vector<int32_t> ids;
    for (BrokerId broker : replicas) ids.push_back(broker.value());
    return ids;
  }

  std::vector<int64_t> epochs_;
};

TEST_F(ReassignmentTest, AReplicaJoinsCatchesUpAndTheLeavingOneGoes) {
  const std::vector<int32_t> before = ints(state().replicas);
  int32_t outside = 0;
  for (int32_t id = 1; id <= 4; id++) {
    if (std::find(before.begin(), before.end(), id) == before.end()) outside = id;
  }
  // Move the leader's replica to the broker outside: the leader must go in the end.
  const int32_t leaving = state().leader.value();
  std::vector<int32_t> target;
  for (int32_t id : before) target.push_back(id == leaving ? outside : id);
  ASSERT_EQ(reassign(target), 0);
  std::vector<int32_t> expected = target;
  expected.push_back(leaving);
  EXPECT_EQ(ints(state().replicas), expected) << "the target, then the replica leaving";
  EXPECT_EQ(state().adding, list({outside}));
  EXPECT_EQ(state().removing, list({leaving}));
  EXPECT_EQ(state().leader, BrokerId(leaving)) << "nothing moves before the new one catches up";
  {
    protocol::ListPartitionReassignmentsRequest request;
    request.topics = std::nullopt;
    auto listed = controller_.list_partition_reassignments(request).response;
    ASSERT_EQ(listed.topics.size(), 1u);
    EXPECT_EQ(listed.topics[0].partitions[0].adding_replicas, std::vector<int32_t>{outside});
  }
  // The new replica caught up: the leader takes it into the ISR, which completes it.
  const int32_t epoch_before = state().leader_epoch.value();
  std::vector<int32_t> isr = ints(state().isr);
  isr.push_back(outside);
  set_isr(isr);
  EXPECT_EQ(ints(state().replicas), target);
  EXPECT_FALSE(state().reassigning());
  EXPECT_FALSE(state().in_isr(BrokerId(leaving)));
  EXPECT_NE(state().leader, BrokerId(leaving));
  EXPECT_TRUE(state().in_isr(state().leader));
  EXPECT_GT(state().leader_epoch.value(), epoch_before);
  protocol::ListPartitionReassignmentsRequest request;
  request.topics = std::nullopt;
  EXPECT_TRUE(controller_.list_partition_reassignments(request).response.topics.empty());
  EXPECT_EQ(follower_.image(), controller_.image());
}

TEST_F(ReassignmentTest, ARemovalCompletesAtOnceAndACancelRestores) {
  const std::vector<int32_t> before = ints(state().replicas);
  // Shrink to two replicas: the ISR already holds them.
  ASSERT_EQ(reassign(std::vector<int32_t>{before[0], before[1]}), 0);
  EXPECT_EQ(ints(state().replicas), (std::vector<int32_t>{before[0], before[1]}));
  EXPECT_FALSE(state().reassigning());
  // Grow back to three (the broker left out, or the fourth) and cancel before it
  // catches up: the replicas and ISR are as before the reassignment.
  const int32_t added = before[2];
  ASSERT_EQ(reassign(std::vector<int32_t>{before[0], before[1], added}), 0);
  EXPECT_EQ(state().adding, list({added}));
  ASSERT_EQ(reassign(std::nullopt), 0);
  EXPECT_EQ(ints(state().replicas), (std::vector<int32_t>{before[0], before[1]}));
  EXPECT_FALSE(state().reassigning());
  EXPECT_FALSE(state().in_isr(BrokerId(added)));
  EXPECT_EQ(follower_.image(), controller_.image());
}

TEST_F(ReassignmentTest, BadAssignmentsAreRefusedAndWriteNothing) {
  const PartitionState before = state();
  EXPECT_EQ(reassign(std::vector<int32_t>{}), error_value(ErrorCode::invalid_replica_assignment));
  EXPECT_EQ(reassign(std::vector<int32_t>{1, 1, 2}),
            error_value(ErrorCode::invalid_replica_assignment));
  EXPECT_EQ(reassign(std::vector<int32_t>{1, 2, 9}),
            error_value(ErrorCode::invalid_replica_assignment));
  EXPECT_EQ(reassign(std::nullopt), error_value(ErrorCode::no_reassignment_in_progress));
  EXPECT_EQ(reassign(std::vector<int32_t>{1, 2}, /*allow_factor_change=*/false),
            error_value(ErrorCode::invalid_replication_factor));
  EXPECT_EQ(reassign(std::vector<int32_t>{1, 2, 3}, true, /*partition=*/5),
            error_value(ErrorCode::unknown_topic_or_partition));
  EXPECT_EQ(state(), before);
  EXPECT_EQ(follower_.image(), controller_.image());
}

class ControllerWithoutElrTest : public ControllerTest {
 protected:
  ControllerWithoutElrTest() : ControllerTest(/*eligible_leader_replicas=*/false) {}
};

TEST_F(ControllerWithoutElrTest, TheLastIsrMemberKeepsItsPlace) {
  EXPECT_FALSE(follower_.image().eligible_leader_replicas_enabled());
  auto epochs = live_brokers(2);
  ASSERT_EQ(create("old", 1, 2, false, {{"min.insync.replicas", "2"}}).topics[0].error_code, 0);
  const int32_t leader = follower_.image().topic("old")->partitions[0].leader.value();
  const int32_t other = 3 - leader;
  for (int step = 0; step < 6; step++) {
    now_ += 2000;
    heartbeat(other, epochs[other - 1], next_offset_ - 1);
    commit(controller_.tick(now_));
  }
  for (int step = 0; step < 6; step++) {
    now_ += 2000;
    commit(controller_.tick(now_));
  }
  const PartitionState& state = follower_.image().topic("old")->partitions[0];
  EXPECT_FALSE(state.has_leader());
  EXPECT_EQ(state.isr.size(), 1u) << "the last ISR member keeps its claim in the ISR";
  EXPECT_TRUE(state.elr.empty());
  EXPECT_EQ(follower_.image(), controller_.image());
}

TEST_F(ControllerTest, AutoLeaderRebalanceMovesLeadershipBackEveryInterval) {
  auto epochs = live_brokers(2);
  ASSERT_EQ(create("balance", 1, 2).topics[0].error_code, 0);
  auto state = [&] { return follower_.image().topic("balance")->partitions[0]; };
  const int32_t preferred = state().replicas[0].value();
  const int32_t other = 3 - preferred;
  auto beat = [&](int32_t id) { heartbeat(id, epochs[id - 1], next_offset_ - 1); };
  // The preferred replica is fenced: leadership moves away.
  for (int step = 0; step < 6; step++) {
    now_ += 2000;
    beat(other);
    commit(controller_.tick(now_));
  }
  ASSERT_EQ(state().leader, BrokerId(other));
  // It returns and catches up (the leader takes it back into the ISR).
  EXPECT_FALSE(heartbeat(preferred, epochs[preferred - 1], next_offset_ - 1).is_fenced);
  protocol::AlterPartitionRequest expand;
  expand.broker_id = other;
  expand.broker_epoch = epochs[other - 1];
  auto& t = expand.topics.emplace_back();
  t.topic_id = follower_.image().topic("balance")->id.uuid;
  auto& p = t.partitions.emplace_back();
  p.leader_epoch = state().leader_epoch.value();
  p.partition_epoch = state().partition_epoch.value();
  for (int32_t id : {other, preferred}) {
    auto& member = p.new_isr_with_epochs.emplace_back();
    member.broker_id = id;
    member.broker_epoch = epochs[id - 1];
  }
  commit(controller_.alter_partition(expand, 3).records);
  ASSERT_TRUE(state().in_isr(BrokerId(preferred)));
  // Within an interval (300 s by default, from the first tick) nothing moves; after
  // it, leadership returns.
  const int64_t first_tick = now_ - 6 * 2000 + 2000;
  int64_t moved_at = -1;
  for (int step = 0; step < 200 && moved_at < 0; step++) {
    now_ += 2000;
    beat(1);
    beat(2);
    commit(controller_.tick(now_));
    if (state().leader == BrokerId(preferred)) moved_at = now_;
  }
  EXPECT_EQ(state().leader, BrokerId(preferred));
  EXPECT_GE(moved_at, first_tick + 300'000);
  EXPECT_LT(moved_at, first_tick + 300'000 + 2000 + 1);
  EXPECT_EQ(follower_.image(), controller_.image());
}

TEST_F(ControllerTest, ImageRecordsRebuildAnEqualImage) {
  auto epochs = live_brokers(3);
  ASSERT_EQ(create("kept", 3, 2).topics[0].error_code, 0);
  ASSERT_EQ(create("gone", 2, 1).topics[0].error_code, 0);
  protocol::DeleteTopicsRequest deletion;
  protocol::DeleteTopicsRequest::DeleteTopicState state;
  state.name = "gone";
  deletion.topics.push_back(state);
  commit(controller_.delete_topics(deletion, /*version=*/6).records);
  commit({ConfigRecord{ConfigResourceType::topic, "kept", "retention.ms", "1000"},
          ConfigRecord{ConfigResourceType::broker, "", "log.retention.hours", "2"}});
  protocol::AllocateProducerIdsRequest ids;
  ids.broker_id = 1;
  ids.broker_epoch = epochs[0];
  commit(controller_.allocate_producer_ids(ids).records);
  heartbeat(3, epochs[2], next_offset_ - 1, /*shut_down=*/true);  // leaderships move
  for (int step = 0; step < 5; step++) {  // broker 2 goes silent and is fenced
    now_ += 2000;
    heartbeat(1, epochs[0], next_offset_ - 1);
    commit(controller_.tick(now_));
  }
  const Image& image = follower_.image();
  ASSERT_TRUE(image.broker(BrokerId(2))->fenced);
  ASSERT_TRUE(image.broker(BrokerId(3))->in_controlled_shutdown);
  ASSERT_GT(image.topic("kept")->partitions[0].partition_epoch, PartitionEpoch(0));
  ASSERT_GT(image.next_producer_id(), ProducerId(0));

  MetadataState rebuilt;
  const std::vector<Record> records = image_records(image);
  ASSERT_TRUE(rebuilt.apply_all(records));
  EXPECT_EQ(rebuilt.image(), image);
  EXPECT_EQ(rebuilt.digest(), follower_.digest());
  // The records survive Kafka's batch framing too (a snapshot file is batches).
  auto decoded = decode_batch(encode_batch(records));
  ASSERT_TRUE(decoded);
  MetadataState from_bytes;
  ASSERT_TRUE(from_bytes.apply_all(*decoded));
  EXPECT_EQ(from_bytes.digest(), follower_.digest());
  EXPECT_TRUE(image_records(MetadataState{}.image()).empty());
}

}  // namespace
}  // namespace weir::metadata
