// The client against a fake broker on the simulator's network: virtual time, seeded,
// so retries, timeouts and dropped responses are exact and repeatable.
#include <map>
#include <memory>
#include <set>
#include <string>

#include <gtest/gtest.h>

#include "client/admin.h"
#include "client/cluster.h"
#include "client/consumer.h"
#include "client/group_consumer.h"
#include "client/murmur2.h"
#include "client/producer.h"
#include "fake_broker.h"
#include "rpc/connection.h"
#include "runtime/env.h"
#include "sim/clock.h"
#include "sim/disk.h"
#include "sim/log.h"
#include "sim/network.h"
#include "sim/trace.h"

namespace weir::client {
namespace {

using rpc::ApiVersionRange;
using rpc::pick_version;
using runtime::milliseconds;
using runtime::seconds;
using testing::FakeBroker;
using testing::ProduceFault;

std::span<const uint8_t> bytes(const std::string& text) {
  return {reinterpret_cast<const uint8_t*>(text.data()), text.size()};
}
std::string text(const std::optional<record::Bytes>& bytes) {
  return bytes ? std::string(bytes->begin(), bytes->end()) : "<null>";
}

class ClientTest : public ::testing::Test {
 protected:
  ClientTest() {
    timing.latency = milliseconds(1);
    timing.jitter = milliseconds(0);
    network =
        std::make_unique<sim::SimNetwork>(scheduler, runtime::Random(3), timing, stats, trace);
    client_network = network->view("client");
    broker_network = network->view("broker");
    disk = std::make_unique<sim::SimDisk>(scheduler, runtime::Random(4), sim::DiskFaults{}, stats);
    broker = std::make_unique<FakeBroker>(broker_env(), runtime::Address{"broker", 9092});
  }
  ~ClientTest() override {
    scheduler.kill_group(group);
    broker.reset();
  }

  runtime::Env client_env() {
    return runtime::Env{scheduler, clock, random, *client_network, *disk, buggify, log};
  }
  runtime::Env broker_env() {
    return runtime::Env{scheduler, clock, broker_random, *broker_network, *disk, buggify, log};
  }
  ClusterOptions cluster_options() {
    ClusterOptions options;
    options.bootstrap_servers = {runtime::Address{"broker", 9092}};
    options.connection.request_timeout = seconds(2);
    return options;
  }
  // Runs `body` in a client fiber until it returns; the broker keeps running meanwhile.
  void run(std::function<void()> body) {
    bool done = false;
    scheduler.spawn(group, "test", [&] {
      // The broker's fibers join the test's group, which the fixture unwinds while the
      // network they use still exists.
      if (!broker_started) broker->start();
      broker_started = true;
      body();
      done = true;
    });
    scheduler.run_until([&] { return done || scheduler.failure() != nullptr; });
    if (auto failure = scheduler.failure()) std::rethrow_exception(failure);
    ASSERT_TRUE(done) << "the test fiber never finished";
  }

  sim::VirtualClock clock;
  sim::VirtualReactor reactor{clock};
  sim::Trace trace{clock};
  sim::FaultStats stats;
  runtime::Scheduler scheduler{clock, reactor, nullptr, &trace};
  runtime::GroupId group = scheduler.new_group("client-test");
  sim::NetworkTiming timing;
  std::unique_ptr<sim::SimNetwork> network;
  std::unique_ptr<runtime::Network> client_network;
  std::unique_ptr<runtime::Network> broker_network;
  std::unique_ptr<sim::SimDisk> disk;
  runtime::Random random{11};
  runtime::Random broker_random{12};
  runtime::Buggify buggify;
  sim::TraceLog log{trace, "client-test"};
  std::unique_ptr<FakeBroker> broker;
  bool broker_started = false;
};

TEST_F(ClientTest, ConnectionNegotiatesTheHighestCommonVersion) {
  EXPECT_EQ(pick_version(protocol::ApiKey::fetch, ApiVersionRange{0, 11}), 11);
  EXPECT_EQ(pick_version(protocol::ApiKey::fetch, ApiVersionRange{0, 99}),
            protocol::find_api(1)->version_max);
  EXPECT_EQ(pick_version(protocol::ApiKey::fetch, ApiVersionRange{0, 3}), std::nullopt);
  run([&] {
    auto connection = Connection::connect(client_env(), {"broker", 9092}, {});
    ASSERT_TRUE(connection.ok()) << connection.error().to_string();
    EXPECT_EQ((*connection)->version(protocol::ApiKey::metadata),
              protocol::find_api(3)->version_max);
  });
}

TEST_F(ClientTest, AMalformedResponseIsAnErrorAndClosesTheConnection) {
  broker->create_topic("t", 1);
  broker->garbage_api = 3;  // Metadata
  run([&] {
    Cluster cluster(client_env(), cluster_options());
    auto refreshed = cluster.refresh_metadata_wait({"t"});
    ASSERT_FALSE(refreshed.ok());
    EXPECT_EQ(refreshed.error().kind, ErrorKind::malformed_response);
  });
}

TEST_F(ClientTest, AnUnansweredRequestTimesOutAndFailsEveryPendingOne) {
  broker->silent_api = 3;
  run([&] {
    auto connection = Connection::connect(client_env(), {"broker", 9092},
                                          ConnectionOptions{"test", seconds(1), seconds(2)});
    ASSERT_TRUE(connection.ok());
    const runtime::Instant start = clock.now();
    auto first = (*connection)->send(protocol::MetadataRequest{});
    auto second = (*connection)->send(protocol::MetadataRequest{});
    auto first_result = first.get();
    auto second_result = second.get();
    ASSERT_TRUE(first_result && second_result);
    ASSERT_FALSE(first_result->ok());
    EXPECT_EQ(first_result->error().kind, ErrorKind::timed_out);
    ASSERT_FALSE(second_result->ok());
    EXPECT_GE(clock.now() - start, seconds(2));
    EXPECT_FALSE((*connection)->is_open());
    // Later sends fail at once instead of hanging.
    auto later = (*connection)->send(protocol::MetadataRequest{}).get();
    ASSERT_TRUE(later);
    EXPECT_FALSE(later->ok());
  });
}

TEST_F(ClientTest, KeyedRecordsGoToTheirMurmur2PartitionWithConsecutiveOffsets) {
  broker->create_topic("t", 4);
  run([&] {
    Cluster cluster(client_env(), cluster_options());
    ProducerConfig config;
    config.acks = 1;
    config.idempotence = false;
    Producer producer(cluster, config);
    std::vector<runtime::Future<DeliveryResult>> futures;
    for (int i = 0; i < 100; i++) {
      const std::string key = fmt::format("key-{}", i % 10);
      const std::string value = fmt::format("value-{}", i);
      futures.push_back(producer.send("t", std::nullopt, bytes(key), bytes(value)));
    }
    producer.flush();
    std::map<int32_t, int64_t> next_offset;
    for (int i = 0; i < 100; i++) {
      auto result = futures[static_cast<size_t>(i)].get();
      ASSERT_TRUE(result && result->ok());
      const std::string key = fmt::format("key-{}", i % 10);
      EXPECT_EQ((*result)->partition.partition, murmur2_partition(bytes(key), 4));
      EXPECT_EQ((*result)->offset.value(), next_offset[(*result)->partition.partition]++);
    }
    producer.close();
  });
}

// The heart of enable.idempotence: with errors instead of appends and appends whose
// answer is lost (so the retry is a duplicate the broker must recognise), every record
// still lands exactly once, in send order per partition, at the offset its future
// reports, with consecutive sequence numbers.
TEST_F(ClientTest, IdempotentProducerKeepsOrderAndExactlyOnceAcrossFaults) {
  broker->create_topic("t", 3);
  runtime::Random faults(99);
  int injected_errors = 0, dropped = 0;
  broker->produce_fault = [&](const std::string&, int32_t) {
    const double draw = faults.unit();
    if (draw < 0.15) {
      injected_errors++;
      return ProduceFault::error;
    }
    if (draw < 0.22) {
      dropped++;
      return ProduceFault::drop_response;
    }
    return ProduceFault::none;
  };
  const int count = 3000;
  std::vector<std::optional<DeliveryResult>> results(count);
  run([&] {
    Cluster cluster(client_env(), cluster_options());
    ProducerConfig config;  // idempotent, acks=all, max.in.flight 5
    config.batch_bytes = 300;
    config.linger = milliseconds(1);
    config.retry_backoff = milliseconds(5);
    config.request_timeout = seconds(2);
    Producer producer(cluster, config);
    for (int i = 0; i < count; i++) {
      const std::string key = fmt::format("k{}", i % 13);
      const std::string value = fmt::format("v{}", i);
      producer.send("t", std::nullopt, bytes(key), bytes(value), {},
                    [&results, i](const DeliveryResult& result) {
                      results[static_cast<size_t>(i)] = result;
                    });
      if (i % 50 == 0) scheduler.yield();
    }
    producer.close();
  });
  EXPECT_GT(injected_errors, 10);
  EXPECT_GT(dropped, 5);
  std::map<int32_t, std::vector<int>> sent_order;
  for (int i = 0; i < count; i++) {
    const auto& result = results[static_cast<size_t>(i)];
    ASSERT_TRUE(result.has_value()) << "record " << i << " never completed";
    ASSERT_TRUE(result->ok()) << i << ": " << result->error().to_string();
    const int32_t partition = (*result)->partition.partition;
    sent_order[partition].push_back(i);
    const auto& log = broker->partition("t", partition).records;
    const int64_t offset = (*result)->offset.value();
    ASSERT_LT(offset, static_cast<int64_t>(log.size()));
    EXPECT_EQ(text(log[static_cast<size_t>(offset)].value), fmt::format("v{}", i));
  }
  for (int32_t partition = 0; partition < 3; partition++) {
    const auto& log = broker->partition("t", partition).records;
    const auto& order = sent_order[partition];
    ASSERT_EQ(log.size(), order.size()) << "partition " << partition << " has duplicates";
    for (size_t position = 0; position < log.size(); position++) {
      EXPECT_EQ(text(log[position].value), fmt::format("v{}", order[position]));
      EXPECT_EQ(log[position].sequence, static_cast<int32_t>(position));
    }
  }
}

// Without idempotence, a non-retriable error fails exactly the records of its batch.
TEST_F(ClientTest, ANonRetriableErrorFailsTheBatchWithTheBrokersCode) {
  broker->create_topic("t", 1);
  broker->fault_error = protocol::error_value(protocol::ErrorCode::invalid_record);
  bool fail_next = true;
  broker->produce_fault = [&](const std::string&, int32_t) {
    const bool fail = fail_next;
    fail_next = false;
    return fail ? ProduceFault::error : ProduceFault::none;
  };
  run([&] {
    Cluster cluster(client_env(), cluster_options());
    ProducerConfig config;
    config.acks = 1;
    config.idempotence = false;
    Producer producer(cluster, config);
    auto first = producer.send("t", 0, std::nullopt, bytes("a"));
    producer.flush();
    auto second = producer.send("t", 0, std::nullopt, bytes("b"));
    producer.flush();
    auto first_result = first.get();
    ASSERT_TRUE(first_result && !first_result->ok());
    EXPECT_EQ(first_result->error().code, protocol::ErrorCode::invalid_record);
    auto second_result = second.get();
    ASSERT_TRUE(second_result && second_result->ok());
    EXPECT_EQ((*second_result)->offset.value(), 0);
  });
}

TEST_F(ClientTest, ConsumerReadsEveryRecordInOrderAndResetsOutOfRange) {
  broker->create_topic("t", 2);
  run([&] {
    Cluster cluster(client_env(), cluster_options());
    ProducerConfig config;
    config.batch_bytes = 200;
    config.compression = record::Compression::lz4;
    Producer producer(cluster, config);
    for (int i = 0; i < 400; i++) {
      const std::string value = fmt::format("v{}", i);
      const std::string header_value = "h";
      const RecordHeader headers[] = {{"n", bytes(header_value)}};
      producer.send("t", i % 2, std::nullopt, bytes(value), headers);
    }
    producer.close();

    ConsumerConfig consumer_config;
    consumer_config.max_partition_fetch_bytes = 1000;  // several fetches per partition
    consumer_config.auto_offset_reset = OffsetReset::earliest;
    Consumer consumer(cluster, consumer_config);
    consumer.assign({{"t", 0}, {"t", 1}});
    ASSERT_TRUE(consumer.seek_to_beginning_wait(consumer.assignment()).ok());
    std::map<int32_t, std::vector<ConsumerRecord>> got;
    size_t total = 0;
    while (total < 400) {
      auto records = consumer.poll(seconds(1));
      ASSERT_TRUE(records.ok()) << records.error().to_string();
      ASSERT_FALSE(records->empty()) << "stalled at " << total;
      for (auto& record : *records) {
        got[record.partition.partition].push_back(std::move(record));
        total++;
      }
    }
    for (int32_t partition = 0; partition < 2; partition++) {
      ASSERT_EQ(got[partition].size(), 200u);
      for (size_t i = 0; i < 200; i++) {
        const ConsumerRecord& record = got[partition][i];
        EXPECT_EQ(record.offset.value(), static_cast<int64_t>(i));
        EXPECT_EQ(text(record.value), fmt::format("v{}", 2 * i + static_cast<size_t>(partition)));
        ASSERT_EQ(record.headers.size(), 1u);
        EXPECT_EQ(record.headers[0].key, "n");
      }
    }
    EXPECT_EQ(consumer.high_watermark({"t", 0}), record::Offset{200});
    // A position past the end: OFFSET_OUT_OF_RANGE, reset to the earliest offset.
    consumer.seek({"t", 1}, record::Offset{5000});
    std::vector<ConsumerRecord> again;
    while (again.empty()) {
      auto records = consumer.poll(seconds(1));
      ASSERT_TRUE(records.ok());
      again = std::move(*records);
    }
    EXPECT_EQ(again.front().partition.partition, 1);
    EXPECT_EQ(again.front().offset.value(), 0);
    // Seek to the end: nothing more to read.
    ASSERT_TRUE(consumer.seek_to_end_wait({{"t", 0}, {"t", 1}}).ok());
    EXPECT_EQ(consumer.position({"t", 0}), record::Offset{200});
    auto none = consumer.poll(milliseconds(50));
    ASSERT_TRUE(none.ok());
    EXPECT_TRUE(none->empty());
  });
}

TEST_F(ClientTest, ConsumerRefreshesMetadataBeforeFetchingAgainAfterNotLeader) {
  // A leader change answers fetches with NOT_LEADER_OR_FOLLOWER: the consumer must learn
  // the new leader from Metadata before it fetches again, not go on asking the old one.
  broker->create_topic("t", 1);
  int not_leader_answers = 2;
  broker->fetch_error = [&](const std::string&, int32_t) -> int16_t {
    if (not_leader_answers == 0) return 0;
    not_leader_answers--;
    return protocol::error_value(protocol::ErrorCode::not_leader_or_follower);
  };
  run([&] {
    Cluster cluster(client_env(), cluster_options());
    Producer producer(cluster, ProducerConfig{});
    producer.send("t", 0, std::nullopt, bytes("v"), {});
    producer.close();
    ConsumerConfig config;
    config.auto_offset_reset = OffsetReset::earliest;
    Consumer consumer(cluster, config);
    consumer.assign({{"t", 0}});
    std::vector<ConsumerRecord> got;
    while (got.empty()) {
      auto records = consumer.poll(seconds(1));
      ASSERT_TRUE(records.ok()) << records.error().to_string();
      got = std::move(*records);
    }
    EXPECT_EQ(text(got.front().value), "v");
  });
  EXPECT_EQ(not_leader_answers, 0);
  // Between any two fetches (api key 1) the first of which failed, a Metadata (3).
  const std::vector<int16_t>& requests = broker->requests;
  std::vector<size_t> fetches;
  for (size_t i = 0; i < requests.size(); i++) {
    if (requests[i] == 1) fetches.push_back(i);
  }
  ASSERT_GE(fetches.size(), 3u) << ::testing::PrintToString(requests);
  for (size_t f = 0; f < 2; f++) {
    const auto from = requests.begin() + static_cast<std::ptrdiff_t>(fetches[f]);
    const auto to = requests.begin() + static_cast<std::ptrdiff_t>(fetches[f + 1]);
    EXPECT_NE(std::find(from, to, int16_t{3}), to)
        << "no Metadata after failed fetch " << f << ": " << ::testing::PrintToString(requests);
  }
}

TEST_F(ClientTest, APositionCountsOnlyWhatPollHandedOut) {
  // One fetch brings all 100 records; poll hands out 10 at a time. The position (what a
  // group commits after processing) must follow what poll returned, not the fetch, or
  // a crash after a commit skips the records still buffered.
  broker->create_topic("t", 1);
  run([&] {
    Cluster cluster(client_env(), cluster_options());
    Producer producer(cluster, ProducerConfig{});
    for (int i = 0; i < 100; i++) {
      producer.send("t", 0, std::nullopt, bytes(fmt::format("v{}", i)), {});
    }
    producer.close();
    ConsumerConfig config;
    config.auto_offset_reset = OffsetReset::earliest;
    config.max_poll_records = 10;
    Consumer consumer(cluster, config);
    consumer.assign({{"t", 0}});
    int64_t returned = 0;
    while (returned < 100) {
      auto records = consumer.poll(seconds(1));
      ASSERT_TRUE(records.ok()) << records.error().to_string();
      ASSERT_LE(records->size(), 10u);
      for (const ConsumerRecord& record : *records) {
        EXPECT_EQ(record.offset.value(), returned);
        returned++;
      }
      ASSERT_EQ(consumer.position({"t", 0}), record::Offset{returned});
    }
    // A seek drops what was buffered: the position is the seek's.
    consumer.seek({"t", 0}, record::Offset{40});
    EXPECT_EQ(consumer.position({"t", 0}), record::Offset{40});
    auto again = consumer.poll(seconds(1));
    ASSERT_TRUE(again.ok());
    ASSERT_FALSE(again->empty());
    EXPECT_EQ(again->front().offset.value(), 40);
    EXPECT_EQ(consumer.position({"t", 0}), again->back().offset + 1);
  });
}

TEST_F(ClientTest, AnUnknownTopicIsAnErrorNotAHang) {
  run([&] {
    Cluster cluster(client_env(), cluster_options());
    ProducerConfig config;
    config.max_block = seconds(1);
    Producer producer(cluster, config);
    auto result = producer.send("missing", std::nullopt, std::nullopt, bytes("x")).get();
    ASSERT_TRUE(result && !result->ok());
    EXPECT_EQ(result->error().code, protocol::ErrorCode::unknown_topic_or_partition);
  });
}

// --- The group consumer against the fake coordinator (src/group's rules) -------------

// One group member in its own fiber with its own Cluster, polling until told to stop
// or to crash (destroyed without close, as a killed process is).
struct Member {
  Member(runtime::Scheduler& scheduler, runtime::GroupId group, runtime::Env env,
         ClusterOptions options, GroupConsumerConfig config, std::vector<std::string> topics) {
    scheduler.spawn(group, "member", [this, env, options, config, topics] {
      Cluster cluster(env, options);
      GroupConsumer consumer(cluster, config);
      consumer.subscribe(topics);
      this->consumer = &consumer;
      while (!stop && !crash) {
        auto records = consumer.poll(milliseconds(100));
        if (!records) {
          failure = records.error().to_string();
          break;
        }
        for (const ConsumerRecord& record : *records) {
          got.emplace_back(record.partition.partition, record.offset.value());
        }
      }
      if (stop) closed_ok = consumer.close().ok();
      this->consumer = nullptr;
      cluster.close();
      done = true;
    });
  }
  std::vector<int32_t> partitions() const {
    std::vector<int32_t> out;
    if (consumer == nullptr) return out;
    for (const TopicPartition& tp : consumer->assignment()) out.push_back(tp.partition);
    return out;
  }
  GroupConsumer* consumer = nullptr;
  std::vector<std::pair<int32_t, int64_t>> got;  // (partition, offset)
  std::string failure;
  bool stop = false;
  bool crash = false;
  bool done = false;
  bool closed_ok = false;
};

class GroupConsumerTest : public ClientTest {
 protected:
  // The members' fibers end before the members they write to (a failed assertion may
  // return from the test body while they still run).
  ~GroupConsumerTest() override { scheduler.kill_group(group); }

  GroupConsumerConfig group_config(std::string group = "g") {
    GroupConsumerConfig config;
    config.group_id = std::move(group);
    config.session_timeout = seconds(6);
    config.heartbeat_interval = seconds(1);
    config.max_poll_interval = seconds(20);
    config.auto_commit_interval = seconds(1);
    config.consumer.auto_offset_reset = OffsetReset::earliest;
    config.consumer.fetch_max_wait = milliseconds(50);
    return config;
  }
  Member* member(GroupConsumerConfig config) {
    members_.push_back(std::make_unique<Member>(scheduler, group, client_env(), cluster_options(),
                                                std::move(config), std::vector<std::string>{"t"}));
    return members_.back().get();
  }
  std::vector<std::unique_ptr<Member>> members_;
  // One producer per test: the fake broker keeps one sequence per partition, not per
  // producer id, so a second idempotent producer would be refused.
  void produce(Producer& producer, int first, int count) {
    for (int i = first; i < first + count; i++) {
      const std::string value = fmt::format("v{}", i);
      producer.send("t", i % 4, std::nullopt, bytes(value));
    }
    producer.flush();
  }
  static std::set<int32_t> partition_set(const Member& m, size_t from = 0) {
    std::set<int32_t> out;
    for (size_t i = from; i < m.got.size(); i++) out.insert(m.got[i].first);
    return out;
  }
};

TEST_F(GroupConsumerTest, TwoMembersSplitAndTheSurvivorOfACrashTakesOverWithoutGaps) {
  broker->create_topic("t", 4);
  run([&] {
    Cluster cluster(client_env(), cluster_options());
    Producer producer(cluster, ProducerConfig{});
    auto a = member(group_config());
    auto b = member(group_config());
    scheduler.sleep_for(seconds(5));
    ASSERT_EQ(a->failure + b->failure, "");
    EXPECT_EQ(a->partitions().size(), 2U);
    EXPECT_EQ(b->partitions().size(), 2U);
    produce(producer, 0, 40);
    scheduler.sleep_for(seconds(3));
    EXPECT_EQ(a->got.size() + b->got.size(), 40U);
    EXPECT_EQ(partition_set(*a).size(), 2U);
    EXPECT_EQ(partition_set(*b).size(), 2U);
    for (int32_t p : partition_set(*a)) EXPECT_FALSE(partition_set(*b).contains(p));

    // b dies without a word; after its session the group gives a everything, and a
    // starts each of b's partitions at b's last commit.
    std::map<int32_t, std::optional<int64_t>> committed_by_b;
    for (int32_t p : partition_set(*b))
      committed_by_b[p] = broker->coordinator().committed("g", "t", p);
    const size_t a_before = a->got.size();
    b->crash = true;
    scheduler.sleep_for(milliseconds(500));
    ASSERT_TRUE(b->done);
    produce(producer, 40, 40);
    scheduler.sleep_for(seconds(15));
    ASSERT_EQ(a->failure, "");
    EXPECT_EQ(a->partitions(), (std::vector<int32_t>{0, 1, 2, 3}));
    std::map<int32_t, std::set<int64_t>> seen;
    for (const auto& [p, o] : a->got) seen[p].insert(o);
    for (const auto& [p, o] : b->got) seen[p].insert(o);
    for (int32_t p = 0; p < 4; p++) {
      EXPECT_EQ(seen[p].size(), 20U) << "partition " << p;  // offsets 0..19, none missing
      EXPECT_EQ(*seen[p].rbegin(), 19) << "partition " << p;
    }
    // a starts b's partitions at b's commits (auto commit covered all b read), not at
    // auto.offset.reset's earliest.
    for (const auto& [p, offset] : committed_by_b) {
      ASSERT_EQ(offset, 10) << "partition " << p;
      int64_t first = INT64_MAX;
      for (size_t i = a_before; i < a->got.size(); i++) {
        if (a->got[i].first == p) first = std::min(first, a->got[i].second);
      }
      EXPECT_EQ(first, 10) << "partition " << p;
    }
    const group::ClassicGroup* g = broker->coordinator().group("g");
    ASSERT_NE(g, nullptr);
    EXPECT_EQ(g->members().size(), 1U);

    a->stop = true;
    scheduler.sleep_for(seconds(1));
    EXPECT_TRUE(a->done);
    EXPECT_TRUE(a->closed_ok);
    EXPECT_EQ(g->state(), group::GroupState::empty);  // LeaveGroup at close
    for (int32_t p = 0; p < 4; p++) EXPECT_EQ(broker->coordinator().committed("g", "t", p), 20);
  });
}

TEST_F(GroupConsumerTest, ATopicCreatedAfterTheGroupFormedIsAssigned) {
  // The member joins before its topic exists: the leader assigns nothing. Once the topic
  // appears the leader must see it and rejoin, or the group stays Stable with nothing
  // assigned forever (the simulator's groups workload found this, seed 9).
  run([&] {
    auto a = member(group_config());
    scheduler.sleep_for(seconds(3));
    ASSERT_EQ(a->failure, "");
    EXPECT_TRUE(a->partitions().empty());
    const int32_t generation = a->consumer->membership().generation();
    EXPECT_GE(generation, 0);
    broker->create_topic("t", 4);
    scheduler.sleep_for(seconds(4));
    ASSERT_EQ(a->failure, "");
    EXPECT_EQ(a->partitions().size(), 4U);
    EXPECT_GT(a->consumer->membership().generation(), generation);
    a->stop = true;
    scheduler.sleep_for(seconds(1));
  });
}

TEST_F(GroupConsumerTest, CoordinatorErrorsAreFoundAgainWithoutARebalance) {
  broker->create_topic("t", 4);
  run([&] {
    Cluster cluster(client_env(), cluster_options());
    Producer producer(cluster, ProducerConfig{});
    auto a = member(group_config());
    scheduler.sleep_for(seconds(3));
    ASSERT_EQ(a->partitions().size(), 4U);
    const int32_t generation = a->consumer->membership().generation();
    const int64_t heartbeats = broker->coordinator().heartbeats;
    broker->coordinator().fail_next = 3;  // NOT_COORDINATOR to the next three requests
    produce(producer, 0, 40);
    scheduler.sleep_for(seconds(8));
    ASSERT_EQ(a->failure, "");
    EXPECT_EQ(broker->coordinator().fail_next, 0);
    EXPECT_GT(broker->coordinator().heartbeats, heartbeats);  // heartbeats resumed
    EXPECT_EQ(a->consumer->membership().generation(), generation);
    EXPECT_EQ(a->got.size(), 40U);
    a->stop = true;
    scheduler.sleep_for(seconds(1));
    for (int32_t p = 0; p < 4; p++) EXPECT_EQ(broker->coordinator().committed("g", "t", p), 10);
  });
}

TEST_F(GroupConsumerTest, AHungCoordinatorIsGivenUpAfterTheRequestTimeoutNotTheSession) {
  broker->create_topic("t", 4);
  run([&] {
    // No auto commit: nothing else on the coordinator connection unblocks the heartbeat
    // (an answer to a later request would close the connection as out of order).
    GroupConsumerConfig config = group_config();
    config.enable_auto_commit = false;
    auto a = member(config);
    scheduler.sleep_for(seconds(3));
    ASSERT_EQ(a->partitions().size(), 4U);
    const int32_t generation = a->consumer->membership().generation();
    // Heartbeats go unanswered; the coordinator connection's own timeout is the
    // rebalance timeout (20 s), far past the 6 s session.
    broker->silent_api = 12;
    scheduler.sleep_for(milliseconds(2500));
    broker->silent_api.reset();
    const int64_t heartbeats = broker->coordinator().heartbeats;
    scheduler.sleep_for(seconds(6));
    ASSERT_EQ(a->failure, "");
    // The hung heartbeat was given up after request.timeout.ms (2 s here), the
    // coordinator found again and heartbeats resumed within the session.
    EXPECT_GT(broker->coordinator().heartbeats, heartbeats);
    EXPECT_EQ(a->consumer->membership().generation(), generation);
    EXPECT_EQ(broker->coordinator().group("g")->generation().value(), generation);
    a->stop = true;
    scheduler.sleep_for(seconds(1));
  });
}

TEST_F(GroupConsumerTest, ManualCommitsAreWhereTheNextMemberStarts) {
  broker->create_topic("t", 4);
  run([&] {
    Cluster cluster(client_env(), cluster_options());
    Producer producer(cluster, ProducerConfig{});
    produce(producer, 0, 40);
    GroupConsumerConfig config = group_config();
    ASSERT_FALSE(apply_group_consumer_property(config, "enable.auto.commit", "false"));
    {
      GroupConsumer consumer(cluster, config);
      consumer.subscribe({"t"});
      size_t got = 0;
      while (got < 40) {
        auto records = consumer.poll(seconds(1));
        ASSERT_TRUE(records.ok()) << records.error().to_string();
        got += records->size();
      }
      // Commit explicit offsets: 5 on partition 0, positions elsewhere untouched.
      ASSERT_TRUE(consumer.commit_wait({{TopicPartition{"t", 0}, record::Offset{5}}}).ok());
      auto committed = consumer.committed_wait({{"t", 0}, {"t", 1}});
      ASSERT_TRUE(committed.ok());
      EXPECT_EQ(committed->at(TopicPartition{"t", 0}), record::Offset{5});
      EXPECT_EQ(committed->at(TopicPartition{"t", 1}), std::nullopt);
      ASSERT_TRUE(consumer.close().ok());  // no auto commit: nothing more committed
    }
    EXPECT_EQ(broker->coordinator().committed("g", "t", 1), std::nullopt);
    GroupConsumer next(cluster, config);
    next.subscribe({"t"});
    std::map<int32_t, int64_t> first;
    while (first.size() < 4) {
      auto records = next.poll(seconds(1));
      ASSERT_TRUE(records.ok()) << records.error().to_string();
      for (const ConsumerRecord& record : *records) {
        first.try_emplace(record.partition.partition, record.offset.value());
      }
    }
    // Partition 0 from its commit; the others by auto.offset.reset=earliest.
    EXPECT_EQ(first, (std::map<int32_t, int64_t>{{0, 5}, {1, 0}, {2, 0}, {3, 0}}));
    ASSERT_TRUE(next.commit_wait().ok());
    for (int32_t p = 0; p < 4; p++) EXPECT_EQ(broker->coordinator().committed("g", "t", p), 10);
    (void)next.close();
  });
}

TEST_F(GroupConsumerTest, AStaticMemberComesBackWithoutARebalance) {
  broker->create_topic("t", 4);
  run([&] {
    GroupConsumerConfig config = group_config();
    ASSERT_FALSE(apply_group_consumer_property(config, "group.instance.id", "worker-1"));
    auto a = member(config);
    auto b = member(group_config());
    scheduler.sleep_for(seconds(5));
    ASSERT_EQ(a->partitions().size(), 2U);
    const std::vector<int32_t> before = a->partitions();
    const group::ClassicGroup* g = broker->coordinator().group("g");
    const int32_t generation = g->generation().value();
    a->stop = true;  // close(): a static member sends no LeaveGroup
    scheduler.sleep_for(seconds(1));
    EXPECT_EQ(g->members().size(), 2U);
    auto again = member(config);
    scheduler.sleep_for(seconds(3));
    EXPECT_EQ(again->partitions(), before);
    EXPECT_EQ(g->generation().value(), generation);  // no rebalance
    EXPECT_EQ(b->partitions().size(), 2U);
    again->stop = true;
    b->stop = true;
    scheduler.sleep_for(seconds(1));
  });
}

TEST_F(GroupConsumerTest, AMemberThatStopsPollingLeavesAndRejoinsAtItsNextPoll) {
  broker->create_topic("t", 2);
  run([&] {
    Cluster cluster(client_env(), cluster_options());
    GroupConsumerConfig config = group_config();
    config.max_poll_interval = seconds(10);
    GroupConsumer consumer(cluster, config);
    consumer.subscribe({"t"});
    for (int i = 0; i < 30 && consumer.assignment().size() < 2; i++) {
      ASSERT_TRUE(consumer.poll(milliseconds(100)).ok());
    }
    ASSERT_EQ(consumer.assignment().size(), 2U);
    const group::ClassicGroup* g = broker->coordinator().group("g");
    scheduler.sleep_for(seconds(12));  // no poll for longer than max.poll.interval
    EXPECT_EQ(g->members().size(), 0U);
    EXPECT_TRUE(consumer.membership().needs_join());
    for (int i = 0; i < 30 && (consumer.membership().needs_join() || consumer.assignment().empty());
         i++) {
      ASSERT_TRUE(consumer.poll(milliseconds(100)).ok());
    }
    EXPECT_EQ(consumer.assignment().size(), 2U);
    EXPECT_EQ(g->members().size(), 1U);
    (void)consumer.close();
  });
}

}  // namespace
}  // namespace weir::client
