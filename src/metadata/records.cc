// Kafka's metadata record schemas (metadata/src/main/resources/common/metadata/*.json
// in apache/kafka), encoded by hand over protocol/wire.h: every record type is
// flexible in every version, so all strings and arrays are compact.
#include "metadata/records.h"

#include <fmt/format.h>

#include "record/batch.h"

namespace weir::metadata {

Uuid unassigned_directory() {
  Uuid uuid;
  uuid.bytes[15] = 1;
  return uuid;
}
namespace {

using protocol::DecodeError;
using protocol::Reader;
using protocol::TaggedFieldsReader;
using protocol::TaggedFieldsWriter;
using protocol::Writer;

// Kafka's MetadataRecordSerde frame version; 0 was KRaft's 2.8 preview.
constexpr uint32_t kFrameVersion = 1;
constexpr bool kCompact = true;
// Metadata batches are written uncompressed; the bound only stops a hostile
// compressed batch from expanding without limit.
constexpr size_t kDecompressedBytesMax = size_t{64} << 20;

// ---- field helpers ---------------------------------------------------------------

void write_broker_ids(Writer& writer, const std::vector<BrokerId>& ids) {
  writer.write_array_length(static_cast<int64_t>(ids.size()), kCompact);
  for (BrokerId id : ids) writer.write_int32(id.value());
}

void write_nullable_broker_ids(Writer& writer, const std::optional<std::vector<BrokerId>>& ids) {
  if (!ids) {
    writer.write_array_length(-1, kCompact);
    return;
  }
  write_broker_ids(writer, *ids);
}

void write_uuids(Writer& writer, const std::vector<Uuid>& uuids) {
  writer.write_array_length(static_cast<int64_t>(uuids.size()), kCompact);
  for (const Uuid& uuid : uuids) writer.write_uuid(uuid);
}

// Reads a compact array length; -1 (null) is returned only when `nullable`.
int64_t read_length(Reader& reader, bool nullable) {
  const int64_t length = reader.read_array_length(kCompact);
  if (!reader.ok()) return 0;
  if (length < 0 && !nullable) {
    reader.fail(DecodeError::unexpected_null);
    return 0;
  }
  return length;
}

std::optional<std::vector<BrokerId>> read_nullable_broker_ids(Reader& reader) {
  const int64_t length = read_length(reader, /*nullable=*/true);
  if (length < 0) return std::nullopt;
  std::vector<BrokerId> ids;
  ids.reserve(static_cast<size_t>(length));
  for (int64_t i = 0; i < length && reader.ok(); i++) ids.emplace_back(reader.read_int32());
  return ids;
}

std::vector<BrokerId> read_broker_ids(Reader& reader) {
  const int64_t length = read_length(reader, /*nullable=*/false);
  std::vector<BrokerId> ids;
  ids.reserve(static_cast<size_t>(length));
  for (int64_t i = 0; i < length && reader.ok(); i++) ids.emplace_back(reader.read_int32());
  return ids;
}

std::optional<std::vector<Uuid>> read_nullable_uuids(Reader& reader) {
  const int64_t length = read_length(reader, /*nullable=*/true);
  if (length < 0) return std::nullopt;
  std::vector<Uuid> uuids;
  uuids.reserve(static_cast<size_t>(length));
  for (int64_t i = 0; i < length && reader.ok(); i++) uuids.push_back(reader.read_uuid());
  return uuids;
}

std::vector<Uuid> read_uuids(Reader& reader) {
  const int64_t length = read_length(reader, /*nullable=*/false);
  std::vector<Uuid> uuids;
  uuids.reserve(static_cast<size_t>(length));
  for (int64_t i = 0; i < length && reader.ok(); i++) uuids.push_back(reader.read_uuid());
  return uuids;
}

// Calls on_field(tag, inner_reader) for each tagged field; `on_field` returns false for
// tags it does not know, which are skipped (a newer Kafka may add some). A known
// field must use exactly its declared bytes.
template <typename OnField>
void read_tagged_fields(Reader& reader, OnField&& on_field) {
  TaggedFieldsReader tagged(reader);
  uint32_t tag = 0;
  std::span<const uint8_t> data;
  while (tagged.next(tag, data)) {
    protocol::decode_tagged_field(reader, data, [&](Reader& inner) {
      if (!on_field(tag, inner)) inner.read_raw(inner.remaining());
    });
  }
}

void write_no_tagged_fields(Writer& writer) { writer.write_uvarint(0); }

// ---- one encode and one decode per record ---------------------------------------

void encode_body(const RegisterBrokerRecord& record, Writer& writer, uint16_t version) {
  writer.write_int32(record.broker_id.value());
  if (version >= 2) writer.write_bool(record.is_migrating_zk_broker);
  writer.write_uuid(record.incarnation_id);
  writer.write_int64(record.broker_epoch.value());
  writer.write_array_length(static_cast<int64_t>(record.endpoints.size()), kCompact);
  for (const auto& endpoint : record.endpoints) {
    writer.write_string(endpoint.name, kCompact);
    writer.write_string(endpoint.host, kCompact);
    writer.write_uint16(endpoint.port);
    writer.write_int16(endpoint.security_protocol);
    write_no_tagged_fields(writer);
  }
  writer.write_array_length(static_cast<int64_t>(record.features.size()), kCompact);
  for (const auto& feature : record.features) {
    writer.write_string(feature.name, kCompact);
    writer.write_int16(feature.min_supported_version);
    writer.write_int16(feature.max_supported_version);
    write_no_tagged_fields(writer);
  }
  writer.write_nullable_string(record.rack, kCompact);
  writer.write_bool(record.fenced);
  if (version >= 1) writer.write_bool(record.in_controlled_shutdown);
  TaggedFieldsWriter tagged;
  if (version >= 3 && !record.log_dirs.empty()) {
    Writer field(tagged.add(0));
    write_uuids(field, record.log_dirs);
  }
  tagged.write(writer);
}

void decode_body(RegisterBrokerRecord& record, Reader& reader, uint16_t version) {
  record.broker_id = BrokerId(reader.read_int32());
  if (version >= 2) record.is_migrating_zk_broker = reader.read_bool();
  record.incarnation_id = reader.read_uuid();
  record.broker_epoch = BrokerEpoch(reader.read_int64());
  const int64_t endpoints = read_length(reader, false);
  for (int64_t i = 0; i < endpoints && reader.ok(); i++) {
    BrokerEndpoint endpoint;
    endpoint.name = reader.read_string(kCompact);
    endpoint.host = reader.read_string(kCompact);
    endpoint.port = reader.read_uint16();
    endpoint.security_protocol = reader.read_int16();
    read_tagged_fields(reader, [](uint32_t, Reader&) { return false; });
    record.endpoints.push_back(std::move(endpoint));
  }
  const int64_t features = read_length(reader, false);
  for (int64_t i = 0; i < features && reader.ok(); i++) {
    BrokerFeature feature;
    feature.name = reader.read_string(kCompact);
    feature.min_supported_version = reader.read_int16();
    feature.max_supported_version = reader.read_int16();
    read_tagged_fields(reader, [](uint32_t, Reader&) { return false; });
    record.features.push_back(std::move(feature));
  }
  record.rack = reader.read_nullable_string(kCompact);
  record.fenced = reader.read_bool();
  if (version >= 1) record.in_controlled_shutdown = reader.read_bool();
  read_tagged_fields(reader, [&](uint32_t tag, Reader& field) {
    if (tag == 0 && version >= 3) {
      record.log_dirs = read_uuids(field);
      return true;
    }
    return false;
  });
}

void encode_body(const UnregisterBrokerRecord& record, Writer& writer, uint16_t) {
  writer.write_int32(record.broker_id.value());
  writer.write_int64(record.broker_epoch.value());
  write_no_tagged_fields(writer);
}

void decode_body(UnregisterBrokerRecord& record, Reader& reader, uint16_t) {
  record.broker_id = BrokerId(reader.read_int32());
  record.broker_epoch = BrokerEpoch(reader.read_int64());
  read_tagged_fields(reader, [](uint32_t, Reader&) { return false; });
}

void encode_body(const TopicRecord& record, Writer& writer, uint16_t) {
  writer.write_string(record.name, kCompact);
  writer.write_uuid(record.topic_id.uuid);
  write_no_tagged_fields(writer);
}

void decode_body(TopicRecord& record, Reader& reader, uint16_t) {
  record.name = reader.read_string(kCompact);
  record.topic_id = TopicId{reader.read_uuid()};
  read_tagged_fields(reader, [](uint32_t, Reader&) { return false; });
}

void encode_body(const PartitionRecord& record, Writer& writer, uint16_t version) {
  writer.write_int32(record.partition_id.value());
  writer.write_uuid(record.topic_id.uuid);
  write_broker_ids(writer, record.replicas);
  write_broker_ids(writer, record.isr);
  write_broker_ids(writer, record.removing_replicas);
  write_broker_ids(writer, record.adding_replicas);
  writer.write_int32(record.leader.value());
  writer.write_int32(record.leader_epoch.value());
  writer.write_int32(record.partition_epoch.value());
  if (version >= 1) write_uuids(writer, record.directories);
  TaggedFieldsWriter tagged;
  if (record.leader_recovery_state != 0) {
    Writer field(tagged.add(0));
    field.write_int8(record.leader_recovery_state);
  }
  if (version >= 2 && record.eligible_leader_replicas) {
    Writer field(tagged.add(1));
    write_nullable_broker_ids(field, record.eligible_leader_replicas);
  }
  if (version >= 2 && record.last_known_elr) {
    Writer field(tagged.add(2));
    write_nullable_broker_ids(field, record.last_known_elr);
  }
  tagged.write(writer);
}

void decode_body(PartitionRecord& record, Reader& reader, uint16_t version) {
  record.partition_id = PartitionId(reader.read_int32());
  record.topic_id = TopicId{reader.read_uuid()};
  record.replicas = read_broker_ids(reader);
  record.isr = read_broker_ids(reader);
  record.removing_replicas = read_broker_ids(reader);
  record.adding_replicas = read_broker_ids(reader);
  record.leader = BrokerId(reader.read_int32());
  record.leader_epoch = LeaderEpoch(reader.read_int32());
  record.partition_epoch = PartitionEpoch(reader.read_int32());
  if (version >= 1) record.directories = read_uuids(reader);
  read_tagged_fields(reader, [&](uint32_t tag, Reader& field) {
    switch (tag) {
      case 0: record.leader_recovery_state = field.read_int8(); return true;
      case 1:
        if (version < 2) return false;
        record.eligible_leader_replicas = read_nullable_broker_ids(field);
        return true;
      case 2:
        if (version < 2) return false;
        record.last_known_elr = read_nullable_broker_ids(field);
        return true;
      default: return false;
    }
  });
}

void encode_body(const ConfigRecord& record, Writer& writer, uint16_t) {
  writer.write_int8(static_cast<int8_t>(record.resource_type));
  writer.write_string(record.resource_name, kCompact);
  writer.write_string(record.name, kCompact);
  writer.write_nullable_string(record.value, kCompact);
  write_no_tagged_fields(writer);
}

void decode_body(ConfigRecord& record, Reader& reader, uint16_t) {
  record.resource_type = static_cast<ConfigResourceType>(reader.read_int8());
  record.resource_name = reader.read_string(kCompact);
  record.name = reader.read_string(kCompact);
  record.value = reader.read_nullable_string(kCompact);
  read_tagged_fields(reader, [](uint32_t, Reader&) { return false; });
}

void encode_body(const PartitionChangeRecord& record, Writer& writer, uint16_t version) {
  writer.write_int32(record.partition_id.value());
  writer.write_uuid(record.topic_id.uuid);
  TaggedFieldsWriter tagged;
  const auto add_ids = [&](uint32_t tag, const std::optional<std::vector<BrokerId>>& ids) {
    if (!ids) return;
    Writer field(tagged.add(tag));
    write_nullable_broker_ids(field, ids);
  };
  add_ids(0, record.isr);
  if (record.leader != kLeaderUnchanged) {
    Writer field(tagged.add(1));
    field.write_int32(record.leader.value());
  }
  add_ids(2, record.replicas);
  add_ids(3, record.removing_replicas);
  add_ids(4, record.adding_replicas);
  if (record.leader_recovery_state != -1) {
    Writer field(tagged.add(5));
    field.write_int8(record.leader_recovery_state);
  }
  if (version >= 2) {
    add_ids(6, record.eligible_leader_replicas);
    add_ids(7, record.last_known_elr);
  }
  if (version >= 1 && record.directories) {
    Writer field(tagged.add(8));
    write_uuids(field, *record.directories);
  }
  tagged.write(writer);
}

void decode_body(PartitionChangeRecord& record, Reader& reader, uint16_t version) {
  record.partition_id = PartitionId(reader.read_int32());
  record.topic_id = TopicId{reader.read_uuid()};
  read_tagged_fields(reader, [&](uint32_t tag, Reader& field) {
    switch (tag) {
      case 0: record.isr = read_nullable_broker_ids(field); return true;
      case 1: record.leader = BrokerId(field.read_int32()); return true;
      case 2: record.replicas = read_nullable_broker_ids(field); return true;
      case 3: record.removing_replicas = read_nullable_broker_ids(field); return true;
      case 4: record.adding_replicas = read_nullable_broker_ids(field); return true;
      case 5: record.leader_recovery_state = field.read_int8(); return true;
      case 6:
        if (version < 2) return false;
        record.eligible_leader_replicas = read_nullable_broker_ids(field);
        return true;
      case 7:
        if (version < 2) return false;
        record.last_known_elr = read_nullable_broker_ids(field);
        return true;
      case 8:
        if (version < 1) return false;
        record.directories = read_nullable_uuids(field);
        return true;
      default: return false;
    }
  });
}

template <typename FenceRecord>
void encode_fence_body(const FenceRecord& record, Writer& writer) {
  writer.write_int32(record.broker_id.value());
  writer.write_int64(record.broker_epoch.value());
  write_no_tagged_fields(writer);
}

template <typename FenceRecord>
void decode_fence_body(FenceRecord& record, Reader& reader) {
  record.broker_id = BrokerId(reader.read_int32());
  record.broker_epoch = BrokerEpoch(reader.read_int64());
  read_tagged_fields(reader, [](uint32_t, Reader&) { return false; });
}

void encode_body(const FenceBrokerRecord& record, Writer& writer, uint16_t) {
  encode_fence_body(record, writer);
}
void decode_body(FenceBrokerRecord& record, Reader& reader, uint16_t) {
  decode_fence_body(record, reader);
}
void encode_body(const UnfenceBrokerRecord& record, Writer& writer, uint16_t) {
  encode_fence_body(record, writer);
}
void decode_body(UnfenceBrokerRecord& record, Reader& reader, uint16_t) {
  decode_fence_body(record, reader);
}

void encode_body(const RemoveTopicRecord& record, Writer& writer, uint16_t) {
  writer.write_uuid(record.topic_id.uuid);
  write_no_tagged_fields(writer);
}

void decode_body(RemoveTopicRecord& record, Reader& reader, uint16_t) {
  record.topic_id = TopicId{reader.read_uuid()};
  read_tagged_fields(reader, [](uint32_t, Reader&) { return false; });
}

void encode_body(const FeatureLevelRecord& record, Writer& writer, uint16_t) {
  writer.write_string(record.name, kCompact);
  writer.write_int16(record.feature_level);
  write_no_tagged_fields(writer);
}

void decode_body(FeatureLevelRecord& record, Reader& reader, uint16_t) {
  record.name = reader.read_string(kCompact);
  record.feature_level = reader.read_int16();
  read_tagged_fields(reader, [](uint32_t, Reader&) { return false; });
}

void encode_body(const ProducerIdsRecord& record, Writer& writer, uint16_t) {
  writer.write_int32(record.broker_id.value());
  writer.write_int64(record.broker_epoch.value());
  writer.write_int64(record.next_producer_id.value());
  write_no_tagged_fields(writer);
}

void decode_body(ProducerIdsRecord& record, Reader& reader, uint16_t) {
  record.broker_id = BrokerId(reader.read_int32());
  record.broker_epoch = BrokerEpoch(reader.read_int64());
  record.next_producer_id = ProducerId(reader.read_int64());
  read_tagged_fields(reader, [](uint32_t, Reader&) { return false; });
}

void encode_body(const BrokerRegistrationChangeRecord& record, Writer& writer, uint16_t version) {
  writer.write_int32(record.broker_id.value());
  writer.write_int64(record.broker_epoch.value());
  TaggedFieldsWriter tagged;
  if (record.fenced != 0) {
    Writer field(tagged.add(0));
    field.write_int8(record.fenced);
  }
  if (version >= 1 && record.in_controlled_shutdown != 0) {
    Writer field(tagged.add(1));
    field.write_int8(record.in_controlled_shutdown);
  }
  if (version >= 2 && !record.log_dirs.empty()) {
    Writer field(tagged.add(2));
    write_uuids(field, record.log_dirs);
  }
  tagged.write(writer);
}

void decode_body(BrokerRegistrationChangeRecord& record, Reader& reader, uint16_t version) {
  record.broker_id = BrokerId(reader.read_int32());
  record.broker_epoch = BrokerEpoch(reader.read_int64());
  read_tagged_fields(reader, [&](uint32_t tag, Reader& field) {
    if (tag == 0) {
      record.fenced = field.read_int8();
      return true;
    }
    if (tag == 1 && version >= 1) {
      record.in_controlled_shutdown = field.read_int8();
      return true;
    }
    if (tag == 2 && version >= 2) {
      record.log_dirs = read_uuids(field);
      return true;
    }
    return false;
  });
}

void encode_body(const NoOpRecord&, Writer& writer, uint16_t) { write_no_tagged_fields(writer); }

void decode_body(NoOpRecord&, Reader& reader, uint16_t) {
  read_tagged_fields(reader, [](uint32_t, Reader&) { return false; });
}

template <typename T>
protocol::Result<Record> decode_as(Reader& reader, uint32_t version) {
  if (version > T::kVersionMax) return weir::unexpected(DecodeError::unsupported_version);
  T record;
  decode_body(record, reader, static_cast<uint16_t>(version));
  if (!reader.ok()) return weir::unexpected(reader.error());
  if (!reader.at_end()) return weir::unexpected(DecodeError::trailing_bytes);
  return Record(std::move(record));
}

}  // namespace

uint16_t record_type(const Record& record) {
  return std::visit([](const auto& r) { return std::decay_t<decltype(r)>::kType; }, record);
}

std::string_view record_name(const Record& record) {
  static constexpr std::string_view kNames[] = {"RegisterBrokerRecord",
                                                "UnregisterBrokerRecord",
                                                "TopicRecord",
                                                "PartitionRecord",
                                                "ConfigRecord",
                                                "PartitionChangeRecord",
                                                "FenceBrokerRecord",
                                                "UnfenceBrokerRecord",
                                                "RemoveTopicRecord",
                                                "FeatureLevelRecord",
                                                "ProducerIdsRecord",
                                                "BrokerRegistrationChangeRecord",
                                                "NoOpRecord"};
  static_assert(std::size(kNames) == std::variant_size_v<Record>);
  return kNames[record.index()];
}

void encode_record(const Record& record, Bytes& out) {
  Writer writer(out);
  std::visit(
      [&](const auto& r) {
        using T = std::decay_t<decltype(r)>;
        static_assert(T::kVersion <= T::kVersionMax);
        writer.write_uvarint(kFrameVersion);
        writer.write_uvarint(T::kType);
        writer.write_uvarint(T::kVersion);
        encode_body(r, writer, T::kVersion);
      },
      record);
}

Bytes encode_record(const Record& record) {
  Bytes out;
  encode_record(record, out);
  return out;
}

protocol::Result<Record> decode_record(std::span<const uint8_t> bytes) {
  Reader reader(bytes);
  const uint32_t frame_version = reader.read_uvarint();
  const uint32_t type = reader.read_uvarint();
  const uint32_t version = reader.read_uvarint();
  if (!reader.ok()) return weir::unexpected(reader.error());
  if (frame_version != kFrameVersion) return weir::unexpected(DecodeError::unsupported_version);
  switch (type) {
    case RegisterBrokerRecord::kType: return decode_as<RegisterBrokerRecord>(reader, version);
    case UnregisterBrokerRecord::kType: return decode_as<UnregisterBrokerRecord>(reader, version);
    case TopicRecord::kType: return decode_as<TopicRecord>(reader, version);
    case PartitionRecord::kType: return decode_as<PartitionRecord>(reader, version);
    case ConfigRecord::kType: return decode_as<ConfigRecord>(reader, version);
    case PartitionChangeRecord::kType: return decode_as<PartitionChangeRecord>(reader, version);
    case FenceBrokerRecord::kType: return decode_as<FenceBrokerRecord>(reader, version);
    case UnfenceBrokerRecord::kType: return decode_as<UnfenceBrokerRecord>(reader, version);
    case RemoveTopicRecord::kType: return decode_as<RemoveTopicRecord>(reader, version);
    case FeatureLevelRecord::kType: return decode_as<FeatureLevelRecord>(reader, version);
    case ProducerIdsRecord::kType: return decode_as<ProducerIdsRecord>(reader, version);
    case BrokerRegistrationChangeRecord::kType:
      return decode_as<BrokerRegistrationChangeRecord>(reader, version);
    case NoOpRecord::kType: return decode_as<NoOpRecord>(reader, version);
    default: return weir::unexpected(DecodeError::unknown_api_key);
  }
}

Bytes encode_batch(std::span<const Record> records, int64_t timestamp_ms) {
  VERIFY(!records.empty(), "a metadata batch holds at least one record");
  std::vector<record::Record> values;
  values.reserve(records.size());
  for (size_t i = 0; i < records.size(); i++) {
    record::Record value;
    value.offset_delta = static_cast<int32_t>(i);
    value.value = encode_record(records[i]);
    values.push_back(std::move(value));
  }
  record::BatchOptions options;
  options.base_timestamp = timestamp_ms;
  Bytes batch = record::encode_batch(options, values);
  VERIFY(batch.size() >= record::kBatchHeaderSize);
  return batch;
}

std::string BatchDecodeError::describe() const {
  if (batch) return fmt::format("bad batch: {}", record::record_error_name(*batch));
  if (null_value) return "a metadata record with a null value";
  return fmt::format("bad metadata record: {}", protocol::decode_error_name(value));
}

weir::Result<std::vector<LogEntry>, BatchDecodeError> decode_batch_entries(
    std::span<const uint8_t> batches) {
  auto views = record::split_batches(batches);
  if (!views) return weir::unexpected(BatchDecodeError{views.error()});
  std::vector<LogEntry> entries;
  for (const auto& view : *views) {
    if (view.header.is_control()) continue;
    auto records = record::decode_records(view, kDecompressedBytesMax);
    if (!records) return weir::unexpected(BatchDecodeError{records.error()});
    for (const auto& value : *records) {
      if (!value.value) {
        return weir::unexpected(BatchDecodeError{std::nullopt, DecodeError::none, true});
      }
      auto decoded = decode_record(*value.value);
      if (!decoded) return weir::unexpected(BatchDecodeError{std::nullopt, decoded.error()});
      entries.push_back(
          LogEntry{view.header.base_offset + value.offset_delta, std::move(*decoded)});
    }
  }
  return entries;
}

weir::Result<std::vector<Record>, BatchDecodeError> decode_batch(std::span<const uint8_t> batches) {
  auto entries = decode_batch_entries(batches);
  if (!entries) return weir::unexpected(entries.error());
  std::vector<Record> records;
  records.reserve(entries->size());
  for (auto& entry : *entries) records.push_back(std::move(entry.record));
  return records;
}

}  // namespace weir::metadata
