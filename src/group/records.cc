// Kafka's __consumer_offsets formats over protocol/wire.h's Reader and Writer: the
// Reader's bounds checks make every decode safe on hostile bytes, and this file only
// chooses fields by version.
#include "group/records.h"

#include <algorithm>
#include <utility>

#include "base/assert.h"
#include "protocol/wire.h"

namespace weir::group {
namespace {

using protocol::DecodeError;
using protocol::Reader;
using protocol::Writer;

// Version 4 is the first flexible version of both values (compact strings and arrays,
// a tagged-field section at the end of every struct).
constexpr int16_t kFirstFlexibleVersion = 4;

RecordError from_decode_error(DecodeError error) {
  switch (error) {
    case DecodeError::truncated: return RecordError::truncated;
    case DecodeError::invalid_length: return RecordError::invalid_length;
    case DecodeError::invalid_varint: return RecordError::invalid_varint;
    case DecodeError::unexpected_null: return RecordError::unexpected_null;
    case DecodeError::invalid_tagged_fields: return RecordError::invalid_tagged_fields;
    case DecodeError::trailing_bytes: return RecordError::trailing_bytes;
    case DecodeError::none:
    case DecodeError::unsupported_version:
    case DecodeError::unknown_api_key: break;
  }
  UNREACHABLE("the record readers never fail with {}", protocol::decode_error_name(error));
}

// Skips a flexible struct's tagged fields: none is known in any value version yet.
void skip_tagged_fields(Reader& reader) {
  protocol::TaggedFieldsReader tagged(reader);
  uint32_t tag = 0;
  std::span<const uint8_t> data;
  while (tagged.next(tag, data)) {
  }
}

void write_empty_tagged_fields(Writer& writer) { writer.write_uvarint(0); }

// The outcome of a whole decode: the reader's first failure, else trailing bytes.
template <typename T>
RecordResult<T> finish(const Reader& reader, T value) {
  if (!reader.ok()) return weir::unexpected(from_decode_error(reader.error()));
  if (!reader.at_end()) return weir::unexpected(RecordError::trailing_bytes);
  return value;
}

// Reads a value's version; versions above the highest known layout read as it.
int16_t read_value_version(Reader& reader) {
  const int16_t version = reader.read_int16();
  return std::min(version, kValueVersionMax);
}

}  // namespace

std::string_view record_error_name(RecordError error) {
  switch (error) {
    case RecordError::truncated: return "truncated";
    case RecordError::invalid_length: return "invalid_length";
    case RecordError::invalid_varint: return "invalid_varint";
    case RecordError::unexpected_null: return "unexpected_null";
    case RecordError::invalid_tagged_fields: return "invalid_tagged_fields";
    case RecordError::trailing_bytes: return "trailing_bytes";
    case RecordError::unknown_version: return "unknown_version";
    case RecordError::unknown_key_type: return "unknown_key_type";
  }
  return "unknown";
}

// --- Keys -------------------------------------------------------------------------------

bool per_member(ConsumerRecordType type) {
  return type == ConsumerRecordType::member_metadata ||
         type == ConsumerRecordType::target_member ||
         type == ConsumerRecordType::current_assignment;
}

Bytes encode_key(const RecordKey& key) {
  Bytes out;
  Writer writer(out);
  if (const auto* offset = std::get_if<OffsetCommitKey>(&key)) {
    writer.write_int16(kOffsetCommitKeyVersion);
    writer.write_string(offset->group, false);
    writer.write_string(offset->topic, false);
    writer.write_int32(offset->partition.value());
  } else if (const auto* consumer = std::get_if<ConsumerGroupKey>(&key)) {
    writer.write_int16(static_cast<int16_t>(consumer->type));
    writer.write_string(consumer->group, false);
    if (per_member(consumer->type)) writer.write_string(consumer->member_id, false);
  } else {
    const auto& group = std::get<GroupMetadataKey>(key);
    writer.write_int16(kGroupMetadataKeyVersion);
    writer.write_string(group.group, false);
  }
  VERIFY(out.size() >= 4, "a key holds its version and a string length");
  return out;
}

RecordResult<RecordKey> decode_key(std::span<const uint8_t> bytes) {
  Reader reader(bytes);
  const int16_t version = reader.read_int16();
  if (!reader.ok()) return weir::unexpected(from_decode_error(reader.error()));
  if (version == 0 || version == 1) {
    OffsetCommitKey key;
    key.group = reader.read_string(false);
    key.topic = reader.read_string(false);
    key.partition = PartitionId(reader.read_int32());
    auto result = finish(reader, std::move(key));
    if (!result) return weir::unexpected(result.error());
    return RecordKey(std::move(result).value());
  }
  if (version == 2) {
    GroupMetadataKey key;
    key.group = reader.read_string(false);
    auto result = finish(reader, std::move(key));
    if (!result) return weir::unexpected(result.error());
    return RecordKey(std::move(result).value());
  }
  if (version >= static_cast<int16_t>(ConsumerRecordType::group_metadata) &&
      version <= static_cast<int16_t>(ConsumerRecordType::current_assignment)) {
    ConsumerGroupKey key;
    key.type = static_cast<ConsumerRecordType>(version);
    key.group = reader.read_string(false);
    if (per_member(key.type)) key.member_id = reader.read_string(false);
    auto result = finish(reader, std::move(key));
    if (!result) return weir::unexpected(result.error());
    return RecordKey(std::move(result).value());
  }
  return weir::unexpected(RecordError::unknown_key_type);
}

// --- OffsetCommitValue ------------------------------------------------------------------
//   v0:    offset int64, metadata string, commit_timestamp int64
//   v1:    v0 + expire_timestamp int64
//   v2:    as v0
//   v3:    offset, leader_epoch int32, metadata, commit_timestamp
//   v4:    v3, flexible

Bytes encode_value(const OffsetCommitValue& value, int16_t version) {
  VERIFY(version >= 0, "OffsetCommitValue version {}", version);
  VERIFY(version <= kValueVersionMax, "OffsetCommitValue version {}", version);
  const bool flexible = version >= kFirstFlexibleVersion;
  Bytes out;
  Writer writer(out);
  writer.write_int16(version);
  writer.write_int64(value.offset.value());
  if (version >= 3) writer.write_int32(value.leader_epoch.value());
  writer.write_string(value.metadata, flexible);
  writer.write_int64(value.commit_timestamp_ms);
  if (version == 1) writer.write_int64(value.expire_timestamp_ms);
  if (flexible) write_empty_tagged_fields(writer);
  return out;
}

RecordResult<OffsetCommitValue> decode_offset_commit_value(std::span<const uint8_t> bytes) {
  Reader reader(bytes);
  const int16_t version = read_value_version(reader);
  if (!reader.ok()) return weir::unexpected(from_decode_error(reader.error()));
  if (version < 0) return weir::unexpected(RecordError::unknown_version);
  const bool flexible = version >= kFirstFlexibleVersion;
  OffsetCommitValue value;
  value.offset = record::Offset(reader.read_int64());
  if (version >= 3) value.leader_epoch = LeaderEpoch(reader.read_int32());
  value.metadata = reader.read_string(flexible);
  value.commit_timestamp_ms = reader.read_int64();
  if (version == 1) value.expire_timestamp_ms = reader.read_int64();
  if (flexible && reader.ok()) skip_tagged_fields(reader);
  return finish(reader, std::move(value));
}

// --- GroupMetadataValue -----------------------------------------------------------------
//   v0: protocol_type string, generation int32, protocol string?, leader string?,
//       members [member_id, client_id, client_host, session_timeout int32,
//                subscription bytes, assignment bytes]
//   v1: members gain rebalance_timeout int32 before session_timeout
//   v2: current_state_timestamp int64 after leader
//   v3: members gain group_instance_id string? after member_id
//   v4: v3, flexible

Bytes encode_value(const GroupMetadataValue& value, int16_t version) {
  VERIFY(version >= 0, "GroupMetadataValue version {}", version);
  VERIFY(version <= kValueVersionMax, "GroupMetadataValue version {}", version);
  const bool flexible = version >= kFirstFlexibleVersion;
  Bytes out;
  Writer writer(out);
  writer.write_int16(version);
  writer.write_string(value.protocol_type, flexible);
  writer.write_int32(value.generation.value());
  writer.write_nullable_string(value.protocol, flexible);
  writer.write_nullable_string(value.leader, flexible);
  if (version >= 2) writer.write_int64(value.current_state_timestamp_ms);
  writer.write_array_length(static_cast<int64_t>(value.members.size()), flexible);
  for (const GroupMemberMetadata& member : value.members) {
    writer.write_string(member.member_id, flexible);
    if (version >= 3) writer.write_nullable_string(member.group_instance_id, flexible);
    writer.write_string(member.client_id, flexible);
    writer.write_string(member.client_host, flexible);
    if (version >= 1) writer.write_int32(member.rebalance_timeout_ms);
    writer.write_int32(member.session_timeout_ms);
    writer.write_bytes(member.subscription, flexible);
    writer.write_bytes(member.assignment, flexible);
    if (flexible) write_empty_tagged_fields(writer);
  }
  if (flexible) write_empty_tagged_fields(writer);
  return out;
}

RecordResult<GroupMetadataValue> decode_group_metadata_value(std::span<const uint8_t> bytes) {
  Reader reader(bytes);
  const int16_t version = read_value_version(reader);
  if (!reader.ok()) return weir::unexpected(from_decode_error(reader.error()));
  if (version < 0) return weir::unexpected(RecordError::unknown_version);
  const bool flexible = version >= kFirstFlexibleVersion;
  GroupMetadataValue value;
  value.protocol_type = reader.read_string(flexible);
  value.generation = GenerationId(reader.read_int32());
  value.protocol = reader.read_nullable_string(flexible);
  value.leader = reader.read_nullable_string(flexible);
  if (version >= 2) value.current_state_timestamp_ms = reader.read_int64();
  // read_array_length bounds the count by the bytes left, so the loop allocates at
  // most one member per remaining byte.
  const int64_t count = reader.read_array_length(flexible);
  if (reader.ok() && count < 0) reader.fail(DecodeError::unexpected_null);
  for (int64_t i = 0; reader.ok() && i < count; i++) {
    GroupMemberMetadata member;
    member.member_id = reader.read_string(flexible);
    if (version >= 3) member.group_instance_id = reader.read_nullable_string(flexible);
    member.client_id = reader.read_string(flexible);
    member.client_host = reader.read_string(flexible);
    if (version >= 1) member.rebalance_timeout_ms = reader.read_int32();
    member.session_timeout_ms = reader.read_int32();
    if (version == 0) member.rebalance_timeout_ms = member.session_timeout_ms;
    member.subscription = reader.read_bytes(flexible);
    member.assignment = reader.read_bytes(flexible);
    if (flexible && reader.ok()) skip_tagged_fields(reader);
    if (reader.ok()) value.members.push_back(std::move(member));
  }
  if (flexible && reader.ok()) skip_tagged_fields(reader);
  return finish(reader, std::move(value));
}

// --- Consumer group values --------------------------------------------------------------
// Every one is version 0 and flexible: compact strings and arrays, a tagged-field
// section closing each struct. Partitions are written by topic id in ascending order;
// a topic with no partitions is left out.

namespace {

constexpr int16_t kConsumerValueVersion = 0;

void write_topic_partitions(Writer& writer, const TopicPartitions& partitions) {
  int64_t topics = 0;
  for (const auto& [topic, set] : partitions) topics += set.empty() ? 0 : 1;
  writer.write_array_length(topics, true);
  for (const auto& [topic, set] : partitions) {
    if (set.empty()) continue;
    writer.write_uuid(topic);
    writer.write_array_length(static_cast<int64_t>(set.size()), true);
    for (int32_t partition : set) writer.write_int32(partition);
    write_empty_tagged_fields(writer);
  }
}

TopicPartitions read_topic_partitions(Reader& reader) {
  TopicPartitions out;
  const int64_t topics = reader.read_array_length(true);
  if (reader.ok() && topics < 0) reader.fail(DecodeError::unexpected_null);
  for (int64_t i = 0; reader.ok() && i < topics; i++) {
    const protocol::Uuid topic = reader.read_uuid();
    const int64_t count = reader.read_array_length(true);
    if (reader.ok() && count < 0) reader.fail(DecodeError::unexpected_null);
    for (int64_t j = 0; reader.ok() && j < count; j++) {
      const int32_t partition = reader.read_int32();
      if (reader.ok()) out[topic].insert(partition);
    }
    if (reader.ok()) skip_tagged_fields(reader);
  }
  return out;
}

// A consumer value: its version, the fields `write_fields` writes, the closing tagged
// fields (none).
template <typename Fields>
Bytes consumer_value(Fields write_fields) {
  Bytes out;
  Writer writer(out);
  writer.write_int16(kConsumerValueVersion);
  write_fields(writer);
  write_empty_tagged_fields(writer);
  return out;
}

}  // namespace

Bytes encode_value(const ConsumerGroupMetadataValue& value) {
  return consumer_value([&](Writer& writer) {
    writer.write_int32(value.epoch);
  });
}

Bytes encode_value(const ConsumerGroupPartitionMetadataValue& value) {
  return consumer_value([&](Writer& writer) {
    writer.write_array_length(static_cast<int64_t>(value.topics.size()), true);
    for (const ConsumerTopicMetadata& topic : value.topics) {
      writer.write_uuid(topic.id);
      writer.write_string(topic.name, true);
      writer.write_int32(topic.partitions);
      writer.write_array_length(0, true);  // PartitionMetadata (racks): unused since 4.0
      write_empty_tagged_fields(writer);
    }
  });
}

Bytes encode_value(const ConsumerGroupMemberMetadataValue& value) {
  return consumer_value([&](Writer& writer) {
    writer.write_nullable_string(value.instance_id, true);
    writer.write_nullable_string(value.rack_id, true);
    writer.write_string(value.client_id, true);
    writer.write_string(value.client_host, true);
    writer.write_array_length(static_cast<int64_t>(value.subscribed_topic_names.size()), true);
    for (const std::string& name : value.subscribed_topic_names) writer.write_string(name, true);
    writer.write_nullable_string(value.subscribed_topic_regex, true);
    writer.write_int32(value.rebalance_timeout_ms);
    writer.write_nullable_string(value.server_assignor, true);
    // ClassicMemberMetadata (tagged field 0) is left out: a consumer-protocol member.
  });
}

Bytes encode_value(const ConsumerGroupTargetMetadataValue& value) {
  return consumer_value([&](Writer& writer) {
    writer.write_int32(value.assignment_epoch);
  });
}

Bytes encode_value(const ConsumerGroupTargetMemberValue& value) {
  return consumer_value([&](Writer& writer) {
    write_topic_partitions(writer, value.partitions);
  });
}

Bytes encode_value(const ConsumerGroupCurrentAssignmentValue& value) {
  return consumer_value([&](Writer& writer) {
    writer.write_int32(value.member_epoch);
    writer.write_int32(value.previous_member_epoch);
    writer.write_int8(value.state);
    write_topic_partitions(writer, value.assigned);
    write_topic_partitions(writer, value.pending_revocation);
  });
}

RecordResult<RecordValue> decode_consumer_value(ConsumerRecordType type,
                                                std::span<const uint8_t> bytes) {
  Reader reader(bytes);
  // Version 0 is the only layout; a later one may only add tagged fields.
  if (reader.read_int16() < 0 && reader.ok()) return weir::unexpected(RecordError::unknown_version);
  auto done = [&](auto value) -> RecordResult<RecordValue> {
    if (reader.ok()) skip_tagged_fields(reader);
    auto result = finish(reader, std::move(value));
    if (!result) return weir::unexpected(result.error());
    return RecordValue(std::move(result).value());
  };
  switch (type) {
    case ConsumerRecordType::group_metadata: {
      ConsumerGroupMetadataValue value;
      value.epoch = reader.read_int32();
      return done(std::move(value));
    }
    case ConsumerRecordType::partition_metadata: {
      ConsumerGroupPartitionMetadataValue value;
      const int64_t topics = reader.read_array_length(true);
      if (reader.ok() && topics < 0) reader.fail(DecodeError::unexpected_null);
      for (int64_t i = 0; reader.ok() && i < topics; i++) {
        ConsumerTopicMetadata topic;
        topic.id = reader.read_uuid();
        topic.name = reader.read_string(true);
        topic.partitions = reader.read_int32();
        const int64_t racks = reader.read_array_length(true);
        if (reader.ok() && racks < 0) reader.fail(DecodeError::unexpected_null);
        for (int64_t j = 0; reader.ok() && j < racks; j++) {
          reader.read_int32();  // the partition
          const int64_t names = reader.read_array_length(true);
          for (int64_t k = 0; reader.ok() && k < names; k++) reader.read_string(true);
          if (reader.ok()) skip_tagged_fields(reader);
        }
        if (reader.ok()) skip_tagged_fields(reader);
        if (reader.ok()) value.topics.push_back(std::move(topic));
      }
      return done(std::move(value));
    }
    case ConsumerRecordType::member_metadata: {
      ConsumerGroupMemberMetadataValue value;
      value.instance_id = reader.read_nullable_string(true);
      value.rack_id = reader.read_nullable_string(true);
      value.client_id = reader.read_string(true);
      value.client_host = reader.read_string(true);
      const int64_t names = reader.read_array_length(true);
      if (reader.ok() && names < 0) reader.fail(DecodeError::unexpected_null);
      for (int64_t i = 0; reader.ok() && i < names; i++) {
        std::string name = reader.read_string(true);
        if (reader.ok()) value.subscribed_topic_names.push_back(std::move(name));
      }
      value.subscribed_topic_regex = reader.read_nullable_string(true);
      value.rebalance_timeout_ms = reader.read_int32();
      value.server_assignor = reader.read_nullable_string(true);
      return done(std::move(value));
    }
    case ConsumerRecordType::target_metadata: {
      ConsumerGroupTargetMetadataValue value;
      value.assignment_epoch = reader.read_int32();
      return done(std::move(value));
    }
    case ConsumerRecordType::target_member: {
      ConsumerGroupTargetMemberValue value;
      value.partitions = read_topic_partitions(reader);
      return done(std::move(value));
    }
    case ConsumerRecordType::current_assignment: {
      ConsumerGroupCurrentAssignmentValue value;
      value.member_epoch = reader.read_int32();
      value.previous_member_epoch = reader.read_int32();
      value.state = reader.read_int8();
      value.assigned = read_topic_partitions(reader);
      value.pending_revocation = read_topic_partitions(reader);
      return done(std::move(value));
    }
  }
  return weir::unexpected(RecordError::unknown_key_type);
}

// --- Whole records ----------------------------------------------------------------------

bool value_matches(const RecordKey& key, const RecordValue& value) {
  if (std::holds_alternative<OffsetCommitKey>(key)) {
    return std::holds_alternative<OffsetCommitValue>(value);
  }
  if (std::holds_alternative<GroupMetadataKey>(key)) {
    return std::holds_alternative<GroupMetadataValue>(value);
  }
  switch (std::get<ConsumerGroupKey>(key).type) {
    case ConsumerRecordType::group_metadata:
      return std::holds_alternative<ConsumerGroupMetadataValue>(value);
    case ConsumerRecordType::partition_metadata:
      return std::holds_alternative<ConsumerGroupPartitionMetadataValue>(value);
    case ConsumerRecordType::member_metadata:
      return std::holds_alternative<ConsumerGroupMemberMetadataValue>(value);
    case ConsumerRecordType::target_metadata:
      return std::holds_alternative<ConsumerGroupTargetMetadataValue>(value);
    case ConsumerRecordType::target_member:
      return std::holds_alternative<ConsumerGroupTargetMemberValue>(value);
    case ConsumerRecordType::current_assignment:
      return std::holds_alternative<ConsumerGroupCurrentAssignmentValue>(value);
  }
  return false;
}

EncodedRecord encode_record(const OffsetsRecord& record) {
  EncodedRecord encoded;
  encoded.key = encode_key(record.key);
  if (record.value) {
    VERIFY(value_matches(record.key, *record.value), "a record's key and value are of one type");
    encoded.value =
        std::visit([](const auto& value) { return encode_value(value); }, *record.value);
  }
  return encoded;
}

RecordResult<OffsetsRecord> decode_record(std::span<const uint8_t> key,
                                          std::optional<std::span<const uint8_t>> value) {
  auto decoded_key = decode_key(key);
  if (!decoded_key) return weir::unexpected(decoded_key.error());
  OffsetsRecord record{std::move(decoded_key).value(), std::nullopt};
  if (!value) return record;
  if (std::holds_alternative<OffsetCommitKey>(record.key)) {
    auto decoded = decode_offset_commit_value(*value);
    if (!decoded) return weir::unexpected(decoded.error());
    record.value = RecordValue(std::move(decoded).value());
  } else if (const auto* consumer = std::get_if<ConsumerGroupKey>(&record.key)) {
    auto decoded = decode_consumer_value(consumer->type, *value);
    if (!decoded) return weir::unexpected(decoded.error());
    record.value = std::move(decoded).value();
  } else {
    auto decoded = decode_group_metadata_value(*value);
    if (!decoded) return weir::unexpected(decoded.error());
    record.value = RecordValue(std::move(decoded).value());
  }
  return record;
}

}  // namespace weir::group
