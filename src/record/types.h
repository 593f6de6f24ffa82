// Vocabulary of the record module: strong types for the numbers a batch carries,
// compression codecs, and the errors its decoders return.
#pragma once

#include <cstdint>
#include <span>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "base/assert.h"
#include "base/ids.h"
#include "base/result.h"
#include "base/strong.h"

namespace weir::record {

using Bytes = std::vector<uint8_t>;

// An offset in a partition's log (not a byte position).
using Offset = Strong<struct OffsetTag, int64_t>;
// The leader epoch a batch was appended in (partitionLeaderEpoch).
using LeaderEpoch = weir::LeaderEpoch;
using ProducerId = weir::ProducerId;
using ProducerEpoch = weir::ProducerEpoch;
// An idempotent producer's per-partition sequence number.
using Sequence = Strong<struct SequenceTag, int32_t>;

// The values of the batch attributes' low three bits.
enum class Compression : uint8_t { none = 0, gzip = 1, snappy = 2, lz4 = 3, zstd = 4 };
std::string_view compression_name(Compression compression);

enum class TimestampType : uint8_t { create_time = 0, log_append_time = 1 };

enum class RecordError : uint8_t {
  truncated,              // the buffer ends inside a batch or record
  invalid_magic,          // not a v2 batch
  invalid_length,         // batch, record, key, value or header length out of range
  crc_mismatch,           // the CRC-32C over attributes..end does not match
  invalid_varint,         // overlong or overflowing varint
  invalid_compression,    // codec bits 5-7, or a compressed control batch
  decompression_failed,   // the codec rejected the compressed bytes
  too_large,              // decompressed size above the caller's limit
  invalid_record_count,   // records_count disagrees with the records present
  invalid_offset_delta,   // offset deltas not 0, 1, 2, ... or lastOffsetDelta wrong
  invalid_control_record, // a control batch whose record is not a control record
};
std::string_view record_error_name(RecordError error);

// A value or the RecordError that prevented it; failures are built with
// weir::unexpected(RecordError::...).
template <typename T>
using Result = weir::Result<T, RecordError>;

// Success or a RecordError.
using Status = weir::Result<void, RecordError>;

}  // namespace weir::record
