// One log segment: `<base>.log` (record batches back to back), `<base>.index` (offset
// index) and `<base>.timeindex` (time index), in Kafka's on-disk formats, named by the
// base offset zero-padded to 20 digits.
//
// Invariants (checked by VERIFYs and re-established by recovery):
//  - The first `size()` bytes of .log are whole, CRC-valid batches whose offsets
//    strictly increase, all in [base_offset, next_offset). Bytes past size() (a torn
//    tail) are never read and are truncated away by recovery.
//  - Offset index entries (relative offset u32 BE, position u32 BE) name the *last*
//    offset of the batch at that position, as Kafka's do; relative offsets and
//    positions strictly increase. An entry is added when more than
//    index.interval.bytes of log were written since the previous one.
//  - Time index entries (timestamp i64 BE, relative offset u32 BE) carry the largest
//    timestamp seen so far and the last offset of the batch where it was seen;
//    timestamps strictly increase.
//  - The in-memory indexes equal the index files' first entries; the files may lag
//    only between an append and the next sync. Index files are derived data: recovery
//    rebuilds them from .log whenever they are missing or fail their sanity checks.
// Every method that does I/O suspends and says so.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "record/batch.h"
#include "runtime/clock.h"
#include "runtime/disk.h"
#include "storage/config.h"
#include "storage/errors.h"

namespace weir::storage {

struct OffsetIndexEntry {
  int32_t relative_offset = 0;
  FilePosition position{0};
};
struct TimeIndexEntry {
  int64_t timestamp = 0;
  int32_t relative_offset = 0;
};
inline constexpr size_t kOffsetIndexEntryBytes = 8;
inline constexpr size_t kTimeIndexEntryBytes = 12;

// "00000000000000000042" for offset 42.
std::string segment_file_stem(Offset base_offset);

// The offset and timestamp a timestamp lookup found: the first record whose timestamp
// is at least the target.
struct TimestampAndOffset {
  int64_t timestamp = 0;
  Offset offset{0};
};

class Segment {
 public:
  enum class Load {
    trust,    // a segment that was durable before the last shutdown: check indexes only
    recover,  // scan every batch (CRC, offsets), truncate the tail at the first bad one,
              // rebuild both indexes, and make the valid part durable
  };

  // Suspends. Creates the three empty files (their directory entries are not yet
  // durable: the caller syncs the directory).
  static StorageResult<std::unique_ptr<Segment>> create(runtime::Disk& disk,
                                                        const std::string& directory,
                                                        Offset base_offset,
                                                        runtime::Instant now,
                                                        const LogConfig& config);
  // Suspends. Opens an existing segment. With Load::recover, `rewrite` also writes the
  // valid bytes back before syncing: after a failed fsync the page cache may show bytes
  // that never reached the disk and that a plain fsync would no longer write.
  // `visit` sees every valid batch's header in recovery (the epoch cache uses it).
  static StorageResult<std::unique_ptr<Segment>> open(
      runtime::Disk& disk, const std::string& directory, Offset base_offset, Load load,
      bool rewrite, runtime::Instant now, const LogConfig& config,
      const std::function<void(const record::BatchHeader&)>& visit);

  ~Segment();
  Segment(const Segment&) = delete;
  Segment& operator=(const Segment&) = delete;

  Offset base_offset() const { return base_offset_; }
  // One past the last offset stored; base_offset() when empty.
  Offset next_offset() const { return next_offset_; }
  FilePosition size() const { return size_; }
  bool empty() const { return size_ == FilePosition(0); }
  // Largest batch max_timestamp, -1 when empty.
  int64_t max_timestamp() const { return max_timestamp_; }
  runtime::Instant created_at() const { return created_at_; }
  size_t offset_index_entries() const { return offset_index_.size(); }
  const std::vector<OffsetIndexEntry>& offset_index() const { return offset_index_; }
  const std::vector<TimeIndexEntry>& time_index() const { return time_index_; }
  // True when appending `bytes` whose last offset is `last_offset` keeps the relative
  // offsets in u32 range and the index within segment.index.bytes.
  bool can_hold(Offset last_offset) const;

  // Suspends. Writes already offset-assigned, validated batches at the end of .log
  // and extends the indexes. On failure the segment is unchanged in memory; the file
  // may hold a partial write past size(), which is never read.
  StorageResult<void> append(std::span<const uint8_t> batches);
  // Suspends. Undoes a failed append's partial write (truncates .log to size()).
  StorageResult<void> discard_tail();

  // The index's starting point for `offset`: the position of a batch at or before the
  // batch holding it (pure, no I/O).
  FilePosition index_lookup(Offset offset) const;
  // Suspends. The position and header of the first batch whose last offset is at
  // least `offset`; nullopt if there is none.
  StorageResult<std::optional<std::pair<FilePosition, record::BatchHeader>>> find_batch(
      Offset offset);
  // Suspends. Whole batches from `position` (a batch boundary): as many as fit in
  // `max_bytes` but at least one, and only batches whose last offset is below
  // `max_offset`. Each batch's CRC is checked; a mismatch is retried once (reads may
  // be corrupted in flight) and then reported as corrupt_batch.
  // `first_base` is the base offset of the batch at `position` (from find_batch).
  StorageResult<record::Bytes> read(FilePosition position, Offset first_base, size_t max_bytes,
                                    Offset max_offset);
  // Suspends. Every batch header from the start of the segment, in order (CRCs
  // checked, doubtful reads re-read once). io if the scan cannot reach the end.
  StorageResult<void> visit_headers(const std::function<void(const record::BatchHeader&)>& visit);
  // Suspends. The first record with timestamp >= `timestamp`, if any is here.
  StorageResult<std::optional<TimestampAndOffset>> find_timestamp(int64_t timestamp);

  // Suspends. Drops every batch whose last offset is >= `offset` (a batch holding
  // `offset` goes entirely) and makes the new size durable.
  StorageResult<void> truncate_to(Offset offset);
  // Suspends. fsync of .log only: what appended data needs to be durable.
  StorageResult<void> sync_log();
  // Suspends. Seals the segment when it stops being the active one: adds the final
  // time index entry (as Kafka does on roll) and makes all three files durable.
  StorageResult<void> seal();
  // Suspends. Removes the three files (the caller syncs the directory).
  StorageResult<void> remove_files();
  void close();

 private:
  Segment(runtime::Disk& disk, std::string directory, Offset base_offset,
          runtime::Instant now, const LogConfig& config);
  std::string path(const char* suffix) const;
  StorageResult<void> open_files(runtime::OpenMode mode);
  // Recovery: scan, truncate, rebuild indexes, optionally rewrite, sync.
  StorageResult<void> recover(bool rewrite,
                              const std::function<void(const record::BatchHeader&)>& visit);
  // Loads the index files; false when they fail a sanity check.
  StorageResult<bool> load_indexes(FilePosition log_size);
  // Scans from the last index entry to the end of the log to learn next_offset and
  // the tail's timestamps.
  StorageResult<void> scan_tail_after_index();
  // Adds index entries for the batch at `position`, as Kafka's LogSegment.append does.
  void index_batch(const record::BatchHeader& header, FilePosition position);
  // Writes index entries not yet in the files.
  StorageResult<void> write_new_index_entries();
  StorageResult<void> rewrite_index_files();
  void reset_indexes();

  runtime::Disk& disk_;
  std::string directory_;
  Offset base_offset_;
  LogConfig config_;
  runtime::Instant created_at_;
  std::unique_ptr<runtime::File> log_;
  std::unique_ptr<runtime::File> index_file_;
  std::unique_ptr<runtime::File> time_index_file_;

  Offset next_offset_;
  FilePosition size_{0};
  int64_t max_timestamp_ = -1;
  Offset offset_of_max_timestamp_;
  int64_t bytes_since_index_entry_ = 0;
  std::vector<OffsetIndexEntry> offset_index_;
  std::vector<TimeIndexEntry> time_index_;
  size_t offset_entries_written_ = 0;
  size_t time_entries_written_ = 0;
  std::vector<uint8_t> scratch_;  // encoded index entries, reused across appends
};

}  // namespace weir::storage
