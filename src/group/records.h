// The records of the __consumer_offsets topic, in Kafka's own formats so that Kafka's
// tools (kafka-dump-log --offsets-decoder, kafka-consumer-groups) read weir's partitions
// and weir reads theirs. Facts from apache/kafka group-coordinator
// src/main/resources/common/message/{OffsetCommit,GroupMetadata}{Key,Value}.json.
//
// A key is an int16 version followed by the key's fields; the version names the record
// type: 0 and 1 an offset commit, 2 a classic group's metadata, 3 to 8 a KIP-848
// consumer group's state (ConsumerGroup{Metadata,PartitionMetadata,MemberMetadata,
// TargetAssignmentMetadata,TargetAssignmentMember,CurrentMemberAssignment}). Other types
// (share and streams groups) exist in Kafka's partitions; they decode as
// RecordError::unknown_key_type so a loader can skip them.
//
// A value is an int16 version followed by its fields; a null value (a tombstone)
// deletes the key. weir writes OffsetCommitValue v3 and GroupMetadataValue v3 (what a
// Kafka 3.x/4.x coordinator writes for classic groups) and reads versions 0-4; a value
// above 4 is read as 4 (KIP-915: later versions only add tagged fields). The consumer
// group values have one version, 0, flexible; their tagged fields are skipped.
//
// Decoding never crashes and never allocates more than the input's size: every
// malformed input yields a RecordError.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include <absl/container/btree_map.h>
#include <absl/container/btree_set.h>

#include "base/ids.h"
#include "base/result.h"
#include "group/types.h"
#include "protocol/wire.h"
#include "record/types.h"

namespace weir::group {

enum class RecordError : uint8_t {
  truncated,              // the bytes end inside a field
  invalid_length,         // a negative length other than null's -1
  invalid_varint,         // a flexible version's varint is malformed
  unexpected_null,        // null where the field is not nullable
  invalid_tagged_fields,  // a flexible version's tagged fields are malformed
  trailing_bytes,         // bytes after the last field of a fixed version
  unknown_version,        // a negative value version
  unknown_key_type,       // a key version other than 0 to 8
};
std::string_view record_error_name(RecordError error);

template <typename T>
using RecordResult = weir::Result<T, RecordError>;

// --- Keys -------------------------------------------------------------------------------

inline constexpr int16_t kOffsetCommitKeyVersion = 1;
inline constexpr int16_t kGroupMetadataKeyVersion = 2;

struct OffsetCommitKey {
  std::string group;
  std::string topic;
  PartitionId partition;
  bool operator==(const OffsetCommitKey&) const = default;
};
struct GroupMetadataKey {
  std::string group;
  bool operator==(const GroupMetadataKey&) const = default;
};
// The KIP-848 record types, by their key version.
enum class ConsumerRecordType : int16_t {
  group_metadata = 3,      // the group epoch
  partition_metadata = 4,  // the subscribed topics as the last assignment saw them
  member_metadata = 5,     // one member's identity and subscription
  target_metadata = 6,     // the assignment epoch
  target_member = 7,       // one member's target assignment
  current_assignment = 8,  // one member's epochs and reconciled partitions
};
// Whether the type's key names a member (else only the group).
bool per_member(ConsumerRecordType type);

struct ConsumerGroupKey {
  ConsumerRecordType type = ConsumerRecordType::group_metadata;
  std::string group;
  std::string member_id;  // "" for the group-wide types
  bool operator==(const ConsumerGroupKey&) const = default;
  auto operator<=>(const ConsumerGroupKey&) const = default;
};
using RecordKey = std::variant<OffsetCommitKey, GroupMetadataKey, ConsumerGroupKey>;

// --- Values -----------------------------------------------------------------------------

inline constexpr int16_t kOffsetCommitValueVersionWritten = 3;
inline constexpr int16_t kGroupMetadataValueVersionWritten = 3;
inline constexpr int16_t kValueVersionMax = 4;  // the highest version with a known layout

struct OffsetCommitValue {
  record::Offset offset;
  LeaderEpoch leader_epoch{-1};  // v3+; -1 when unknown
  std::string metadata;          // not nullable: Kafka stores "" for none
  int64_t commit_timestamp_ms = 0;
  // Version 1 only (KIP-211 removed it): the commit's own expiry, -1 for none.
  int64_t expire_timestamp_ms = -1;
  bool operator==(const OffsetCommitValue&) const = default;
};

struct GroupMemberMetadata {
  std::string member_id;
  std::optional<std::string> group_instance_id;  // v3+
  std::string client_id;
  std::string client_host;
  int32_t rebalance_timeout_ms = 0;  // v1+ (v0 readers take the session timeout)
  int32_t session_timeout_ms = 0;
  Bytes subscription;  // the member's metadata for the group's selected protocol
  Bytes assignment;
  bool operator==(const GroupMemberMetadata&) const = default;
};

struct GroupMetadataValue {
  std::string protocol_type;
  GenerationId generation{0};
  std::optional<std::string> protocol;  // null while the group is Empty
  std::optional<std::string> leader;
  int64_t current_state_timestamp_ms = -1;  // v2+; when the group entered its state
  std::vector<GroupMemberMetadata> members;
  bool operator==(const GroupMetadataValue&) const = default;
};

// Partitions by topic id, as the consumer group records and ConsumerGroup hold them.
using TopicPartitions = absl::btree_map<protocol::Uuid, absl::btree_set<int32_t>>;

struct ConsumerGroupMetadataValue {
  int32_t epoch = 0;
  bool operator==(const ConsumerGroupMetadataValue&) const = default;
};
struct ConsumerTopicMetadata {
  protocol::Uuid id;
  std::string name;
  int32_t partitions = 0;
  bool operator==(const ConsumerTopicMetadata&) const = default;
};
struct ConsumerGroupPartitionMetadataValue {
  std::vector<ConsumerTopicMetadata> topics;  // Kafka's per-partition racks are not kept
  bool operator==(const ConsumerGroupPartitionMetadataValue&) const = default;
};
struct ConsumerGroupMemberMetadataValue {
  std::optional<std::string> instance_id;
  std::optional<std::string> rack_id;
  std::string client_id;
  std::string client_host;
  std::vector<std::string> subscribed_topic_names;
  std::optional<std::string> subscribed_topic_regex;
  int32_t rebalance_timeout_ms = -1;
  std::optional<std::string> server_assignor;
  bool operator==(const ConsumerGroupMemberMetadataValue&) const = default;
};
struct ConsumerGroupTargetMetadataValue {
  int32_t assignment_epoch = 0;
  bool operator==(const ConsumerGroupTargetMetadataValue&) const = default;
};
struct ConsumerGroupTargetMemberValue {
  TopicPartitions partitions;
  bool operator==(const ConsumerGroupTargetMemberValue&) const = default;
};
struct ConsumerGroupCurrentAssignmentValue {
  int32_t member_epoch = 0;
  int32_t previous_member_epoch = -1;
  int8_t state = 0;  // Kafka's MemberState: 0 stable, 1 unrevoked, 2 unreleased partitions
  TopicPartitions assigned;
  TopicPartitions pending_revocation;
  bool operator==(const ConsumerGroupCurrentAssignmentValue&) const = default;
};

using RecordValue =
    std::variant<OffsetCommitValue, GroupMetadataValue, ConsumerGroupMetadataValue,
                 ConsumerGroupPartitionMetadataValue, ConsumerGroupMemberMetadataValue,
                 ConsumerGroupTargetMetadataValue, ConsumerGroupTargetMemberValue,
                 ConsumerGroupCurrentAssignmentValue>;
// Whether `value` is of the type `key` names.
bool value_matches(const RecordKey& key, const RecordValue& value);

// One record of the partition. A key of one type carries a value of the same type;
// nullopt is a tombstone.
struct OffsetsRecord {
  RecordKey key;
  std::optional<RecordValue> value;
  bool operator==(const OffsetsRecord&) const = default;
};

// --- Encoding ---------------------------------------------------------------------------

Bytes encode_key(const RecordKey& key);
// `version` in 0..4; a field the version lacks is dropped.
Bytes encode_value(const OffsetCommitValue& value,
                   int16_t version = kOffsetCommitValueVersionWritten);
Bytes encode_value(const GroupMetadataValue& value,
                   int16_t version = kGroupMetadataValueVersionWritten);
// The consumer group values (version 0).
Bytes encode_value(const ConsumerGroupMetadataValue& value);
Bytes encode_value(const ConsumerGroupPartitionMetadataValue& value);
Bytes encode_value(const ConsumerGroupMemberMetadataValue& value);
Bytes encode_value(const ConsumerGroupTargetMetadataValue& value);
Bytes encode_value(const ConsumerGroupTargetMemberValue& value);
Bytes encode_value(const ConsumerGroupCurrentAssignmentValue& value);
// A record's key and value bytes (value nullopt for a tombstone).
struct EncodedRecord {
  Bytes key;
  std::optional<Bytes> value;
};
EncodedRecord encode_record(const OffsetsRecord& record);

// --- Decoding ---------------------------------------------------------------------------

RecordResult<RecordKey> decode_key(std::span<const uint8_t> bytes);
RecordResult<OffsetCommitValue> decode_offset_commit_value(std::span<const uint8_t> bytes);
RecordResult<GroupMetadataValue> decode_group_metadata_value(std::span<const uint8_t> bytes);
// A consumer group value of the key's type.
RecordResult<RecordValue> decode_consumer_value(ConsumerRecordType type,
                                                std::span<const uint8_t> bytes);
// A whole record; `value` nullopt (or a null value in the batch) is a tombstone.
RecordResult<OffsetsRecord> decode_record(std::span<const uint8_t> key,
                                          std::optional<std::span<const uint8_t>> value);

}  // namespace weir::group
