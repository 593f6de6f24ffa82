// The storage module's vocabulary: its operating errors and the strong types that keep
// an offset (a record's number in the log) apart from a byte position in a file.
#pragma once

#include <cstdint>
#include <string_view>

#include "base/result.h"
#include "base/strong.h"
#include "record/types.h"

namespace weir::storage {

using record::LeaderEpoch;
using record::Offset;

// A byte position inside one segment's .log file (Kafka's "physical position").
using FilePosition = Strong<struct FilePositionTag, int64_t>;

// Each error is one a caller can react to (STYLE.md): the broker maps them to Kafka
// error codes at the protocol edge.
enum class StorageError : uint8_t {
  invalid_batch,        // an appended batch failed framing or CRC checks: reject the request
  batch_too_large,      // a batch is above max.message.bytes: RECORD_BATCH_TOO_LARGE
  offset_out_of_range,  // a read or truncation outside [log start, log end]
  corrupt_batch,        // stored bytes failed their CRC on read (after one retry)
  no_space,             // ENOSPC: the append was undone; retry after retention frees space
  io,                   // the device failed; the log is now suspect
  suspect,              // an earlier fsync or write failed: re-open (recover) the log
  not_found,            // no such partition directory or file
  closed,               // the log was closed (shutdown, or recovery replaced it)
};

std::string_view to_string(StorageError error);

template <typename T>
using StorageResult = Result<T, StorageError>;

}  // namespace weir::storage
