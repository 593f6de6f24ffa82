#include "record/batch_builder.h"

#include <algorithm>
#include <array>

#include "base/assert.h"

namespace weir::record {

namespace {
HeaderView view(const RecordHeader& header) {
  return HeaderView{
      std::span(reinterpret_cast<const uint8_t*>(header.key.data()), header.key.size()),
      header.value};
}
}  // namespace

BatchBuilder::BatchBuilder(Compression compression, size_t capacity_hint)
    : compression_(compression) {
  buffer_.reserve(std::max(capacity_hint, kBatchHeaderSize));
  VERIFY(begin_batch(buffer_) == 0);
}

RecordFields BatchBuilder::fields(int64_t timestamp_delta, int32_t offset_delta,
                                  std::optional<std::span<const uint8_t>> key,
                                  std::optional<std::span<const uint8_t>> value,
                                  std::span<const RecordHeader> headers) {
  headers_.clear();
  for (const RecordHeader& header : headers) headers_.push_back(view(header));
  return RecordFields{0, timestamp_delta, offset_delta, key, value, headers_};
}

size_t BatchBuilder::record_size(int64_t timestamp_delta, int32_t offset_delta,
                                 std::optional<std::span<const uint8_t>> key,
                                 std::optional<std::span<const uint8_t>> value,
                                 std::span<const RecordHeader> headers) {
  // Views of the headers: on the stack for the usual few, so sizing a record allocates
  // nothing.
  constexpr size_t kOnStack = 16;
  std::array<HeaderView, kOnStack> on_stack;
  std::vector<HeaderView> on_heap;
  std::span<HeaderView> views(on_stack.data(), std::min(headers.size(), kOnStack));
  if (headers.size() > kOnStack) {
    on_heap.resize(headers.size());
    views = on_heap;
  }
  for (size_t i = 0; i < headers.size(); i++) views[i] = view(headers[i]);
  return encoded_record_size(RecordFields{0, timestamp_delta, offset_delta, key, value, views});
}

bool BatchBuilder::try_append(int64_t timestamp, std::optional<std::span<const uint8_t>> key,
                              std::optional<std::span<const uint8_t>> value,
                              std::span<const RecordHeader> headers, size_t batch_bytes_max) {
  VERIFY(!finished_, "append to a finished batch");
  if (record_count_ == 0) {
    base_timestamp_ = timestamp;
    max_timestamp_ = timestamp;
  }
  const RecordFields record =
      fields(timestamp - base_timestamp_, record_count_, key, value, headers);
  const size_t total = encoded_record_size(record);
  if (record_count_ > 0 && buffer_.size() + total > batch_bytes_max) return false;
  const size_t size_before = buffer_.size();
  append_record(record, buffer_);
  VERIFY(buffer_.size() - size_before == total, "record size estimate and encoding agree");
  record_count_++;
  max_timestamp_ = std::max(max_timestamp_, timestamp);
  return true;
}

Bytes BatchBuilder::finish(const BatchIdentity& identity) {
  VERIFY(!finished_, "a batch is finished once");
  VERIFY(record_count_ > 0, "an empty batch is never sent");
  finished_ = true;
  BatchOptions options;
  options.compression = compression_;
  options.transactional = identity.transactional;
  options.base_timestamp = base_timestamp_;
  options.producer_id = identity.producer_id;
  options.producer_epoch = identity.producer_epoch;
  options.base_sequence = identity.base_sequence;
  finish_batch(options, BatchRecordsSummary{record_count_, record_count_ - 1, max_timestamp_}, 0,
               buffer_);
  return std::move(buffer_);
}

}  // namespace weir::record
