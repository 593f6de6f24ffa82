// Builds one record batch v2 by appending records straight into its buffer: no
// Record objects, no allocation per record (the buffer grows geometrically). The
// header is written when the batch is finished, once the producer id, epoch and base
// sequence are known, and the records section is compressed then as a whole. It is a
// front of the one batch encoder (batch.h: append_record, finish_batch), for writers
// that take records one at a time (weir's producer).
//
// Invariants:
//  - Offset deltas are 0, 1, 2, … in append order; last_offset_delta = count - 1.
//  - A finished batch passes record::validate_batch and record::validate_records
//    (tests/record check it), and nothing can be appended after finish().
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

#include "record/batch.h"
#include "record/types.h"

namespace weir::record {

// A header as a producer gives it: a text key, a value of bytes or null.
struct RecordHeader {
  std::string_view key;
  std::optional<std::span<const uint8_t>> value;
};

struct BatchIdentity {
  ProducerId producer_id{-1};
  ProducerEpoch producer_epoch{-1};
  Sequence base_sequence{-1};
  bool transactional = false;
};

class BatchBuilder {
 public:
  explicit BatchBuilder(Compression compression, size_t capacity_hint = 0);

  // Bytes the record would add (its length prefix included).
  static size_t record_size(int64_t timestamp_delta, int32_t offset_delta,
                            std::optional<std::span<const uint8_t>> key,
                            std::optional<std::span<const uint8_t>> value,
                            std::span<const RecordHeader> headers);

  // Appends a record unless the batch already holds one and would grow past
  // `batch_bytes_max`; a first record is always taken (an oversized record travels
  // alone, as in Kafka). Returns whether it was appended.
  bool try_append(int64_t timestamp, std::optional<std::span<const uint8_t>> key,
                  std::optional<std::span<const uint8_t>> value,
                  std::span<const RecordHeader> headers, size_t batch_bytes_max);

  int32_t record_count() const { return record_count_; }
  // The uncompressed size so far, header included.
  size_t size_bytes() const { return buffer_.size(); }
  bool empty() const { return record_count_ == 0; }
  bool finished() const { return finished_; }

  // Writes the header (and compresses): returns the batch's bytes, leaving the
  // builder finished.
  Bytes finish(const BatchIdentity& identity);

 private:
  // The encoder's view of a record: `headers_` holds its headers' views.
  RecordFields fields(int64_t timestamp_delta, int32_t offset_delta,
                      std::optional<std::span<const uint8_t>> key,
                      std::optional<std::span<const uint8_t>> value,
                      std::span<const RecordHeader> headers);

  Compression compression_;
  Bytes buffer_;
  std::vector<HeaderView> headers_;  // reused: no allocation per record once warm
  int32_t record_count_ = 0;
  int64_t base_timestamp_ = 0;
  int64_t max_timestamp_ = 0;
  bool finished_ = false;
};

}  // namespace weir::record
