// PartitionLog: one partition's log, a directory `<topic>-<partition>/` of segments in
// Kafka's layout (see segment.h) plus leader-epoch-checkpoint, log-start-offset and
// partition.metadata (see checkpoint.h). Pure storage: replication, producer state and
// the protocol live elsewhere.
//
// Invariants:
//  - log_start_offset <= high_watermark <= log_end_offset, and
//    durable_end_offset <= log_end_offset.
//  - Segments have strictly increasing base offsets; each segment's batches lie in
//    [its base, the next segment's base); only the last (active) one is appended to.
//    Every other segment was sealed (all three files fsynced) before the next one was
//    created and its directory entry fsynced, so only the active segment can hold data
//    that is not durable.
//  - Offsets in the log strictly increase. An offset below durable_end_offset was in
//    a log fsync that succeeded, so it survives any crash.
//  - After a failed write or fsync the log is *suspect*: appends and flushes fail with
//    StorageError::suspect until the log is closed and opened again. Linux may have
//    dropped the dirty pages while reads still return them, so only recovery — which
//    reads the tail, writes it back and fsyncs it — may call that data durable again.
//
// Concurrency: many fibers may call any method. Appends, rolls, truncation and
// retention are serialised by one fiber mutex; reads run alongside them and see only
// batches below log_end_offset. Durability uses group commit: wait_durable() either
// waits for the fsync in flight or becomes the one fiber that issues the next fsync,
// which then covers every append made before it started.
//
// Every method that may suspend the calling fiber says "Suspends."
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "record/types.h"
#include "runtime/clock.h"
#include "runtime/disk.h"
#include "runtime/env.h"
#include "runtime/scheduler.h"
#include "runtime/sync.h"
#include "storage/checkpoint.h"
#include "storage/config.h"
#include "storage/errors.h"
#include "storage/segment.h"

namespace weir::storage {

// The part of runtime::Env that storage uses.
struct StorageEnv {
  runtime::Scheduler& scheduler;
  const runtime::Clock& clock;
  runtime::Disk& disk;
};

struct AppendResult {
  Offset base_offset;  // of the first batch appended
  Offset last_offset;  // of the last record appended
  // The broker's wall clock when message.timestamp.type is LogAppendTime, else -1.
  int64_t log_append_time = -1;
};

class PartitionLog {
 public:
  // Suspends. Opens the log in `directory` (created if missing) and recovers it: the
  // active segment is scanned batch by batch (CRC, increasing offsets) unless the last
  // close was clean; the tail is truncated at the first invalid or torn batch; missing
  // or damaged indexes are rebuilt; data recovery kept is written back and fsynced.
  static StorageResult<std::unique_ptr<PartitionLog>> open(StorageEnv env,
                                                           const std::string& directory,
                                                           const LogConfig& config);
  static StorageResult<std::unique_ptr<PartitionLog>> open(runtime::Env& env,
                                                           const std::string& directory,
                                                           const LogConfig& config) {
    return open(StorageEnv{env.scheduler, env.clock, env.disk}, directory, config);
  }
  ~PartitionLog();
  PartitionLog(const PartitionLog&) = delete;
  PartitionLog& operator=(const PartitionLog&) = delete;

  // Suspends. Appends a producer's batches (a Produce request's records field) as the
  // leader in `epoch`: each batch's framing, CRC and size are checked, then its base
  // offset and leader epoch are rewritten in place in `batches` (and its timestamps,
  // under LogAppendTime) and the bytes are written as they are. Nothing is appended if
  // any batch is invalid. Returns before the data is durable: see wait_durable.
  StorageResult<AppendResult> append(std::span<uint8_t> batches, LeaderEpoch epoch);
  // Suspends. Appends batches that already carry their offsets and epochs (a
  // follower's fetch from its leader); the first must start at or after log end.
  StorageResult<AppendResult> append_replicated(std::span<uint8_t> batches);

  // Suspends until every offset below `end_offset` is durable (group commit), or
  // fails with suspect/io if an fsync failed, or offset_out_of_range if `end_offset`
  // is (or, by a truncation meanwhile, became) beyond log end.
  StorageResult<void> wait_durable(Offset end_offset);
  // Suspends. Makes everything appended so far durable.
  StorageResult<void> flush() { return wait_durable(log_end_offset_); }

  // Suspends. Whole batches from the one holding `from_offset`: up to `max_bytes`, but
  // at least one batch even if it is larger (Kafka's rule), and only batches whose
  // last offset is below `max_offset` (e.g. the high watermark). Reads stay within one
  // segment. offset_out_of_range when from_offset is outside [log start, log end];
  // empty at log end.
  StorageResult<record::Bytes> read(Offset from_offset, size_t max_bytes,
                                    std::optional<Offset> max_offset = std::nullopt);
  // Suspends. The first record at or after log start whose timestamp is >= `timestamp`
  // (ListOffsets by timestamp); nullopt when there is none.
  StorageResult<std::optional<TimestampAndOffset>> offset_for_timestamp(int64_t timestamp);

  Offset log_start_offset() const { return log_start_offset_; }
  Offset log_end_offset() const { return log_end_offset_; }
  // Every offset below this is on disk for good.
  Offset durable_end_offset() const { return durable_end_offset_; }
  Offset high_watermark() const { return high_watermark_; }
  // Set by replication (the leader, once followers have the data) or, on a single
  // node, by the broker once data is durable. Clamped to [log start, log end].
  void set_high_watermark(Offset offset);

  // Suspends. DeleteRecords: raises the log start offset to `offset` (<= high
  // watermark, else offset_out_of_range), persists it, and deletes the segments that
  // lie wholly below it.
  StorageResult<void> delete_records(Offset offset);
  // Suspends. Deletes old segments past retention.ms (their newest timestamp is older
  // than now minus retention.ms) or beyond retention.bytes, oldest first, never the
  // active segment. Returns how many were deleted.
  StorageResult<size_t> apply_retention();
  // Suspends. Drops every batch whose last offset is >= `offset` (a batch holding it
  // goes whole: truncation keeps batch boundaries), for a follower whose log diverged.
  StorageResult<void> truncate_to(Offset offset);
  // Suspends. Replaces the whole log by an empty one that starts (and ends) at `start`
  // (>= log start): a follower installing a snapshot that covers everything below
  // `start`. The epoch cache is emptied; a crash midway leaves either the old log or
  // a prefix of it whose log start is `start` (empty), never anything else.
  StorageResult<void> reset_to(Offset start);

  // Suspends. Records, durably, that leader epoch `epoch` starts at the log end: a new
  // partition leader does this before its first append (KIP-279), so a follower asking
  // about an older epoch learns where that one ended here even before this leader has
  // written anything. As every epoch entry, it drops entries a newer one contradicts.
  StorageResult<void> assign_epoch_at_end(LeaderEpoch epoch);

  // Suspends. Writes partition.metadata.
  StorageResult<void> set_topic_id(const std::string& topic_id);
  const std::optional<std::string>& topic_id() const { return topic_id_; }
  const std::vector<EpochEntry>& leader_epochs() const { return epochs_; }
  // The end offset of `epoch` (the start of the next larger epoch, or log end), as
  // OffsetsForLeaderEpoch answers; nullopt if the log knows no epoch <= `epoch`.
  std::optional<std::pair<LeaderEpoch, Offset>> end_offset_for_epoch(LeaderEpoch epoch) const;

  // Suspends. Flushes, seals the active segment and records a clean shutdown, so the
  // next open skips the full scan; then closes. A suspect log closes without any of it.
  // Operations in flight finish first; any later one fails with StorageError::closed
  // (another fiber may still hold the log: recovery replaces a log under readers).
  // Closing again does nothing.
  StorageResult<void> close();

  bool suspect() const { return suspect_; }
  size_t segment_count() const { return segments_.size(); }
  std::vector<Offset> segment_base_offsets() const;
  int64_t size_bytes() const;
  // Log fsyncs issued for durability (group commit shares them among appenders).
  uint64_t flush_count() const { return flush_count_; }
  const std::string& directory() const { return directory_; }

 private:
  PartitionLog(StorageEnv env, std::string directory, const LogConfig& config);
  StorageResult<void> load();
  // assign: the epoch to stamp and offsets to assign; nullopt keeps the batches' own.
  StorageResult<AppendResult> append_locked(std::span<uint8_t> batches,
                                            std::optional<LeaderEpoch> assign);
  StorageResult<void> roll_locked(Offset base_offset);
  StorageResult<void> truncate_locked(Offset offset);
  // With the append mutex held: removes every segment and starts one, empty, at
  // `start` (the log start checkpoint must already be at or past what was removed).
  StorageResult<void> restart_empty_locked(Offset start);
  // Marks a truncation in progress for its lifetime (see wait_durable).
  class Truncation;
  StorageResult<void> assign_epoch_locked(LeaderEpoch epoch, Offset start_offset);
  StorageResult<void> persist_epochs();
  // Suspends. Whether the epoch cache is consistent with the batches it points at.
  StorageResult<bool> epochs_agree_with_log();
  // Suspends. Rebuilds the epoch cache from every batch header (two scans that agree).
  StorageResult<void> rebuild_epochs();
  StorageResult<void> persist_log_start_offset();
  // Removes the first `count` segments (never the active one) after raising log start.
  StorageResult<void> delete_oldest_segments_locked(size_t count);
  std::shared_ptr<Segment> active() const { return segments_.rbegin()->second; }
  // Whether every batch's leader epoch agrees with the epoch cache (a check on reads:
  // the epoch is outside the batch CRC).
  bool epochs_match(std::span<const uint8_t> batches) const;
  // Marks the log suspect (when `error` says the disk failed) and passes it on.
  StorageError fail(StorageError error);

  StorageEnv env_;
  std::string directory_;
  LogConfig config_;
  // Ordered by base offset; shared so a read keeps a segment alive while suspended.
  std::map<Offset, std::shared_ptr<Segment>> segments_;
  Offset log_start_offset_{0};
  Offset log_end_offset_{0};
  Offset durable_end_offset_{0};
  Offset high_watermark_{0};
  std::vector<EpochEntry> epochs_;
  std::optional<std::string> topic_id_;
  bool suspect_ = false;
  bool closing_ = false;
  bool closed_ = false;
  // Public operations in flight, which close() waits for.
  int64_t operations_ = 0;
  runtime::WaitQueue operations_done_;
  struct Operation {
    explicit Operation(PartitionLog& log) : log(log) { log.operations_++; }
    ~Operation() {
      if (--log.operations_ == 0) log.operations_done_.notify_all();
    }
    PartitionLog& log;
  };
  StorageResult<void> wait_durable_open(Offset end_offset);

  runtime::Mutex append_mutex_;
  // Group commit.
  bool flushing_ = false;
  runtime::WaitQueue flush_waiters_;
  uint64_t flush_count_ = 0;
  // Bumped by truncation so an fsync that started before it claims nothing after it.
  uint64_t truncations_ = 0;
  bool truncating_ = false;
};

}  // namespace weir::storage
