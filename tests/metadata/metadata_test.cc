// The metadata records' codec, the state machine and its digest, and replica placement.
#include <map>
#include <set>
#include <vector>

#include <gtest/gtest.h>

#include "metadata/placement.h"
#include "metadata/records.h"
#include "metadata/state.h"
#include "runtime/random.h"

namespace weir::metadata {
namespace {

TopicId topic_id(uint8_t seed) {
  TopicId id;
  for (size_t i = 0; i < id.uuid.bytes.size(); i++)
    id.uuid.bytes[i] = static_cast<uint8_t>(seed + i);
  return id;
}

RegisterBrokerRecord broker(int32_t id, int64_t epoch, std::optional<std::string> rack = {}) {
  RegisterBrokerRecord record;
  record.broker_id = BrokerId(id);
  record.broker_epoch = BrokerEpoch(epoch);
  record.incarnation_id.bytes[0] = static_cast<uint8_t>(id);
  record.endpoints.push_back(
      BrokerEndpoint{"PLAINTEXT", "127.0.0.1", static_cast<uint16_t>(9090 + id)});
  record.rack = std::move(rack);
  return record;
}

std::vector<Record> sample_records() {
  PartitionRecord partition;
  partition.partition_id = PartitionId(0);
  partition.topic_id = topic_id(7);
  partition.replicas = {BrokerId(1), BrokerId(2)};
  partition.isr = {BrokerId(1), BrokerId(2)};
  partition.leader = BrokerId(1);
  partition.leader_epoch = LeaderEpoch(0);
  partition.partition_epoch = PartitionEpoch(0);
  PartitionChangeRecord change;
  change.partition_id = PartitionId(0);
  change.topic_id = topic_id(7);
  change.isr = std::vector<BrokerId>{BrokerId(1)};
  change.leader = BrokerId(1);
  ConfigRecord config{ConfigResourceType::topic, "events", "retention.ms", "1000"};
  ProducerIdsRecord ids;
  ids.broker_id = BrokerId(2);
  ids.broker_epoch = BrokerEpoch(11);
  ids.next_producer_id = ProducerId(2000);
  return {broker(1, 10, "rack-a"),
          broker(2, 11),
          FeatureLevelRecord{"metadata.version", 25},
          TopicRecord{"events", topic_id(7)},
          partition,
          config,
          change,
          UnfenceBrokerRecord{BrokerId(1), BrokerEpoch(10)},
          ids,
          NoOpRecord{}};
}

TEST(MetadataRecords, EveryRecordRoundTrips) {
  for (const Record& record : sample_records()) {
    const Bytes bytes = encode_record(record);
    auto decoded = decode_record(bytes);
    ASSERT_TRUE(decoded.ok()) << record_name(record);
    EXPECT_EQ(*decoded, record) << record_name(record);
  }
}

TEST(MetadataRecords, FramingIsKafkas) {
  // ApiMessageAndVersion: frame version 1, record type, record version, then the body
  // (flexible: a compact string is its length + 1 as an unsigned varint).
  const Bytes bytes = encode_record(Record(TopicRecord{"ab", topic_id(0)}));
  ASSERT_GE(bytes.size(), 6u + 16u + 1u);
  EXPECT_EQ(bytes[0], 1);  // frame version
  EXPECT_EQ(bytes[1], 2);  // TopicRecord
  EXPECT_EQ(bytes[2], 0);  // version 0
  EXPECT_EQ(bytes[3], 3);  // "ab": length 2 + 1
  EXPECT_EQ(bytes[4], 'a');
  EXPECT_EQ(bytes[5], 'b');
  EXPECT_EQ(bytes[6], 0);      // the topic id's first byte
  EXPECT_EQ(bytes.back(), 0);  // no tagged fields
  EXPECT_EQ(bytes.size(), 3u + 3u + 16u + 1u);
}

TEST(MetadataRecords, HostileBytesAreRefusedNotCrashedOn) {
  runtime::Random random(42);
  size_t refused = 0;
  for (int i = 0; i < 20000; i++) {
    Bytes bytes(random.below(64));
    for (auto& byte : bytes) byte = static_cast<uint8_t>(random.next());
    if (!bytes.empty() && random.chance(0.5)) bytes[0] = 1;  // a plausible frame version
    if (!decode_record(bytes).ok()) refused++;
  }
  EXPECT_GT(refused, 10000u);
  // Every record cut short is refused.
  for (const Record& record : sample_records()) {
    const Bytes bytes = encode_record(record);
    for (size_t cut = 0; cut + 1 < bytes.size(); cut++) {
      EXPECT_FALSE(decode_record(std::span(bytes).first(cut)).ok()) << record_name(record) << cut;
    }
  }
}

TEST(MetadataRecords, BatchesRoundTrip) {
  const auto records = sample_records();
  const Bytes batch = encode_batch(records, 1'700'000'000'000);
  auto decoded = decode_batch(batch);
  ASSERT_TRUE(decoded.ok());
  EXPECT_EQ(*decoded, records);
}

TEST(MetadataState, AppliesRecordsAndDigestsTheResult) {
  MetadataState state;
  ASSERT_TRUE(state.apply_all(sample_records()).ok());
  const Image& image = state.image();
  ASSERT_NE(image.topic("events"), nullptr);
  EXPECT_EQ(image.topic_count(), 1u);
  EXPECT_EQ(image.partition_count(), 1u);
  const PartitionState* partition = image.partition(topic_id(7), PartitionId(0));
  ASSERT_NE(partition, nullptr);
  EXPECT_EQ(partition->leader, BrokerId(1));
  EXPECT_EQ(partition->isr.size(), 1u);
  EXPECT_EQ(image.next_producer_id(), ProducerId(2000));
  EXPECT_EQ(image.topic_config("events").at("retention.ms"), "1000");

  // The same records give the same digest; one more change gives another.
  MetadataState again;
  ASSERT_TRUE(again.apply_all(sample_records()).ok());
  EXPECT_EQ(again.digest(), state.digest());
  ASSERT_TRUE(again.apply(Record(FenceBrokerRecord{BrokerId(1), BrokerEpoch(10)})).ok());
  EXPECT_NE(again.digest(), state.digest());

  // A record that does not fit is refused and changes nothing.
  const uint64_t before = state.digest();
  PartitionRecord stray;
  stray.partition_id = PartitionId(0);
  stray.topic_id = topic_id(99);
  stray.replicas = {BrokerId(1)};
  stray.isr = {BrokerId(1)};
  stray.leader = BrokerId(1);
  EXPECT_FALSE(state.apply(Record(stray)).ok());
  EXPECT_EQ(state.digest(), before);

  // Removing the topic removes its partitions and configs.
  ASSERT_TRUE(state.apply(Record(RemoveTopicRecord{topic_id(7)})).ok());
  EXPECT_EQ(state.image().topic("events"), nullptr);
  EXPECT_EQ(state.image().partition_count(), 0u);
}

TEST(Placement, SpreadsRacksAndLeaders) {
  std::vector<PlacementBroker> brokers;
  for (int id = 1; id <= 6; id++) {
    brokers.push_back({BrokerId(id), std::string("rack-") + static_cast<char>('a' + (id - 1) % 3)});
  }
  runtime::Random random(7);
  auto placed = place_replicas(brokers, 12, 3, random);
  ASSERT_TRUE(placed.ok());
  ASSERT_EQ(placed->size(), 12u);
  std::map<BrokerId, int> leaders;
  for (const auto& replicas : *placed) {
    ASSERT_EQ(replicas.size(), 3u);
    std::set<BrokerId> distinct(replicas.begin(), replicas.end());
    EXPECT_EQ(distinct.size(), 3u);
    std::set<int32_t> racks;
    for (BrokerId id : replicas) racks.insert((id.value() - 1) % 3);
    EXPECT_EQ(racks.size(), 3u) << "every replica on its own rack";
    leaders[replicas.front()]++;
  }
  EXPECT_EQ(leaders.size(), 6u);
  for (const auto& [id, count] : leaders) EXPECT_EQ(count, 2) << id.value();

  auto too_many = place_replicas(brokers, 1, 7, random);
  ASSERT_FALSE(too_many.ok());
  EXPECT_NE(too_many.error().message.find("replication factor"), std::string::npos)
      << too_many.error().message;
}

}  // namespace
}  // namespace weir::metadata
