#include "client/batch_builder.h"

#include <algorithm>

#include "base/assert.h"
#include "record/compression.h"
#include "record/crc32c.h"

namespace weir::client {

namespace {

constexpr size_t varint_size_unsigned(uint64_t value) {
  size_t size = 1;
  while (value >= 0x80) {
    value >>= 7;
    size++;
  }
  return size;
}
constexpr uint64_t zigzag(int64_t value) {
  return (static_cast<uint64_t>(value) << 1) ^ static_cast<uint64_t>(value >> 63);
}
constexpr size_t varlong_size(int64_t value) { return varint_size_unsigned(zigzag(value)); }

void put_varlong(record::Bytes& out, int64_t value) {
  uint64_t v = zigzag(value);
  while (v >= 0x80) {
    out.push_back(static_cast<uint8_t>(v | 0x80));
    v >>= 7;
  }
  out.push_back(static_cast<uint8_t>(v));
}

void put_bytes(record::Bytes& out, std::optional<std::span<const uint8_t>> bytes) {
  if (!bytes) {
    put_varlong(out, -1);
    return;
  }
  put_varlong(out, static_cast<int64_t>(bytes->size()));
  out.insert(out.end(), bytes->begin(), bytes->end());
}

size_t bytes_size(std::optional<std::span<const uint8_t>> bytes) {
  if (!bytes) return varlong_size(-1);
  return varlong_size(static_cast<int64_t>(bytes->size())) + bytes->size();
}

template <typename T>
void put_big_endian(uint8_t* out, T value) {
  using U = std::make_unsigned_t<T>;
  const U bits = static_cast<U>(value);
  for (size_t i = 0; i < sizeof(T); i++) {
    out[i] = static_cast<uint8_t>(bits >> (8 * (sizeof(T) - 1 - i)));
  }
}

size_t body_size(int64_t timestamp_delta, int32_t offset_delta,
                 std::optional<std::span<const uint8_t>> key,
                 std::optional<std::span<const uint8_t>> value,
                 std::span<const RecordHeader> headers) {
  size_t size = 1;  // attributes
  size += varlong_size(timestamp_delta);
  size += varlong_size(offset_delta);
  size += bytes_size(key);
  size += bytes_size(value);
  size += varlong_size(static_cast<int64_t>(headers.size()));
  for (const RecordHeader& header : headers) {
    size += bytes_size(
        std::span(reinterpret_cast<const uint8_t*>(header.key.data()), header.key.size()));
    size += bytes_size(header.value);
  }
  return size;
}

}  // namespace

BatchBuilder::BatchBuilder(record::Compression compression, size_t capacity_hint)
    : compression_(compression) {
  buffer_.reserve(std::max(capacity_hint, record::kBatchHeaderSize));
  buffer_.resize(record::kBatchHeaderSize);
}

size_t BatchBuilder::record_size(int64_t timestamp_delta, int32_t offset_delta,
                                 std::optional<std::span<const uint8_t>> key,
                                 std::optional<std::span<const uint8_t>> value,
                                 std::span<const RecordHeader> headers) {
  const size_t body = body_size(timestamp_delta, offset_delta, key, value, headers);
  return varlong_size(static_cast<int64_t>(body)) + body;
}

bool BatchBuilder::try_append(int64_t timestamp, std::optional<std::span<const uint8_t>> key,
                              std::optional<std::span<const uint8_t>> value,
                              std::span<const RecordHeader> headers, size_t batch_bytes_max) {
  VERIFY(!finished_, "append to a finished batch");
  if (record_count_ == 0) {
    base_timestamp_ = timestamp;
    max_timestamp_ = timestamp;
  }
  const int64_t timestamp_delta = timestamp - base_timestamp_;
  const int32_t offset_delta = record_count_;
  const size_t body = body_size(timestamp_delta, offset_delta, key, value, headers);
  const size_t total = varlong_size(static_cast<int64_t>(body)) + body;
  if (record_count_ > 0 && buffer_.size() + total > batch_bytes_max) return false;
  const size_t size_before = buffer_.size();
  put_varlong(buffer_, static_cast<int64_t>(body));
  buffer_.push_back(0);  // attributes
  put_varlong(buffer_, timestamp_delta);
  put_varlong(buffer_, offset_delta);
  put_bytes(buffer_, key);
  put_bytes(buffer_, value);
  put_varlong(buffer_, static_cast<int64_t>(headers.size()));
  for (const RecordHeader& header : headers) {
    put_bytes(buffer_,
              std::span(reinterpret_cast<const uint8_t*>(header.key.data()), header.key.size()));
    put_bytes(buffer_, header.value);
  }
  VERIFY(buffer_.size() - size_before == total, "record size estimate and encoding agree");
  record_count_++;
  max_timestamp_ = std::max(max_timestamp_, timestamp);
  return true;
}

record::Bytes BatchBuilder::finish(const BatchIdentity& identity) {
  VERIFY(!finished_, "a batch is finished once");
  VERIFY(record_count_ > 0, "an empty batch is never sent");
  finished_ = true;
  if (compression_ != record::Compression::none) {
    record::Bytes compressed =
        record::compress(compression_, std::span(buffer_).subspan(record::kBatchHeaderSize));
    buffer_.resize(record::kBatchHeaderSize);
    buffer_.insert(buffer_.end(), compressed.begin(), compressed.end());
  }
  uint8_t* header = buffer_.data();
  int16_t attributes = static_cast<int16_t>(compression_);
  if (identity.transactional) attributes |= record::kTransactionalBit;
  const int32_t batch_length = static_cast<int32_t>(buffer_.size() - record::kBatchLogOverhead);
  put_big_endian<int64_t>(header + 0, 0);
  put_big_endian<int32_t>(header + 8, batch_length);
  put_big_endian<int32_t>(header + 12, -1);
  header[16] = static_cast<uint8_t>(record::kMagicV2);
  put_big_endian<int16_t>(header + 21, attributes);
  put_big_endian<int32_t>(header + 23, record_count_ - 1);
  put_big_endian<int64_t>(header + 27, base_timestamp_);
  put_big_endian<int64_t>(header + 35, max_timestamp_);
  put_big_endian<int64_t>(header + 43, identity.producer_id.value());
  put_big_endian<int16_t>(header + 51, identity.producer_epoch.value());
  put_big_endian<int32_t>(header + 53, identity.base_sequence.value());
  put_big_endian<int32_t>(header + 57, record_count_);
  put_big_endian<uint32_t>(header + record::kCrcOffset, record::compute_batch_crc(buffer_));
  return std::move(buffer_);
}

}  // namespace weir::client
