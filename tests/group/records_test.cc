// __consumer_offsets records: Kafka's byte layouts (golden bytes), every value version
// read and written, and hostile input (truncations, negative lengths, counts past the
// end) decoding to errors rather than crashes. RapidCheck: round trips and random bytes.
#include "group/records.h"

#include <cstdint>
#include <optional>
#include <rapidcheck.h>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

namespace weir::group {
namespace {

Bytes bytes(std::initializer_list<int> values) {
  Bytes out;
  for (int value : values) out.push_back(static_cast<uint8_t>(value));
  return out;
}

GroupMetadataValue two_member_group() {
  GroupMetadataValue value;
  value.protocol_type = "consumer";
  value.generation = GenerationId(7);
  value.protocol = "range";
  value.leader = "a-1";
  value.current_state_timestamp_ms = 1'700'000'000'000;
  value.members.push_back(GroupMemberMetadata{"a-1", std::nullopt, "a", "/10.0.0.1", 60000, 10000,
                                              bytes({1, 2}), bytes({3})});
  value.members.push_back(GroupMemberMetadata{"b-1", "instance-b", "b", "/10.0.0.2", 30000, 45000,
                                              bytes({}), bytes({4, 5, 6})});
  return value;
}

TEST(RecordsTest, OffsetCommitKeyIsKafkasLayout) {
  const Bytes key = encode_key(OffsetCommitKey{"g", "t", PartitionId(3)});
  EXPECT_EQ(key, bytes({0, 1, 0, 1, 'g', 0, 1, 't', 0, 0, 0, 3}));
  auto decoded = decode_key(key);
  ASSERT_TRUE(decoded.ok());
  EXPECT_EQ(std::get<OffsetCommitKey>(*decoded), (OffsetCommitKey{"g", "t", PartitionId(3)}));
}

TEST(RecordsTest, VersionZeroKeyIsAnOffsetCommitToo) {
  auto decoded = decode_key(bytes({0, 0, 0, 1, 'g', 0, 1, 't', 0, 0, 0, 3}));
  ASSERT_TRUE(decoded.ok());
  EXPECT_TRUE(std::holds_alternative<OffsetCommitKey>(*decoded));
}

TEST(RecordsTest, GroupMetadataKeyIsKafkasLayout) {
  const Bytes key = encode_key(GroupMetadataKey{"grp"});
  EXPECT_EQ(key, bytes({0, 2, 0, 3, 'g', 'r', 'p'}));
  auto decoded = decode_key(key);
  ASSERT_TRUE(decoded.ok());
  EXPECT_EQ(std::get<GroupMetadataKey>(*decoded).group, "grp");
}

TEST(RecordsTest, OtherKeyTypesAreUnknownNotMalformed) {
  // Version 9 and up: share and streams groups...
  auto decoded = decode_key(bytes({0, 9, 0, 1, 'g'}));
  ASSERT_FALSE(decoded.ok());
  EXPECT_EQ(decoded.error(), RecordError::unknown_key_type);
}

TEST(RecordsTest, OffsetCommitValueVersionThreeIsKafkasLayout) {
  OffsetCommitValue value{record::Offset(42), LeaderEpoch(5), "m", 1000, -1};
  EXPECT_EQ(encode_value(value), bytes({0, 3,                               // version
                                        0, 0, 0,   0, 0, 0, 0,    42,       // offset
                                        0, 0, 0,   5,                       // leader epoch
                                        0, 1, 'm',                          // metadata
                                        0, 0, 0,   0, 0, 0, 0x03, 0xe8}));  // commit timestamp
}

TEST(RecordsTest, OffsetCommitValueEveryVersionRoundTrips) {
  const OffsetCommitValue value{record::Offset(42), LeaderEpoch(5), "meta", 1000, 2000};
  for (int16_t version = 0; version <= 4; version++) {
    SCOPED_TRACE(version);
    auto decoded = decode_offset_commit_value(encode_value(value, version));
    ASSERT_TRUE(decoded.ok()) << record_error_name(decoded.error());
    EXPECT_EQ(decoded->offset, value.offset);
    EXPECT_EQ(decoded->metadata, value.metadata);
    EXPECT_EQ(decoded->commit_timestamp_ms, value.commit_timestamp_ms);
    EXPECT_EQ(decoded->leader_epoch, version >= 3 ? LeaderEpoch(5) : LeaderEpoch(-1));
    EXPECT_EQ(decoded->expire_timestamp_ms, version == 1 ? 2000 : -1);
  }
}

TEST(RecordsTest, OffsetCommitValueVersionFourIsCompactWithTaggedFields) {
  OffsetCommitValue value{record::Offset(1), LeaderEpoch(2), "m", 3, -1};
  const Bytes encoded = encode_value(value, 4);
  EXPECT_EQ(encoded,
            bytes({0, 4, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 2, 2, 'm', 0, 0, 0, 0, 0, 0, 0, 3, 0}));
  // An unknown tagged field (tag 7, two bytes) is skipped.
  Bytes tagged = encoded;
  tagged.back() = 1;
  for (uint8_t byte : bytes({7, 2, 0xaa, 0xbb})) tagged.push_back(byte);
  auto decoded = decode_offset_commit_value(tagged);
  ASSERT_TRUE(decoded.ok()) << record_error_name(decoded.error());
  EXPECT_EQ(*decoded, value);
}

TEST(RecordsTest, ValueVersionsAboveFourReadAsFour) {
  Bytes encoded = encode_value(OffsetCommitValue{record::Offset(9), LeaderEpoch(1), "", 5, -1}, 4);
  encoded[1] = 9;
  auto decoded = decode_offset_commit_value(encoded);
  ASSERT_TRUE(decoded.ok());
  EXPECT_EQ(decoded->offset, record::Offset(9));
}

TEST(RecordsTest, GroupMetadataValueVersionThreeAndFourRoundTripEveryField) {
  const GroupMetadataValue value = two_member_group();
  for (int16_t version : {3, 4}) {
    auto decoded = decode_group_metadata_value(encode_value(value, version));
    ASSERT_TRUE(decoded.ok()) << record_error_name(decoded.error());
    EXPECT_EQ(*decoded, value);
  }
}

TEST(RecordsTest, GroupMetadataValueOlderVersionsDropWhatTheyLack) {
  const GroupMetadataValue value = two_member_group();
  for (int16_t version = 0; version <= 2; version++) {
    SCOPED_TRACE(version);
    auto decoded = decode_group_metadata_value(encode_value(value, version));
    ASSERT_TRUE(decoded.ok()) << record_error_name(decoded.error());
    EXPECT_EQ(decoded->current_state_timestamp_ms,
              version >= 2 ? value.current_state_timestamp_ms : -1);
    ASSERT_EQ(decoded->members.size(), 2u);
    EXPECT_EQ(decoded->members[1].group_instance_id, std::nullopt);
    // Version 0 has no rebalance timeout: readers take the session timeout.
    EXPECT_EQ(decoded->members[1].rebalance_timeout_ms, version == 0 ? 45000 : 30000);
    EXPECT_EQ(decoded->members[1].assignment, bytes({4, 5, 6}));
  }
}

TEST(RecordsTest, EmptyGroupHasNullProtocolAndLeader) {
  GroupMetadataValue value;
  value.protocol_type = "consumer";
  value.generation = GenerationId(3);
  value.current_state_timestamp_ms = 10;
  const Bytes encoded = encode_value(value);
  EXPECT_EQ(encoded,
            bytes({0,    3,    0,    8,    'c', 'o', 'n', 's', 'u', 'm', 'e', 'r', 0, 0, 0, 3,
                   0xff, 0xff, 0xff, 0xff, 0,   0,   0,   0,   0,   0,   0,   10,  0, 0, 0, 0}));
  auto decoded = decode_group_metadata_value(encoded);
  ASSERT_TRUE(decoded.ok());
  EXPECT_EQ(*decoded, value);
}

TEST(RecordsTest, WholeRecordsAndTombstones) {
  const OffsetsRecord commit{
      OffsetCommitKey{"g", "t", PartitionId(0)},
      RecordValue(OffsetCommitValue{record::Offset(5), LeaderEpoch(1), "", 99, -1})};
  const EncodedRecord encoded = encode_record(commit);
  ASSERT_TRUE(encoded.value.has_value());
  auto decoded = decode_record(encoded.key, std::span<const uint8_t>(*encoded.value));
  ASSERT_TRUE(decoded.ok());
  EXPECT_EQ(*decoded, commit);

  const OffsetsRecord tombstone{GroupMetadataKey{"g"}, std::nullopt};
  const EncodedRecord encoded_tombstone = encode_record(tombstone);
  EXPECT_FALSE(encoded_tombstone.value.has_value());
  auto decoded_tombstone = decode_record(encoded_tombstone.key, std::nullopt);
  ASSERT_TRUE(decoded_tombstone.ok());
  EXPECT_EQ(*decoded_tombstone, tombstone);
}

// --- Hostile bytes --------------------------------------------------------------------------

TEST(RecordsTest, EveryTruncationIsAnError) {
  const Bytes group = encode_value(two_member_group(), 3);
  for (size_t size = 0; size < group.size(); size++) {
    auto decoded = decode_group_metadata_value(std::span(group.data(), size));
    ASSERT_FALSE(decoded.ok()) << size;
    EXPECT_EQ(decoded.error(), RecordError::truncated) << size;
  }
  const Bytes flexible = encode_value(two_member_group(), 4);
  for (size_t size = 0; size < flexible.size(); size++) {
    EXPECT_FALSE(decode_group_metadata_value(std::span(flexible.data(), size)).ok()) << size;
  }
  const Bytes key = encode_key(OffsetCommitKey{"group", "topic", PartitionId(1)});
  for (size_t size = 0; size < key.size(); size++) {
    EXPECT_FALSE(decode_key(std::span(key.data(), size)).ok()) << size;
  }
}

TEST(RecordsTest, NegativeLengthsAreErrors) {
  // A string length of -2.
  auto key = decode_key(bytes({0, 2, 0xff, 0xfe}));
  ASSERT_FALSE(key.ok());
  EXPECT_EQ(key.error(), RecordError::invalid_length);
  // A null group id (-1) where none is allowed.
  auto null_key = decode_key(bytes({0, 2, 0xff, 0xff}));
  ASSERT_FALSE(null_key.ok());
  EXPECT_EQ(null_key.error(), RecordError::unexpected_null);
  // A member count of -2, and a null member array.
  GroupMetadataValue empty;
  empty.protocol_type = "c";
  Bytes value = encode_value(empty);
  value[value.size() - 1] = 0xfe;
  value[value.size() - 2] = 0xff;
  value[value.size() - 3] = 0xff;
  value[value.size() - 4] = 0xff;
  auto negative = decode_group_metadata_value(value);
  ASSERT_FALSE(negative.ok());
  EXPECT_EQ(negative.error(), RecordError::invalid_length);
  value[value.size() - 1] = 0xff;
  auto null_array = decode_group_metadata_value(value);
  ASSERT_FALSE(null_array.ok());
  EXPECT_EQ(null_array.error(), RecordError::unexpected_null);
}

TEST(RecordsTest, CountsPastTheEndFailBeforeAllocating) {
  GroupMetadataValue empty;
  empty.protocol_type = "c";
  Bytes value = encode_value(empty);
  // Two billion members in four bytes.
  value[value.size() - 4] = 0x7f;
  auto decoded = decode_group_metadata_value(value);
  ASSERT_FALSE(decoded.ok());
  EXPECT_EQ(decoded.error(), RecordError::truncated);
}

TEST(RecordsTest, TrailingBytesAndNegativeVersionsAreErrors) {
  Bytes value = encode_value(OffsetCommitValue{record::Offset(1), LeaderEpoch(1), "", 1, -1});
  value.push_back(0);
  auto trailing = decode_offset_commit_value(value);
  ASSERT_FALSE(trailing.ok());
  EXPECT_EQ(trailing.error(), RecordError::trailing_bytes);
  auto negative = decode_offset_commit_value(bytes({0xff, 0xff, 0, 0}));
  ASSERT_FALSE(negative.ok());
  EXPECT_EQ(negative.error(), RecordError::unknown_version);
}

// --- Properties -----------------------------------------------------------------------------

rc::Gen<std::optional<std::string>> optional_string() {
  return rc::gen::oneOf(rc::gen::just(std::optional<std::string>()),
                        rc::gen::map(rc::gen::arbitrary<std::string>(), [](std::string text) {
                          return std::optional<std::string>(std::move(text));
                        }));
}

rc::Gen<GroupMemberMetadata> member_generator() {
  return rc::gen::build<GroupMemberMetadata>(
      rc::gen::set(&GroupMemberMetadata::member_id),
      rc::gen::set(&GroupMemberMetadata::group_instance_id, optional_string()),
      rc::gen::set(&GroupMemberMetadata::client_id),
      rc::gen::set(&GroupMemberMetadata::client_host),
      rc::gen::set(&GroupMemberMetadata::rebalance_timeout_ms),
      rc::gen::set(&GroupMemberMetadata::session_timeout_ms),
      rc::gen::set(&GroupMemberMetadata::subscription),
      rc::gen::set(&GroupMemberMetadata::assignment));
}

RC_GTEST_PROP(RecordsProperty, GroupMetadataValueRoundTrips, ()) {
  GroupMetadataValue value;
  value.protocol_type = *rc::gen::arbitrary<std::string>();
  value.generation = GenerationId(*rc::gen::arbitrary<int32_t>());
  value.protocol = *optional_string();
  value.leader = *optional_string();
  value.current_state_timestamp_ms = *rc::gen::arbitrary<int64_t>();
  value.members = *rc::gen::container<std::vector<GroupMemberMetadata>>(member_generator());
  const int16_t version = *rc::gen::element<int16_t>(3, 4);
  auto decoded = decode_group_metadata_value(encode_value(value, version));
  RC_ASSERT(decoded.ok());
  RC_ASSERT(*decoded == value);
}

RC_GTEST_PROP(RecordsProperty, OffsetCommitRecordRoundTrips, ()) {
  OffsetCommitValue value;
  value.offset = record::Offset(*rc::gen::arbitrary<int64_t>());
  value.leader_epoch = LeaderEpoch(*rc::gen::arbitrary<int32_t>());
  value.metadata = *rc::gen::arbitrary<std::string>();
  value.commit_timestamp_ms = *rc::gen::arbitrary<int64_t>();
  const OffsetsRecord record{
      OffsetCommitKey{*rc::gen::arbitrary<std::string>(), *rc::gen::arbitrary<std::string>(),
                      PartitionId(*rc::gen::arbitrary<int32_t>())},
      RecordValue(value)};
  const EncodedRecord encoded = encode_record(record);
  auto decoded = decode_record(encoded.key, std::span<const uint8_t>(*encoded.value));
  RC_ASSERT(decoded.ok());
  RC_ASSERT(*decoded == record);
}

RC_GTEST_PROP(RecordsProperty, RandomBytesNeverCrash, (const std::vector<uint8_t>& noise)) {
  // Start from a plausible prefix so the decoders get past the version.
  for (int16_t version = 0; version <= 9; version++) {
    Bytes input = {0, static_cast<uint8_t>(version)};
    input.insert(input.end(), noise.begin(), noise.end());
    (void)decode_key(input);
    (void)decode_offset_commit_value(input);
    (void)decode_group_metadata_value(input);
    for (int16_t type = 3; type <= 8; type++) {
      (void)decode_consumer_value(static_cast<ConsumerRecordType>(type), input);
    }
  }
}

// --- KIP-848 consumer group records ---------------------------------------------------------

protocol::Uuid uuid(uint8_t last) {
  protocol::Uuid id;
  id.bytes[15] = last;
  return id;
}

TEST(RecordsTest, ConsumerGroupKeysAreKafkasLayout) {
  // ConsumerGroupMetadataKey: version 3, the group id.
  const Bytes metadata = encode_key(ConsumerGroupKey{ConsumerRecordType::group_metadata, "g", ""});
  EXPECT_EQ(metadata, bytes({0, 3, 0, 1, 'g'}));
  // ConsumerGroupCurrentMemberAssignmentKey: version 8, the group id, the member id.
  const ConsumerGroupKey member{ConsumerRecordType::current_assignment, "g", "m1"};
  EXPECT_EQ(encode_key(member), bytes({0, 8, 0, 1, 'g', 0, 2, 'm', '1'}));
  for (int16_t type = 3; type <= 8; type++) {
    const ConsumerGroupKey key{static_cast<ConsumerRecordType>(type), "grp",
                               per_member(static_cast<ConsumerRecordType>(type)) ? "m" : ""};
    auto decoded = decode_key(encode_key(key));
    ASSERT_TRUE(decoded.ok()) << type;
    EXPECT_EQ(std::get<ConsumerGroupKey>(*decoded), key);
  }
}

TEST(RecordsTest, ConsumerGroupValuesAreKafkasFlexibleLayout) {
  // ConsumerGroupMetadataValue v0: epoch int32, empty tagged fields.
  EXPECT_EQ(encode_value(ConsumerGroupMetadataValue{7}), bytes({0, 0, 0, 0, 0, 7, 0}));
  // TargetAssignmentMember v0: [TopicId uuid, Partitions []int32, tags], tags; compact
  // arrays carry length + 1.
  ConsumerGroupTargetMemberValue target;
  target.partitions[uuid(9)] = {1, 4};
  Bytes expected = {0, 0, 2};
  const Bytes id = bytes({0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 9});
  expected.insert(expected.end(), id.begin(), id.end());
  const Bytes rest = bytes({3, 0, 0, 0, 1, 0, 0, 0, 4, 0, 0});
  expected.insert(expected.end(), rest.begin(), rest.end());
  EXPECT_EQ(encode_value(target), expected);
}

std::vector<OffsetsRecord> one_of_each_consumer_record() {
  using Type = ConsumerRecordType;
  ConsumerGroupPartitionMetadataValue topics;
  topics.topics.push_back(ConsumerTopicMetadata{uuid(1), "orders", 6});
  ConsumerGroupMemberMetadataValue member;
  member.instance_id = "i-1";
  member.client_id = "c";
  member.client_host = "/127.0.0.1";
  member.subscribed_topic_names = {"clicks", "orders"};
  member.rebalance_timeout_ms = 30000;
  member.server_assignor = "range";
  ConsumerGroupTargetMemberValue target;
  target.partitions[uuid(1)] = {0, 1, 2};
  ConsumerGroupCurrentAssignmentValue current;
  current.member_epoch = 12;
  current.previous_member_epoch = 11;
  current.state = 1;
  current.assigned[uuid(1)] = {0};
  current.pending_revocation[uuid(1)] = {5};
  return {
      {ConsumerGroupKey{Type::group_metadata, "g", ""}, ConsumerGroupMetadataValue{12}},
      {ConsumerGroupKey{Type::partition_metadata, "g", ""}, topics},
      {ConsumerGroupKey{Type::target_metadata, "g", ""}, ConsumerGroupTargetMetadataValue{12}},
      {ConsumerGroupKey{Type::member_metadata, "g", "m"}, member},
      {ConsumerGroupKey{Type::target_member, "g", "m"}, target},
      {ConsumerGroupKey{Type::current_assignment, "g", "m"}, current},
      {ConsumerGroupKey{Type::current_assignment, "g", "gone"}, std::nullopt},
  };
}

TEST(RecordsTest, ConsumerGroupRecordsRoundTripAndEveryTruncationIsAnError) {
  for (const OffsetsRecord& record : one_of_each_consumer_record()) {
    const EncodedRecord encoded = encode_record(record);
    std::optional<std::span<const uint8_t>> value;
    if (encoded.value) value = std::span<const uint8_t>(*encoded.value);
    auto decoded = decode_record(encoded.key, value);
    ASSERT_TRUE(decoded.ok());
    EXPECT_EQ(*decoded, record);
    if (!encoded.value) continue;
    const auto type = std::get<ConsumerGroupKey>(record.key).type;
    for (size_t cut = 0; cut < encoded.value->size(); cut++) {
      const std::span<const uint8_t> prefix(encoded.value->data(), cut);
      EXPECT_FALSE(decode_consumer_value(type, prefix).ok())
          << static_cast<int>(type) << " " << cut;
    }
  }
}

TEST(RecordsTest, AConsumerValueOfAnotherTypeIsRefused) {
  const OffsetsRecord record{ConsumerGroupKey{ConsumerRecordType::group_metadata, "g", ""},
                             ConsumerGroupTargetMetadataValue{1}};
  EXPECT_FALSE(value_matches(record.key, *record.value));
  EXPECT_TRUE(value_matches(record.key, RecordValue(ConsumerGroupMetadataValue{1})));
}

}  // namespace
}  // namespace weir::group
