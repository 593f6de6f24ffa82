// Record batch v2 ("magic 2"), the unit Kafka clients produce, brokers store and
// consumers fetch.
//
//   offset  field                  covered by the CRC
//   0       base_offset      int64  no  (assigned by the leader)
//   8       batch_length     int32  no  (bytes after this field)
//   12      leader_epoch     int32  no  (assigned by the leader)
//   16      magic            int8   no
//   17      crc              uint32 -   (CRC-32C of bytes 21..end)
//   21      attributes       int16  yes (codec 0-2, timestamp type 3, transactional 4,
//                                        control 5, delete horizon 6)
//   23      last_offset_delta int32
//   27      base_timestamp   int64
//   35      max_timestamp    int64
//   43      producer_id      int64
//   51      producer_epoch   int16
//   53      base_sequence    int32
//   57      records_count    int32
//   61      records (compressed as a whole when the codec is not none)
//
// Because base_offset and partition_leader_epoch sit before the CRC's span, the
// broker rewrites them in place (set_base_offset, set_partition_leader_epoch) and
// stores the producer's bytes otherwise untouched: no re-encoding on append.
//
// Every reader here takes untrusted bytes: it checks lengths before reading or
// allocating, bounds decompression by the caller's limit, and returns a RecordError.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "record/types.h"

namespace weir::record {

inline constexpr size_t kBatchHeaderSize = 61;
// Bytes of a batch that batch_length does not count: base_offset and batch_length.
inline constexpr size_t kBatchLogOverhead = 12;
inline constexpr size_t kCrcOffset = 17;
inline constexpr size_t kAttributesOffset = 21;
inline constexpr size_t kMaxTimestampOffset = 35;
inline constexpr int8_t kMagicV2 = 2;
static_assert(kAttributesOffset == kCrcOffset + 4, "the CRC covers everything after itself");

inline constexpr int16_t kCompressionMask = 0x07;
inline constexpr int16_t kTimestampTypeBit = 0x08;
inline constexpr int16_t kTransactionalBit = 0x10;
inline constexpr int16_t kControlBit = 0x20;
inline constexpr int16_t kDeleteHorizonBit = 0x40;

struct BatchHeader {
  Offset base_offset{0};
  int32_t batch_length = 0;
  LeaderEpoch partition_leader_epoch{-1};
  int8_t magic = kMagicV2;
  uint32_t crc = 0;
  int16_t attributes = 0;
  int32_t last_offset_delta = 0;
  int64_t base_timestamp = 0;
  int64_t max_timestamp = 0;
  ProducerId producer_id{-1};
  ProducerEpoch producer_epoch{-1};
  Sequence base_sequence{-1};
  int32_t records_count = 0;

  Compression compression() const {
    return static_cast<Compression>(attributes & kCompressionMask);
  }
  TimestampType timestamp_type() const {
    return (attributes & kTimestampTypeBit) ? TimestampType::log_append_time
                                            : TimestampType::create_time;
  }
  bool is_transactional() const { return (attributes & kTransactionalBit) != 0; }
  bool is_control() const { return (attributes & kControlBit) != 0; }
  bool has_delete_horizon() const { return (attributes & kDeleteHorizonBit) != 0; }
  Offset last_offset() const { return base_offset + last_offset_delta; }
  // The whole batch, as stored in a log segment.
  size_t size_bytes() const { return static_cast<size_t>(batch_length) + kBatchLogOverhead; }

  bool operator==(const BatchHeader&) const = default;
};

// One batch's bytes, exactly size_bytes() of them, and its parsed header.
struct BatchView {
  std::span<const uint8_t> bytes;
  BatchHeader header;
};

// Parses the fixed header at the start of `bytes` without checking the CRC. Fails
// when fewer than kBatchHeaderSize bytes are present, the magic is not 2, or
// batch_length is too small to hold the header.
Result<BatchHeader> read_batch_header(std::span<const uint8_t> bytes);

// The CRC-32C a batch's header should carry: over bytes 21..end of `batch`.
uint32_t compute_batch_crc(std::span<const uint8_t> batch);

// Checks the batch at the start of `bytes`: header, length within `bytes`, CRC,
// compression codec and records_count >= 0. Records are not parsed (see
// validate_records). The view covers exactly the batch.
Result<BatchView> validate_batch(std::span<const uint8_t> bytes);

// Splits a records field (batches back to back, as in Produce and Fetch) into
// validated batches; fails on the first bad one or on a partial batch at the end.
Result<std::vector<BatchView>> split_batches(std::span<const uint8_t> records);

// In-place rewrites of the fields the CRC does not cover. `batch` starts at a
// batch's first byte and holds at least its header.
void set_base_offset(std::span<uint8_t> batch, Offset base_offset);
void set_partition_leader_epoch(std::span<uint8_t> batch, LeaderEpoch epoch);

// Marks the batch LogAppendTime with `timestamp` as its max timestamp, as a broker
// configured so does on append. These fields are covered by the CRC, which is
// recomputed.
void set_log_append_time(std::span<uint8_t> batch, int64_t timestamp);

// ---- records -------------------------------------------------------------------

struct Header {
  std::string key;
  std::optional<Bytes> value;
  bool operator==(const Header&) const = default;
};

// A record, owning its bytes. Timestamps and offsets are deltas from the batch's.
struct Record {
  int8_t attributes = 0;  // unused by Kafka so far; kept
  int64_t timestamp_delta = 0;
  int32_t offset_delta = 0;
  std::optional<Bytes> key;
  std::optional<Bytes> value;
  std::vector<Header> headers;
  bool operator==(const Record&) const = default;
};

// A record as spans into its batch's (decompressed) bytes: no allocation.
struct RecordView {
  int8_t attributes = 0;
  int64_t timestamp_delta = 0;
  int32_t offset_delta = 0;
  std::optional<std::span<const uint8_t>> key;
  std::optional<std::span<const uint8_t>> value;
  int32_t header_count = 0;
  std::span<const uint8_t> headers;  // header_count encoded headers
};

struct HeaderView {
  std::span<const uint8_t> key;
  std::optional<std::span<const uint8_t>> value;
};

// The records section of a batch: the batch's own bytes when uncompressed, or its
// decompression into `scratch` (replacing what `scratch` held), at most
// `decompressed_bytes_max` bytes. The span is valid while both live unchanged.
Result<std::span<const uint8_t>> records_section(const BatchView& batch,
                                                 size_t decompressed_bytes_max,
                                                 Bytes& scratch);

// Walks the records of a records section one by one.
class RecordCursor {
 public:
  RecordCursor(std::span<const uint8_t> section, int32_t records_count)
      : section_(section), remaining_(records_count) {}

  // Reads the next record into `record`; false when all records_count were read.
  // An error means the record was malformed, or the section ran out early.
  Result<bool> next(RecordView& record);
  // After the last next(): the section must have ended exactly there.
  bool at_end() const { return position_ == section_.size(); }

 private:
  std::span<const uint8_t> section_;
  size_t position_ = 0;
  int32_t remaining_;
};

// Parses a RecordView's headers into `out` (cleared first).
Status read_headers(const RecordView& record, std::vector<HeaderView>& out);

// Checks every record of the batch parses, that there are exactly records_count of
// them filling the section, that offset deltas run 0, 1, 2, … and that
// last_offset_delta is the last of them; a control batch must hold control records.
// This is what a leader verifies before appending a producer's batch.
Status validate_records(const BatchView& batch, size_t decompressed_bytes_max, Bytes& scratch);

// Decodes every record into owned values (for tests, tools and the client).
Result<std::vector<Record>> decode_records(const BatchView& batch,
                                           size_t decompressed_bytes_max);

// ---- encoding ------------------------------------------------------------------
// One encoder of the v2 format for every writer: whole batches of Records
// (append_batch/encode_batch: the controller's metadata, transaction markers, tests)
// and record::BatchBuilder (batch_builder.h: records appended one at a time into the
// batch's buffer, as weir's producer does) both write records with append_record and
// end the batch with finish_batch.

// A record to encode, as spans: nothing is copied until it is written.
struct RecordFields {
  int8_t attributes = 0;
  int64_t timestamp_delta = 0;
  int32_t offset_delta = 0;
  std::optional<std::span<const uint8_t>> key;
  std::optional<std::span<const uint8_t>> value;
  std::span<const HeaderView> headers;
};
// Bytes the record takes in a batch, its length prefix included.
size_t encoded_record_size(const RecordFields& record);
// Appends the record to `out` (the records section of a batch being built).
void append_record(const RecordFields& record, Bytes& out);

// What a batch's header says of its records.
struct BatchRecordsSummary {
  int32_t count = 0;
  int32_t last_offset_delta = 0;  // 0 for an empty batch
  int64_t max_timestamp = 0;
};

struct BatchOptions {
  Offset base_offset{0};
  LeaderEpoch partition_leader_epoch{-1};
  Compression compression = Compression::none;
  TimestampType timestamp_type = TimestampType::create_time;
  bool transactional = false;
  bool control = false;
  int64_t base_timestamp = 0;
  ProducerId producer_id{-1};
  ProducerEpoch producer_epoch{-1};
  Sequence base_sequence{-1};
};

// Appends one batch holding `records` to `out`. last_offset_delta is the last
// record's offset_delta and max_timestamp the largest record timestamp (0 and
// base_timestamp for an empty batch).
void append_batch(const BatchOptions& options, std::span<const Record> records, Bytes& out);
Bytes encode_batch(const BatchOptions& options, std::span<const Record> records);

// Reserves a batch header at the end of `out`; returns where the batch starts. The
// records follow (append_record), then finish_batch.
size_t begin_batch(Bytes& out);
// Ends the batch begun at out[start]: compresses its records as options.compression
// says, then writes the header (options, `records`) and the CRC.
void finish_batch(const BatchOptions& options, const BatchRecordsSummary& records, size_t start,
                  Bytes& out);

// ---- control records -----------------------------------------------------------

// The type in a control record's key (key: version int16 = 0, type int16).
enum class ControlType : int16_t {
  abort = 0,
  commit = 1,
  leader_change = 2,
  snapshot_header = 3,
  snapshot_footer = 4,
  kraft_version = 5,
  kraft_voters = 6,
};

Result<ControlType> read_control_type(const RecordView& record);

// The transaction markers a coordinator writes: value is version int16 = 0 and the
// coordinator epoch int32.
struct EndTxnMarker {
  ControlType type = ControlType::commit;  // abort or commit
  int32_t coordinator_epoch = 0;
  bool operator==(const EndTxnMarker&) const = default;
};
Record make_end_txn_marker(const EndTxnMarker& marker);
Result<EndTxnMarker> read_end_txn_marker(const RecordView& record);

}  // namespace weir::record
