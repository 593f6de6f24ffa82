// Checkers over the history of an append-only log's clients (Jepsen's append/read
// checkers, for logs whose writes carry unique values): the writes and how each ended,
// the reads made during the run, and the whole log read back after the runner's final
// power loss of every node. The broker's partitions (broker_log) and the simulator's own
// replicated log (replicated_log) both record into a LogHistory.
//
// A position is (partition, offset); a log with one partition uses partition 0. Values
// are unique per write and never 0, so a value names the write that stored it.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <absl/container/btree_map.h>

#include "runtime/clock.h"
#include "sim/checkers/result.h"

namespace weir::sim::checkers {

struct LogWrite {
  uint64_t value = 0;
  int32_t partition = 0;
  runtime::Instant invoked;
  Outcome outcome = Outcome::pending;
  int64_t offset = -1;  // where it was acknowledged, once ok
  runtime::Instant acknowledged;  // when, once ok
};

using LogPosition = std::pair<int32_t, int64_t>;  // (partition, offset)

struct LogRead {
  uint64_t value = 0;
  std::string reader;                  // who answered ("a consumer", "r1", ...)
  std::optional<runtime::Instant> at;  // when, if the client noted it
};

struct LogHistory {
  std::vector<LogWrite> writes;
  // The first read of each position, and every later read of it that returned another
  // value (kept apart, so a history of many rereads stays one entry per position).
  absl::btree_map<LogPosition, LogRead> reads;
  std::vector<std::pair<LogPosition, LogRead>> read_conflicts;
  size_t read_count = 0;  // every read recorded, rereads included
  // After the final power loss: each partition's records, (offset, value) in log order.
  std::optional<std::vector<std::vector<std::pair<int64_t, uint64_t>>>> final_log;
};

// A read of `position` that returned `value`.
void record_read(LogHistory& history, LogPosition position, uint64_t value, std::string reader,
                 std::optional<runtime::Instant> at = std::nullopt);

// The checks below need the final log (history.final_log set).

// Integrity of the final log: each partition's offsets strictly increase, and every
// value stored was written by a client, and is stored once (no duplicate append, e.g.
// a retried batch appended twice).                 (skip-checksum in replicated_log)
void check_log_integrity(const LogHistory& history, CheckResult& result);
// Durability: every acknowledged write is in the final log at its acknowledged
// position.                                                       (ack-before-fsync)
void check_log_durability(const LogHistory& history, CheckResult& result);
// Reads: no position was read as two values, and every read agrees with the final log.
void check_log_reads(const LogHistory& history, CheckResult& result);
// Liveness: a write invoked at or after `healed_at` was acknowledged.
void check_log_progress(const LogHistory& history, runtime::Instant healed_at, CheckResult& result);

// The number of acknowledged writes, and of records in the final log (for summaries).
size_t acknowledged_writes(const LogHistory& history);
size_t final_records(const LogHistory& history);

}  // namespace weir::sim::checkers
