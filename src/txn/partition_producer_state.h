// PartitionProducerState: a partition's ProducerStateTable made durable beside its log,
// as Kafka keeps it: `<20-digit offset>.snapshot` files in the partition directory (next
// to storage::PartitionLog's segments), each holding the table as it stood with every
// batch below that offset recorded.
//
// Invariants and fault model:
//  - A snapshot file is written whole or not at all: a temporary is written and fsynced,
//    renamed into place, and the directory fsynced (storage::write_file_atomically).
//  - The state in memory always equals: the newest valid snapshot at or below the log
//    end, plus the log's batches from that offset to the log end, replayed in order.
//    open() and truncate_to() rebuild it that way; record_appended() keeps it so.
//  - No snapshot above the log end survives open() or truncate_to(): such a snapshot
//    describes batches the log lost (crash recovery cut the tail, or replication
//    truncated a diverged suffix). Its removal is made durable (directory fsync) before
//    open() returns, so a later crash cannot resurrect it once the log grows past it
//    again with other batches.
//  - A corrupt snapshot (bad CRC, bad length) is deleted and the next older one tried,
//    as Kafka does; with none left the state is rebuilt from the log start.
//  - At most `snapshots_retained` (2) snapshots are kept; older ones are deleted.
//
// Concurrency: check() and record_appended() are synchronous. open(), take_snapshot()
// and truncate_to() suspend; the owner (the broker's per-partition append path) must
// not record batches while truncate_to() runs — it holds the partition for both, as it
// does for PartitionLog::truncate_to. take_snapshot() may run alongside record calls:
// it encodes the table before its first suspension.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "record/types.h"
#include "runtime/sync.h"
#include "storage/errors.h"
#include "storage/partition_log.h"
#include "txn/producer_state.h"

namespace weir::txn {

struct ProducerStateConfig {
  // producer.id.expiration.ms (Kafka's broker key and default).
  int64_t producer_id_expiration_ms = kProducerIdExpirationMsDefault;
  size_t snapshots_retained = 2;
};

// "00000000000000004711.snapshot" for Offset(4711).
std::string snapshot_file_name(Offset offset);
// The offset a snapshot file name carries; nullopt for any other name (temporaries too).
std::optional<Offset> parse_snapshot_file_name(const std::string& name);

class PartitionProducerState {
 public:
  // Suspends. Loads the state of the partition whose log is `log` (already opened and
  // recovered): deletes snapshots above the log end (durably) and corrupt ones, loads
  // the newest remaining one, replays the log's batches from there to the log end, and
  // drops producers expired at `now_ms`. Fails only on I/O errors or a log read error.
  static storage::StorageResult<std::unique_ptr<PartitionProducerState>> open(
      storage::StorageEnv env, storage::PartitionLog& log, int64_t now_ms,
      ProducerStateConfig config = {});

  // Before an append: see ProducerStateTable::check / check_all.
  CheckResult check(const ProducerBatch& batch) const { return table_.check(batch); }
  std::pair<CheckResult, size_t> check_all(std::span<const ProducerBatch> batches) const {
    return table_.check_all(batches);
  }
  // After PartitionLog::append (or append_replicated) returned: records every batch of
  // the appended bytes, which now carry their offsets. Fails only if a control batch's
  // record does not parse (the log's append does not parse records).
  record::Status record_appended(std::span<const uint8_t> batches);
  void record(const ProducerBatch& batch) { table_.record(batch); }

  // Suspends. Writes a snapshot at the table's end offset (unless one exists there) and
  // deletes all but the newest `snapshots_retained`. Call it when the log rolls a
  // segment and on clean shutdown, as Kafka does.
  storage::StorageResult<void> take_snapshot();
  // Suspends. After the log was truncated to `offset` (PartitionLog::truncate_to): drops
  // snapshots above it (durably) and cuts the state, rebuilding it from the newest
  // snapshot and the log when the cut cannot be exact.
  storage::StorageResult<void> truncate_to(Offset offset);
  // Drops producers idle for producer.id.expiration.ms at `now_ms` (Kafka runs this
  // every producer.id.expiration.check.interval.ms, 10 minutes by default).
  size_t remove_expired(int64_t now_ms) {
    return table_.remove_expired(now_ms, config_.producer_id_expiration_ms);
  }

  const ProducerStateTable& table() const { return table_; }
  // The offsets of the snapshot files present, oldest first.
  const std::vector<Offset>& snapshot_offsets() const { return snapshots_; }
  // How many times the state was rebuilt from a snapshot and the log (open counts one).
  uint64_t rebuild_count() const { return rebuilds_; }

 private:
  PartitionProducerState(storage::StorageEnv env, storage::PartitionLog& log,
                         ProducerStateConfig config)
      : env_(env), log_(log), config_(config), snapshot_mutex_(env.scheduler) {}
  // Suspends. Rebuilds table_ from the newest loadable snapshot at or below the log end
  // and the log after it.
  storage::StorageResult<void> rebuild(int64_t now_ms, bool expire);
  // Suspends. Records the log's batches from the table's end (or the log start) to
  // `log_end`. False if a batch straddles the table's end offset: the loaded snapshot
  // belongs to another history of the log.
  storage::StorageResult<bool> replay(Offset log_end);
  // Suspends. Deletes snapshots above `offset`; fsyncs the directory if any went.
  storage::StorageResult<void> remove_snapshots_above(Offset offset);
  storage::StorageResult<void> remove_snapshot(Offset offset);
  std::string path_of(Offset offset) const;

  storage::StorageEnv env_;
  storage::PartitionLog& log_;
  ProducerStateConfig config_;
  ProducerStateTable table_;
  std::vector<Offset> snapshots_;  // sorted
  runtime::Mutex snapshot_mutex_;
  uint64_t rebuilds_ = 0;
};

}  // namespace weir::txn
