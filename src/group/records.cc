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

Bytes encode_key(const RecordKey& key) {
  Bytes out;
  Writer writer(out);
  if (const auto* offset = std::get_if<OffsetCommitKey>(&key)) {
    writer.write_int16(kOffsetCommitKeyVersion);
    writer.write_string(offset->group, false);
    writer.write_string(offset->topic, false);
    writer.write_int32(offset->partition.value());
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

// --- Whole records ----------------------------------------------------------------------

EncodedRecord encode_record(const OffsetsRecord& record) {
  EncodedRecord encoded;
  encoded.key = encode_key(record.key);
  if (record.value) {
    const bool offset_key = std::holds_alternative<OffsetCommitKey>(record.key);
    const bool offset_value = std::holds_alternative<OffsetCommitValue>(*record.value);
    VERIFY(offset_key == offset_value, "a record's key and value are of one type");
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
  } else {
    auto decoded = decode_group_metadata_value(*value);
    if (!decoded) return weir::unexpected(decoded.error());
    record.value = RecordValue(std::move(decoded).value());
  }
  return record;
}

}  // namespace weir::group
