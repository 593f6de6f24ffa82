// GroupOffsets: commits become visible by replaying their records; deletes are
// tombstones; expiry follows offsets.retention.minutes by the group's state.
#include "group/offsets.h"

#include <chrono>

#include <gtest/gtest.h>

namespace weir::group {
namespace {

using std::chrono::milliseconds;

constexpr milliseconds kRetention{7 * 24 * 3600 * 1000LL};

void apply(GroupOffsets& offsets, const OffsetsRecord& record) {
  const auto& key = std::get<OffsetCommitKey>(record.key);
  std::optional<OffsetCommitValue> value;
  if (record.value) value = std::get<OffsetCommitValue>(*record.value);
  offsets.replay(key, value);
}

TEST(GroupOffsetsTest, CommitBecomesVisibleWhenItsRecordIsReplayed) {
  GroupOffsets offsets("g");
  const TopicPartition partition{"t", PartitionId(0)};
  const CommittedOffset committed{record::Offset(42), LeaderEpoch(3), "m", 1000, std::nullopt};
  const OffsetsRecord record = offsets.commit_record(partition, committed);
  EXPECT_EQ(offsets.fetch(partition), nullptr);  // not until appended
  // Through the bytes Kafka's tools would read.
  const EncodedRecord encoded = encode_record(record);
  auto decoded = decode_record(encoded.key, std::span<const uint8_t>(*encoded.value));
  ASSERT_TRUE(decoded.ok());
  apply(offsets, *decoded);
  ASSERT_NE(offsets.fetch(partition), nullptr);
  EXPECT_EQ(*offsets.fetch(partition), committed);

  apply(offsets, offsets.delete_record(partition));
  EXPECT_EQ(offsets.fetch(partition), nullptr);
  EXPECT_TRUE(offsets.empty());
}

TEST(GroupOffsetsTest, MetadataSizeIsChecked) {
  CommittedOffset offset{record::Offset(1), LeaderEpoch(-1), std::string(5000, 'x'), 0, {}};
  EXPECT_EQ(GroupOffsets::validate_commit(offset, 4096), ErrorCode::offset_metadata_too_large);
  offset.metadata = "ok";
  EXPECT_EQ(GroupOffsets::validate_commit(offset, 4096), ErrorCode::none);
}

TEST(GroupOffsetsTest, ExpiryFollowsTheGroupsState) {
  GroupOffsets offsets("g");
  apply(offsets, offsets.commit_record({"t", PartitionId(0)},
                                       {record::Offset(1), LeaderEpoch(-1), "", 1000, {}}));
  apply(offsets, offsets.commit_record({"t", PartitionId(1)},
                                       {record::Offset(1), LeaderEpoch(-1), "", 5000, {}}));
  const int64_t week = kRetention.count();
  // A group with members: nothing expires.
  EXPECT_TRUE(offsets.expired(std::nullopt, 1'000'000'000'000, kRetention).empty());
  // Simple commits: each offset a retention after its commit.
  const auto by_commit = offsets.expired(OffsetExpiry{std::nullopt}, 1000 + week, kRetention);
  ASSERT_EQ(by_commit.size(), 1u);
  EXPECT_EQ(std::get<OffsetCommitKey>(by_commit[0].key).partition, PartitionId(0));
  EXPECT_FALSE(by_commit[0].value.has_value());
  // Empty since 10000: all of them a retention after that.
  EXPECT_TRUE(offsets.expired(OffsetExpiry{10000}, 9999 + week, kRetention).empty());
  EXPECT_EQ(offsets.expired(OffsetExpiry{10000}, 10000 + week, kRetention).size(), 2u);
}

TEST(GroupOffsetsTest, VersionOneExpireTimestampWins) {
  GroupOffsets offsets("g");
  OffsetCommitValue value{record::Offset(1), LeaderEpoch(-1), "", 1000, 2000};
  offsets.replay(OffsetCommitKey{"g", "t", PartitionId(0)}, value);
  EXPECT_EQ(offsets.expired(OffsetExpiry{std::nullopt}, 2000, kRetention).size(), 1u);
  EXPECT_TRUE(offsets.expired(OffsetExpiry{std::nullopt}, 1999, kRetention).empty());
}

}  // namespace
}  // namespace weir::group
