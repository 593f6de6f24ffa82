#include "record/batch.h"

#include <algorithm>
#include <cstring>
#include <limits>

#include "base/big_endian.h"
#include "record/compression.h"
#include "record/crc32c.h"

namespace weir::record {
namespace {

// The smallest record: length, attributes, timestamp delta, offset delta, key length,
// value length and header count, one byte each. Bounds reservations by input size.
constexpr size_t kRecordSizeMin = 7;

// Sequential reads of varints and byte runs from untrusted bytes.
class Cursor {
 public:
  explicit Cursor(std::span<const uint8_t> data) : data_(data) {}
  size_t position() const { return position_; }
  size_t remaining() const { return data_.size() - position_; }

  std::optional<uint64_t> uvarlong() {
    uint64_t value = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (position_ >= data_.size()) return std::nullopt;
      const uint8_t byte = data_[position_++];
      if (shift == 63 && byte > 1) return std::nullopt;
      value |= static_cast<uint64_t>(byte & 0x7f) << shift;
      if ((byte & 0x80) == 0) return value;
    }
    return std::nullopt;
  }

  std::optional<int64_t> varlong() {
    auto raw = uvarlong();
    if (!raw) return std::nullopt;
    return static_cast<int64_t>((*raw >> 1) ^ (~(*raw & 1) + 1));
  }

  // A zig-zag varint that must fit an int32 (Kafka's "varint").
  std::optional<int32_t> varint() {
    auto value = varlong();
    if (!value || *value < std::numeric_limits<int32_t>::min() ||
        *value > std::numeric_limits<int32_t>::max()) {
      return std::nullopt;
    }
    return static_cast<int32_t>(*value);
  }

  std::optional<std::span<const uint8_t>> take(size_t size) {
    if (size > remaining()) return std::nullopt;
    auto out = data_.subspan(position_, size);
    position_ += size;
    return out;
  }

 private:
  std::span<const uint8_t> data_;
  size_t position_ = 0;
};

// A varint length followed by that many bytes; -1 means null. `error` receives why
// the read failed.
bool read_nullable_run(Cursor& cursor, std::optional<std::span<const uint8_t>>& out,
                       RecordError& error) {
  const auto length = cursor.varint();
  if (!length) {
    error = RecordError::invalid_varint;
    return false;
  }
  if (*length == -1) {
    out.reset();
    return true;
  }
  if (*length < -1) {
    error = RecordError::invalid_length;
    return false;
  }
  auto bytes = cursor.take(static_cast<size_t>(*length));
  if (!bytes) {
    error = RecordError::truncated;
    return false;
  }
  out = *bytes;
  return true;
}

void write_uvarlong(Bytes& out, uint64_t value) {
  while (value >= 0x80) {
    out.push_back(static_cast<uint8_t>(value | 0x80));
    value >>= 7;
  }
  out.push_back(static_cast<uint8_t>(value));
}

void write_varlong(Bytes& out, int64_t value) {
  write_uvarlong(out, (static_cast<uint64_t>(value) << 1) ^ static_cast<uint64_t>(value >> 63));
}

size_t varlong_size(int64_t value) {
  uint64_t raw = (static_cast<uint64_t>(value) << 1) ^ static_cast<uint64_t>(value >> 63);
  size_t size = 1;
  while (raw >= 0x80) {
    raw >>= 7;
    size++;
  }
  return size;
}

size_t run_size(std::optional<std::span<const uint8_t>> run) {
  if (!run) return varlong_size(-1);
  return varlong_size(static_cast<int64_t>(run->size())) + run->size();
}

void write_run(Bytes& out, std::optional<std::span<const uint8_t>> run) {
  if (!run) {
    write_varlong(out, -1);
    return;
  }
  write_varlong(out, static_cast<int64_t>(run->size()));
  out.insert(out.end(), run->begin(), run->end());
}

size_t record_body_size(const RecordFields& record) {
  size_t size = 1 + varlong_size(record.timestamp_delta) + varlong_size(record.offset_delta) +
                run_size(record.key) + run_size(record.value) +
                varlong_size(static_cast<int64_t>(record.headers.size()));
  for (const HeaderView& header : record.headers) {
    size += run_size(header.key) + run_size(header.value);
  }
  return size;
}

std::optional<std::span<const uint8_t>> as_run(const std::optional<Bytes>& bytes) {
  if (!bytes) return std::nullopt;
  return std::span<const uint8_t>(*bytes);
}

Bytes to_bytes(std::span<const uint8_t> span) { return Bytes(span.begin(), span.end()); }

}  // namespace

std::string_view record_error_name(RecordError error) {
  switch (error) {
    case RecordError::truncated: return "truncated";
    case RecordError::invalid_magic: return "invalid_magic";
    case RecordError::invalid_length: return "invalid_length";
    case RecordError::crc_mismatch: return "crc_mismatch";
    case RecordError::invalid_varint: return "invalid_varint";
    case RecordError::invalid_compression: return "invalid_compression";
    case RecordError::decompression_failed: return "decompression_failed";
    case RecordError::too_large: return "too_large";
    case RecordError::invalid_record_count: return "invalid_record_count";
    case RecordError::invalid_offset_delta: return "invalid_offset_delta";
    case RecordError::invalid_control_record: return "invalid_control_record";
  }
  return "unknown";
}

Result<BatchHeader> read_batch_header(std::span<const uint8_t> bytes) {
  if (bytes.size() < kBatchHeaderSize) return unexpected(RecordError::truncated);
  const uint8_t* p = bytes.data();
  BatchHeader header;
  header.base_offset = Offset(static_cast<int64_t>(load_big_endian<uint64_t>(p)));
  header.batch_length = static_cast<int32_t>(load_big_endian<uint32_t>(p + 8));
  header.partition_leader_epoch =
      LeaderEpoch(static_cast<int32_t>(load_big_endian<uint32_t>(p + 12)));
  header.magic = static_cast<int8_t>(p[16]);
  header.crc = load_big_endian<uint32_t>(p + kCrcOffset);
  header.attributes = static_cast<int16_t>(load_big_endian<uint16_t>(p + kAttributesOffset));
  header.last_offset_delta = static_cast<int32_t>(load_big_endian<uint32_t>(p + 23));
  header.base_timestamp = static_cast<int64_t>(load_big_endian<uint64_t>(p + 27));
  header.max_timestamp = static_cast<int64_t>(load_big_endian<uint64_t>(p + kMaxTimestampOffset));
  header.producer_id = ProducerId(static_cast<int64_t>(load_big_endian<uint64_t>(p + 43)));
  header.producer_epoch = ProducerEpoch(static_cast<int16_t>(load_big_endian<uint16_t>(p + 51)));
  header.base_sequence = Sequence(static_cast<int32_t>(load_big_endian<uint32_t>(p + 53)));
  header.records_count = static_cast<int32_t>(load_big_endian<uint32_t>(p + 57));
  if (header.magic != kMagicV2) return unexpected(RecordError::invalid_magic);
  if (header.batch_length < static_cast<int32_t>(kBatchHeaderSize - kBatchLogOverhead)) {
    return unexpected(RecordError::invalid_length);
  }
  return header;
}

uint32_t compute_batch_crc(std::span<const uint8_t> batch) {
  VERIFY(batch.size() >= kBatchHeaderSize, "batch of {} bytes", batch.size());
  return crc32c(batch.subspan(kAttributesOffset));
}

Result<BatchView> validate_batch(std::span<const uint8_t> bytes) {
  auto header = read_batch_header(bytes);
  if (!header) return unexpected(header.error());
  if (header->size_bytes() > bytes.size()) return unexpected(RecordError::truncated);
  const auto batch = bytes.first(header->size_bytes());
  if (compute_batch_crc(batch) != header->crc) return unexpected(RecordError::crc_mismatch);
  if ((header->attributes & kCompressionMask) > static_cast<int16_t>(Compression::zstd)) {
    return unexpected(RecordError::invalid_compression);
  }
  if (header->records_count < 0) return unexpected(RecordError::invalid_record_count);
  return BatchView{batch, header.value()};
}

Result<std::vector<BatchView>> split_batches(std::span<const uint8_t> records) {
  std::vector<BatchView> batches;
  size_t offset = 0;
  while (offset < records.size()) {
    auto batch = validate_batch(records.subspan(offset));
    if (!batch) return unexpected(batch.error());
    offset += batch->bytes.size();
    batches.push_back(batch.value());
  }
  VERIFY(offset == records.size(), "batches cover the records exactly");
  return batches;
}

void set_base_offset(std::span<uint8_t> batch, Offset base_offset) {
  VERIFY(batch.size() >= kBatchHeaderSize, "batch of {} bytes", batch.size());
  store_big_endian(batch.data(), static_cast<uint64_t>(base_offset.value()));
}

void set_partition_leader_epoch(std::span<uint8_t> batch, LeaderEpoch epoch) {
  VERIFY(batch.size() >= kBatchHeaderSize, "batch of {} bytes", batch.size());
  store_big_endian(batch.data() + 12, static_cast<uint32_t>(epoch.value()));
}

void set_log_append_time(std::span<uint8_t> batch, int64_t timestamp) {
  VERIFY(batch.size() >= kBatchHeaderSize, "batch of {} bytes", batch.size());
  const auto attributes = load_big_endian<uint16_t>(batch.data() + kAttributesOffset);
  store_big_endian(batch.data() + kAttributesOffset,
                   static_cast<uint16_t>(attributes | kTimestampTypeBit));
  store_big_endian(batch.data() + kMaxTimestampOffset, static_cast<uint64_t>(timestamp));
  const auto length = static_cast<int32_t>(load_big_endian<uint32_t>(batch.data() + 8));
  VERIFY(length >= static_cast<int32_t>(kBatchHeaderSize - kBatchLogOverhead), "batch length {}",
         length);
  const size_t size = static_cast<size_t>(length) + kBatchLogOverhead;
  VERIFY(size <= batch.size(), "batch of {} bytes in a span of {}", size, batch.size());
  store_big_endian(batch.data() + kCrcOffset, compute_batch_crc(batch.first(size)));
}

Result<std::span<const uint8_t>> records_section(const BatchView& batch,
                                                 size_t decompressed_bytes_max, Bytes& scratch) {
  VERIFY(batch.bytes.size() == batch.header.size_bytes(), "view covers its batch");
  const auto compressed = batch.bytes.subspan(kBatchHeaderSize);
  const Compression codec = batch.header.compression();
  if (codec == Compression::none) return compressed;
  if (static_cast<uint8_t>(codec) > static_cast<uint8_t>(Compression::zstd)) {
    return unexpected(RecordError::invalid_compression);
  }
  scratch.clear();
  const Status status = decompress(codec, compressed, decompressed_bytes_max, scratch);
  if (!status) return unexpected(status.error());
  return std::span<const uint8_t>(scratch);
}

Result<bool> RecordCursor::next(RecordView& record) {
  if (remaining_ <= 0) return false;
  Cursor cursor(section_.subspan(position_));
  const auto length = cursor.varint();
  if (!length) return unexpected(RecordError::invalid_varint);
  if (*length < 0) return unexpected(RecordError::invalid_length);
  auto body_bytes = cursor.take(static_cast<size_t>(*length));
  if (!body_bytes) return unexpected(RecordError::truncated);

  Cursor body(*body_bytes);
  auto attributes = body.take(1);
  if (!attributes) return unexpected(RecordError::truncated);
  record.attributes = static_cast<int8_t>((*attributes)[0]);
  const auto timestamp_delta = body.varlong();
  const auto offset_delta = body.varint();
  if (!timestamp_delta || !offset_delta) return unexpected(RecordError::invalid_varint);
  record.timestamp_delta = *timestamp_delta;
  record.offset_delta = *offset_delta;
  RecordError error{};
  if (!read_nullable_run(body, record.key, error)) return unexpected(error);
  if (!read_nullable_run(body, record.value, error)) return unexpected(error);
  const auto header_count = body.varint();
  if (!header_count) return unexpected(RecordError::invalid_varint);
  // Each header takes at least two bytes (two lengths).
  if (*header_count < 0 || static_cast<size_t>(*header_count) > body.remaining() / 2) {
    return unexpected(RecordError::invalid_length);
  }
  record.header_count = *header_count;
  record.headers = body_bytes->subspan(body.position());
  // Headers are checked now so that a record that returned true is whole.
  Cursor headers(record.headers);
  for (int32_t i = 0; i < record.header_count; i++) {
    std::optional<std::span<const uint8_t>> key;
    std::optional<std::span<const uint8_t>> value;
    if (!read_nullable_run(headers, key, error)) return unexpected(error);
    if (!key) return unexpected(RecordError::invalid_length);  // header keys are never null
    if (!read_nullable_run(headers, value, error)) return unexpected(error);
  }
  if (headers.remaining() != 0) return unexpected(RecordError::invalid_length);

  position_ += cursor.position();
  remaining_--;
  return true;
}

Status read_headers(const RecordView& record, std::vector<HeaderView>& out) {
  out.clear();
  Cursor cursor(record.headers);
  RecordError error{};
  for (int32_t i = 0; i < record.header_count; i++) {
    std::optional<std::span<const uint8_t>> key;
    HeaderView header;
    if (!read_nullable_run(cursor, key, error)) return unexpected(error);
    if (!key) return unexpected(RecordError::invalid_length);
    header.key = *key;
    if (!read_nullable_run(cursor, header.value, error)) return unexpected(error);
    out.push_back(header);
  }
  return {};
}

Status validate_records(const BatchView& batch, size_t decompressed_bytes_max, Bytes& scratch) {
  auto section = records_section(batch, decompressed_bytes_max, scratch);
  if (!section) return unexpected(section.error());
  const BatchHeader& header = batch.header;
  if (header.is_control() && header.records_count != 1) {
    return unexpected(RecordError::invalid_control_record);
  }
  RecordCursor cursor(*section, header.records_count);
  RecordView record;
  int32_t expected_offset_delta = 0;
  while (true) {
    auto more = cursor.next(record);
    if (!more) return unexpected(more.error());
    if (!*more) break;
    if (record.offset_delta != expected_offset_delta) {
      return unexpected(RecordError::invalid_offset_delta);
    }
    if (header.is_control() && !read_control_type(record)) {
      return unexpected(RecordError::invalid_control_record);
    }
    expected_offset_delta++;
  }
  if (!cursor.at_end()) return unexpected(RecordError::invalid_record_count);
  if (header.records_count > 0 && header.last_offset_delta != header.records_count - 1) {
    return unexpected(RecordError::invalid_offset_delta);
  }
  return {};
}

Result<std::vector<Record>> decode_records(const BatchView& batch, size_t decompressed_bytes_max) {
  Bytes scratch;
  auto section = records_section(batch, decompressed_bytes_max, scratch);
  if (!section) return unexpected(section.error());
  std::vector<Record> records;
  records.reserve(
      std::min(static_cast<size_t>(batch.header.records_count), section->size() / kRecordSizeMin));
  RecordCursor cursor(*section, batch.header.records_count);
  RecordView view;
  std::vector<HeaderView> headers;
  while (true) {
    auto more = cursor.next(view);
    if (!more) return unexpected(more.error());
    if (!*more) break;
    Record& record = records.emplace_back();
    record.attributes = view.attributes;
    record.timestamp_delta = view.timestamp_delta;
    record.offset_delta = view.offset_delta;
    if (view.key) record.key = to_bytes(*view.key);
    if (view.value) record.value = to_bytes(*view.value);
    const Status status = read_headers(view, headers);
    VERIFY(status.ok(), "RecordCursor checked the headers");
    for (const HeaderView& header : headers) {
      record.headers.push_back(
          {std::string(header.key.begin(), header.key.end()),
           header.value ? std::optional<Bytes>(to_bytes(*header.value)) : std::nullopt});
    }
  }
  if (!cursor.at_end()) return unexpected(RecordError::invalid_record_count);
  return records;
}

size_t encoded_record_size(const RecordFields& record) {
  const size_t body = record_body_size(record);
  return varlong_size(static_cast<int64_t>(body)) + body;
}

void append_record(const RecordFields& record, Bytes& out) {
  const size_t body_size = record_body_size(record);
  write_varlong(out, static_cast<int64_t>(body_size));
  const size_t body_start = out.size();
  out.push_back(static_cast<uint8_t>(record.attributes));
  write_varlong(out, record.timestamp_delta);
  write_varlong(out, record.offset_delta);
  write_run(out, record.key);
  write_run(out, record.value);
  write_varlong(out, static_cast<int64_t>(record.headers.size()));
  for (const HeaderView& header : record.headers) {
    write_run(out, header.key);
    write_run(out, header.value);
  }
  VERIFY(out.size() - body_start == body_size, "record body size {} != computed {}",
         out.size() - body_start, body_size);
}

size_t begin_batch(Bytes& out) {
  const size_t start = out.size();
  out.resize(start + kBatchHeaderSize);
  return start;
}

void finish_batch(const BatchOptions& options, const BatchRecordsSummary& records, size_t start,
                  Bytes& out) {
  VERIFY(out.size() >= start + kBatchHeaderSize, "a batch begun at {} has no header", start);
  if (options.compression != Compression::none) {
    const Bytes compressed = compress(
        options.compression, std::span<const uint8_t>(out).subspan(start + kBatchHeaderSize));
    out.resize(start + kBatchHeaderSize);
    out.insert(out.end(), compressed.begin(), compressed.end());
  }
  int16_t attributes = static_cast<int16_t>(options.compression);
  if (options.timestamp_type == TimestampType::log_append_time) attributes |= kTimestampTypeBit;
  if (options.transactional) attributes |= kTransactionalBit;
  if (options.control) attributes |= kControlBit;

  const size_t size = out.size() - start;
  VERIFY(size - kBatchLogOverhead <= static_cast<size_t>(std::numeric_limits<int32_t>::max()),
         "batch of {} bytes", size);
  uint8_t* p = out.data() + start;
  store_big_endian(p, static_cast<uint64_t>(options.base_offset.value()));
  store_big_endian(p + 8, static_cast<uint32_t>(size - kBatchLogOverhead));
  store_big_endian(p + 12, static_cast<uint32_t>(options.partition_leader_epoch.value()));
  p[16] = static_cast<uint8_t>(kMagicV2);
  store_big_endian(p + kAttributesOffset, static_cast<uint16_t>(attributes));
  store_big_endian(p + 23, static_cast<uint32_t>(records.last_offset_delta));
  store_big_endian(p + 27, static_cast<uint64_t>(options.base_timestamp));
  store_big_endian(p + kMaxTimestampOffset, static_cast<uint64_t>(records.max_timestamp));
  store_big_endian(p + 43, static_cast<uint64_t>(options.producer_id.value()));
  store_big_endian(p + 51, static_cast<uint16_t>(options.producer_epoch.value()));
  store_big_endian(p + 53, static_cast<uint32_t>(options.base_sequence.value()));
  store_big_endian(p + 57, static_cast<uint32_t>(records.count));
  const auto batch = std::span<uint8_t>(out).subspan(start);
  store_big_endian(p + kCrcOffset, compute_batch_crc(batch));
}

void append_batch(const BatchOptions& options, std::span<const Record> records, Bytes& out) {
  VERIFY(records.size() <= static_cast<size_t>(std::numeric_limits<int32_t>::max()),
         "{} records in one batch", records.size());
  const size_t start = begin_batch(out);
  BatchRecordsSummary summary;
  summary.count = static_cast<int32_t>(records.size());
  int64_t max_timestamp_delta = 0;
  std::vector<HeaderView> headers;  // only records with headers use it
  for (const Record& record : records) {
    max_timestamp_delta = std::max(max_timestamp_delta, record.timestamp_delta);
    headers.clear();
    for (const Header& header : record.headers) {
      headers.push_back(HeaderView{
          std::span(reinterpret_cast<const uint8_t*>(header.key.data()), header.key.size()),
          as_run(header.value)});
    }
    append_record(RecordFields{record.attributes, record.timestamp_delta, record.offset_delta,
                               as_run(record.key), as_run(record.value), headers},
                  out);
  }
  summary.last_offset_delta = records.empty() ? 0 : records.back().offset_delta;
  summary.max_timestamp = options.base_timestamp + max_timestamp_delta;
  finish_batch(options, summary, start, out);
}

Bytes encode_batch(const BatchOptions& options, std::span<const Record> records) {
  Bytes out;
  append_batch(options, records, out);
  return out;
}

Result<ControlType> read_control_type(const RecordView& record) {
  if (!record.key || record.key->size() < 4) return unexpected(RecordError::invalid_control_record);
  const int16_t version = static_cast<int16_t>(load_big_endian<uint16_t>(record.key->data()));
  if (version < 0) return unexpected(RecordError::invalid_control_record);
  const int16_t type = static_cast<int16_t>(load_big_endian<uint16_t>(record.key->data() + 2));
  if (type < 0 || type > static_cast<int16_t>(ControlType::kraft_voters)) {
    return unexpected(RecordError::invalid_control_record);
  }
  return static_cast<ControlType>(type);
}

Record make_end_txn_marker(const EndTxnMarker& marker) {
  VERIFY(marker.type == ControlType::abort || marker.type == ControlType::commit,
         "an end-transaction marker is abort or commit, not {}", static_cast<int>(marker.type));
  Record record;
  Bytes key(4);
  store_big_endian(key.data(), uint16_t{0});
  store_big_endian(key.data() + 2, static_cast<uint16_t>(marker.type));
  Bytes value(6);
  store_big_endian(value.data(), uint16_t{0});
  store_big_endian(value.data() + 2, static_cast<uint32_t>(marker.coordinator_epoch));
  record.key = std::move(key);
  record.value = std::move(value);
  return record;
}

Result<EndTxnMarker> read_end_txn_marker(const RecordView& record) {
  auto type = read_control_type(record);
  if (!type) return unexpected(type.error());
  if (*type != ControlType::abort && *type != ControlType::commit) {
    return unexpected(RecordError::invalid_control_record);
  }
  if (!record.value || record.value->size() < 6) {
    return unexpected(RecordError::invalid_control_record);
  }
  EndTxnMarker marker;
  marker.type = *type;
  marker.coordinator_epoch =
      static_cast<int32_t>(load_big_endian<uint32_t>(record.value->data() + 2));
  return marker;
}

}  // namespace weir::record
