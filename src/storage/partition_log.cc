#include "storage/partition_log.h"

#include <algorithm>
#include <charconv>
#include <utility>

#include <fmt/format.h>

#include "base/assert.h"
#include "record/batch.h"

namespace weir::storage {
namespace {

constexpr const char* kEpochCheckpoint = "leader-epoch-checkpoint";
constexpr const char* kLogStartCheckpoint = "log-start-offset";
constexpr const char* kPartitionMetadata = "partition.metadata";
// Written by a clean close, removed (durably) by the next open before any append.
constexpr const char* kCleanShutdown = "clean-shutdown";
constexpr size_t kStemDigits = 20;

// The base offset of "<20 digits>.log", or nullopt for any other name.
std::optional<Offset> log_file_base(const std::string& name) {
  if (name.size() != kStemDigits + 4 || !name.ends_with(".log")) return std::nullopt;
  int64_t base = 0;
  auto [end, error] = std::from_chars(name.data(), name.data() + kStemDigits, base);
  if (error != std::errc() || end != name.data() + kStemDigits || base < 0) return std::nullopt;
  return Offset(base);
}

bool is_disk_failure(StorageError error) {
  return error == StorageError::io || error == StorageError::suspect;
}

}  // namespace

std::string_view to_string(StorageError error) {
  switch (error) {
    case StorageError::invalid_batch: return "invalid_batch";
    case StorageError::batch_too_large: return "batch_too_large";
    case StorageError::offset_out_of_range: return "offset_out_of_range";
    case StorageError::corrupt_batch: return "corrupt_batch";
    case StorageError::no_space: return "no_space";
    case StorageError::io: return "io";
    case StorageError::suspect: return "suspect";
    case StorageError::not_found: return "not_found";
    case StorageError::closed: return "closed";
  }
  return "unknown";
}

PartitionLog::PartitionLog(StorageEnv env, std::string directory, const LogConfig& config)
    : env_(env), directory_(std::move(directory)), config_(config), append_mutex_(env.scheduler) {}

PartitionLog::~PartitionLog() = default;

StorageError PartitionLog::fail(StorageError error) {
  if (is_disk_failure(error)) suspect_ = true;
  VERIFY(!is_disk_failure(error) || suspect_);
  return error;
}

StorageResult<std::unique_ptr<PartitionLog>> PartitionLog::open(StorageEnv env,
                                                                const std::string& directory,
                                                                const LogConfig& config) {
  VERIFY(!directory.empty(), "a log needs a directory");
  VERIFY(config.segment_bytes > 0 && config.index_interval_bytes >= 0);
  std::unique_ptr<PartitionLog> log(new PartitionLog(env, directory, config));
  if (auto loaded = log->load(); !loaded) return unexpected(loaded.error());
  return log;
}

StorageResult<void> PartitionLog::load() {
  VERIFY(segments_.empty(), "load once");
  runtime::Disk& disk = env_.disk;
  if (auto made = disk.make_directories(directory_); !made) return unexpected(StorageError::io);
  // The directory's own entry must be durable before anything in it can be: without
  // this fsync of its parent, a power loss can take a new partition's directory, and
  // with it data whose fsync already succeeded (the simulator's broker_log found it).
  const size_t slash = directory_.rfind('/');
  const std::string parent = slash == std::string::npos ? "" : directory_.substr(0, slash);
  if (auto synced = disk.sync_directory(parent); !synced) return unexpected(StorageError::io);
  auto names = disk.list(directory_);
  if (!names) return unexpected(StorageError::io);

  std::vector<Offset> bases;
  bool clean = false;
  std::optional<Offset> start_checkpoint;
  for (const std::string& name : *names) {
    if (auto base = log_file_base(name)) {
      bases.push_back(*base);
    } else if (name.ends_with(".tmp")) {
      // A checkpoint whose rename never happened: the old file is still in force.
      if (auto removed = disk.remove(directory_ + "/" + name); !removed) {
        return unexpected(StorageError::io);
      }
    } else if (name == kCleanShutdown) {
      clean = true;
    } else if (name == kLogStartCheckpoint) {
      auto text = read_whole_file(disk, directory_ + "/" + name);
      if (!text) return unexpected(text.error());
      start_checkpoint = parse_offset_checkpoint(*text);
    } else if (name == kEpochCheckpoint) {
      // A read corrupted in flight may not parse: read again. A checkpoint that stays
      // damaged is rebuilt from the log below (validate_epochs).
      for (int attempt = 0; attempt < 3; attempt++) {
        auto text = read_whole_file(disk, directory_ + "/" + name);
        if (!text) return unexpected(text.error());
        auto parsed = parse_epoch_checkpoint(*text);
        if (!parsed) continue;
        epochs_ = std::move(*parsed);
        break;
      }
    } else if (name == kPartitionMetadata) {
      auto text = read_whole_file(disk, directory_ + "/" + name);
      if (!text) return unexpected(text.error());
      topic_id_ = parse_partition_metadata(*text);
    }
  }
  VERIFY(std::is_sorted(bases.begin(), bases.end()), "Disk::list returns sorted names");

  const runtime::Instant now = env_.clock.now();
  auto visit = [this](const record::BatchHeader& header) {
    const LeaderEpoch epoch = header.partition_leader_epoch;
    if (epoch >= LeaderEpoch(0) && (epochs_.empty() || epoch > epochs_.back().epoch)) {
      epochs_.push_back({epoch, header.base_offset});
    }
  };
  for (size_t i = 0; i < bases.size(); i++) {
    const bool last = i + 1 == bases.size();
    // Only the active segment can hold data that was never fsynced (see the header).
    const auto load = last && !clean ? Segment::Load::recover : Segment::Load::trust;
    auto segment =
        Segment::open(disk, directory_, bases[i], load, /*rewrite=*/!clean, now, config_, visit);
    if (!segment) return unexpected(segment.error());
    std::shared_ptr<Segment> opened = std::move(segment).value();
    if (!segments_.empty() && opened->base_offset() < active()->next_offset()) {
      // Overlapping segments cannot come from weir's own writes (files were copied or
      // damaged by hand): refuse to guess which one is right.
      return unexpected(StorageError::corrupt_batch);
    }
    segments_.emplace(opened->base_offset(), std::move(opened));
  }
  if (!segments_.empty() && start_checkpoint && *start_checkpoint > active()->next_offset()) {
    // DeleteRecords raised the log start past data that a crash then lost. Offsets
    // below the log start are never handed out again: start over empty at it.
    for (const auto& [base, segment] : segments_) {
      if (auto removed = segment->remove_files(); !removed) return unexpected(removed.error());
    }
    segments_.clear();
  }
  if (segments_.empty()) {
    const Offset base = start_checkpoint.value_or(Offset(0));
    auto created = Segment::create(disk, directory_, base, now, config_);
    if (!created) return unexpected(created.error());
    segments_.emplace(base, std::move(created).value());
    if (auto synced = disk.sync_directory(directory_); !synced) {
      return unexpected(StorageError::io);
    }
  }

  log_end_offset_ = active()->next_offset();
  log_start_offset_ = std::max(segments_.begin()->first, start_checkpoint.value_or(Offset(0)));
  log_start_offset_ = std::min(log_start_offset_, log_end_offset_);
  durable_end_offset_ = log_end_offset_;  // recovery fsynced what it kept
  high_watermark_ = log_start_offset_;

  // Epochs whose start was never made durable are forgotten.
  const size_t epochs_before = epochs_.size();
  while (!epochs_.empty() && epochs_.back().start_offset >= log_end_offset_) epochs_.pop_back();
  bool rebuilt = false;
  if (auto valid = epochs_agree_with_log(); !valid) {
    return unexpected(valid.error());
  } else if (!*valid) {
    if (auto rebuilt_epochs = rebuild_epochs(); !rebuilt_epochs) {
      return unexpected(rebuilt_epochs.error());
    }
    rebuilt = true;
  }
  if (epochs_.size() != epochs_before || !clean || rebuilt) {
    if (auto persisted = persist_epochs(); !persisted) return unexpected(persisted.error());
  }
  if (clean) {
    // Appends after this open must not be trusted by the next one.
    if (auto removed = disk.remove(directory_ + "/" + kCleanShutdown); !removed) {
      return unexpected(StorageError::io);
    }
    if (auto synced = disk.sync_directory(directory_); !synced) {
      return unexpected(StorageError::io);
    }
  }
  VERIFY(log_start_offset_ <= log_end_offset_);
  VERIFY(!segments_.empty());
  return {};
}

StorageResult<bool> PartitionLog::epochs_agree_with_log() {
  for (size_t i = 0; i + 1 < epochs_.size(); i++) {
    if (epochs_[i].epoch >= epochs_[i + 1].epoch) return false;
    if (epochs_[i].start_offset >= epochs_[i + 1].start_offset) return false;
  }
  // Each entry names a batch boundary whose batch carries that epoch, and the first
  // entry starts where the first batch carrying an epoch does. A damaged or partial
  // checkpoint (rebuilt from a tail scan) fails one of these (raft seed 492: a
  // quorum voter whose cache had lost its first epoch answered divergence wrongly).
  auto batch_at = [&](Offset offset) -> StorageResult<std::optional<record::BatchHeader>> {
    auto it = segments_.upper_bound(offset);
    if (it == segments_.begin()) return std::optional<record::BatchHeader>{};
    auto found = std::prev(it)->second->find_batch(offset);
    if (!found) return unexpected(found.error());
    if (!*found) return std::optional<record::BatchHeader>{};
    return std::optional<record::BatchHeader>((*found)->second);
  };
  if (log_start_offset_ < log_end_offset_) {
    auto first = batch_at(log_start_offset_);
    if (!first) return unexpected(first.error());
    if (*first && (*first)->partition_leader_epoch >= LeaderEpoch(0)) {
      if (epochs_.empty() || epochs_.front().start_offset > (*first)->base_offset) return false;
    }
  }
  for (size_t i = 0; i < epochs_.size(); i++) {
    const EpochEntry& entry = epochs_[i];
    if (entry.start_offset < log_start_offset_) continue;  // deleted below the log start
    auto batch = batch_at(entry.start_offset);
    if (!batch) return unexpected(batch.error());
    if (!*batch || (*batch)->base_offset != entry.start_offset ||
        (*batch)->partition_leader_epoch != entry.epoch) {
      return false;
    }
    // And the epoch really starts there: the batch before is of the entry before (an
    // entry rebuilt from a misread header can start late, or an epoch go missing:
    // raft seed 2135, where reads of a batch then failed forever).
    if (i > 0 && entry.start_offset > log_start_offset_) {
      auto before = batch_at(entry.start_offset - 1);
      if (!before) return unexpected(before.error());
      if (!*before || (*before)->partition_leader_epoch != epochs_[i - 1].epoch) return false;
    }
  }
  return true;
}

StorageResult<void> PartitionLog::rebuild_epochs() {
  // Two full scans must agree: the epoch is outside the CRC, so one flipped bit in
  // one read would otherwise become the cache.
  std::optional<std::vector<EpochEntry>> previous;
  for (int attempt = 0; attempt < 4; attempt++) {
    std::vector<EpochEntry> scanned;
    for (const auto& [base, segment] : segments_) {
      auto visited = segment->visit_headers([&](const record::BatchHeader& header) {
        const LeaderEpoch epoch = header.partition_leader_epoch;
        if (epoch >= LeaderEpoch(0) && (scanned.empty() || epoch > scanned.back().epoch)) {
          scanned.push_back({epoch, header.base_offset});
        }
      });
      if (!visited) return unexpected(visited.error());
    }
    if (previous && *previous == scanned) {
      epochs_ = std::move(scanned);
      return {};
    }
    previous = std::move(scanned);
  }
  return unexpected(StorageError::corrupt_batch);
}

StorageResult<void> PartitionLog::persist_epochs() {
  VERIFY(
      std::is_sorted(epochs_.begin(), epochs_.end(),
                     [](const EpochEntry& a, const EpochEntry& b) { return a.epoch < b.epoch; }));
  VERIFY(!directory_.empty());
  return write_file_atomically(env_.disk, directory_, kEpochCheckpoint,
                               format_epoch_checkpoint(epochs_));
}

StorageResult<void> PartitionLog::persist_log_start_offset() {
  VERIFY(log_start_offset_ >= Offset(0));
  VERIFY(log_start_offset_ <= log_end_offset_);
  return write_file_atomically(env_.disk, directory_, kLogStartCheckpoint,
                               format_offset_checkpoint(log_start_offset_));
}

StorageResult<void> PartitionLog::set_topic_id(const std::string& topic_id) {
  VERIFY(!topic_id.empty());
  if (closing_) return unexpected(StorageError::closed);
  Operation operation(*this);
  auto written = write_file_atomically(env_.disk, directory_, kPartitionMetadata,
                                       format_partition_metadata(topic_id));
  if (!written) return written;
  topic_id_ = topic_id;
  return {};
}

StorageResult<AppendResult> PartitionLog::append(std::span<uint8_t> batches, LeaderEpoch epoch) {
  VERIFY(epoch >= LeaderEpoch(0), "a leader appends in a real epoch, not {}", epoch);
  if (closing_) return unexpected(StorageError::closed);
  Operation operation(*this);
  runtime::MutexGuard guard(append_mutex_);
  return append_locked(batches, epoch);
}

StorageResult<AppendResult> PartitionLog::append_replicated(std::span<uint8_t> batches) {
  VERIFY(batches.size() < (1ULL << 40));
  if (closing_) return unexpected(StorageError::closed);
  Operation operation(*this);
  runtime::MutexGuard guard(append_mutex_);
  return append_locked(batches, std::nullopt);
}

StorageResult<AppendResult> PartitionLog::append_locked(std::span<uint8_t> batches,
                                                        std::optional<LeaderEpoch> assign) {
  VERIFY(append_mutex_.locked());
  if (suspect_) return unexpected(StorageError::suspect);
  if (batches.empty()) return unexpected(StorageError::invalid_batch);

  // Check every batch before touching any: an append is all or nothing.
  Offset next = log_end_offset_;
  Offset first_base = log_end_offset_;
  size_t at = 0;
  const int64_t append_time =
      config_.message_timestamp_type == record::TimestampType::log_append_time
          ? env_.clock.wall_now().milliseconds
          : -1;
  while (at < batches.size()) {
    auto view = record::validate_batch(batches.subspan(at));
    if (!view) return unexpected(StorageError::invalid_batch);
    const record::BatchHeader& header = view->header;
    if (static_cast<int64_t>(header.size_bytes()) > config_.max_message_bytes) {
      return unexpected(StorageError::batch_too_large);
    }
    if (header.last_offset_delta < 0 || header.records_count < 0) {
      return unexpected(StorageError::invalid_batch);
    }
    if (!assign) {
      // A follower's batches keep their offsets, which must move forward.
      if (header.base_offset < next) return unexpected(StorageError::invalid_batch);
      if (at == 0) first_base = header.base_offset;
      next = header.last_offset().next();
    } else {
      next = next + header.last_offset_delta + 1;
    }
    at += header.size_bytes();
  }
  VERIFY(at == batches.size());
  const Offset last_offset = next - 1;

  // Roll first so the batches land in the segment they will stay in.
  auto segment = active();
  const int64_t segment_age_ms = (env_.clock.now() - segment->created_at()).count() / 1'000'000;
  if (!segment->empty() &&
      (segment->size().value() + static_cast<int64_t>(batches.size()) > config_.segment_bytes ||
       segment_age_ms >= config_.segment_ms || !segment->can_hold(last_offset))) {
    if (auto rolled = roll_locked(first_base); !rolled) return unexpected(rolled.error());
    segment = active();
  }

  // Rewrite the fields the CRC does not cover (and, under LogAppendTime, the stamped
  // timestamps, whose CRC set_log_append_time recomputes).
  if (assign) {
    Offset base = log_end_offset_;
    for (size_t i = 0; i < batches.size();) {
      auto header = record::read_batch_header(batches.subspan(i));
      VERIFY(header.ok(), "validated above");
      auto batch = batches.subspan(i, header->size_bytes());
      record::set_base_offset(batch, base);
      record::set_partition_leader_epoch(batch, *assign);
      if (append_time >= 0) record::set_log_append_time(batch, append_time);
      base = base + header->last_offset_delta + 1;
      i += header->size_bytes();
    }
    VERIFY(base == next, "assigned {} offsets, counted {}", base - first_base, next - first_base);
    if (auto assigned = assign_epoch_locked(*assign, first_base); !assigned) {
      return unexpected(assigned.error());
    }
  } else {
    for (size_t i = 0; i < batches.size();) {
      auto header = record::read_batch_header(batches.subspan(i));
      VERIFY(header.ok(), "validated above");
      if (header->partition_leader_epoch >= LeaderEpoch(0)) {
        if (auto assigned =
                assign_epoch_locked(header->partition_leader_epoch, header->base_offset);
            !assigned) {
          return unexpected(assigned.error());
        }
      }
      i += header->size_bytes();
    }
  }

  auto appended = segment->append(batches);
  if (!appended) {
    // Undo the partial write; if even that fails the file is in an unknown state.
    if (appended.error() == StorageError::no_space) {
      if (auto undone = segment->discard_tail(); undone) {
        return unexpected(StorageError::no_space);
      }
    }
    return unexpected(fail(StorageError::io));
  }
  VERIFY(segment->next_offset() == next, "segment ends at {}, log at {}", segment->next_offset(),
         next);
  log_end_offset_ = next;
  return AppendResult{first_base, last_offset, append_time};
}

StorageResult<void> PartitionLog::assign_epoch_locked(LeaderEpoch epoch, Offset start_offset) {
  VERIFY(epoch >= LeaderEpoch(0));
  VERIFY(start_offset >= log_start_offset_);
  if (!epochs_.empty() && epoch == epochs_.back().epoch &&
      start_offset >= epochs_.back().start_offset) {
    return {};  // the latest epoch goes on
  }
  // Kafka's LeaderEpochFileCache.assign: entries that the new one contradicts (a
  // larger or equal epoch, or one starting at or after it) go first. Only an entry a
  // leader assigned before writing anything can be contradicted so (the batches of a
  // later leader's older epoch then replace it); truncation removes the others.
  std::vector<EpochEntry> before = epochs_;
  while (!epochs_.empty() &&
         (epochs_.back().epoch >= epoch || epochs_.back().start_offset >= start_offset)) {
    epochs_.pop_back();
  }
  // The checkpoint is written before the data: after a crash it may name an epoch
  // whose data was lost, which open() then forgets.
  epochs_.push_back({epoch, start_offset});
  if (auto persisted = persist_epochs(); !persisted) {
    epochs_ = std::move(before);
    return unexpected(fail(persisted.error()));
  }
  return {};
}

StorageResult<void> PartitionLog::roll_locked(Offset base_offset) {
  VERIFY(append_mutex_.locked());
  VERIFY(base_offset >= active()->next_offset(), "roll to {} below log end {}", base_offset,
         active()->next_offset());
  // Seal first: every segment but the active one must be durable (see the header).
  if (auto sealed = active()->seal(); !sealed) return unexpected(fail(StorageError::io));
  // A flush of this segment may have failed while the seal's fsync ran; then the seal
  // may not have written what the failed fsync dropped.
  if (suspect_) return unexpected(StorageError::suspect);
  auto created = Segment::create(env_.disk, directory_, base_offset, env_.clock.now(), config_);
  if (!created) return unexpected(fail(StorageError::io));
  if (auto synced = env_.disk.sync_directory(directory_); !synced) {
    return unexpected(fail(StorageError::io));
  }
  segments_.emplace(base_offset, std::move(created).value());
  VERIFY(active()->base_offset() == base_offset);
  return {};
}

StorageResult<void> PartitionLog::wait_durable(Offset end_offset) {
  if (closing_) return unexpected(StorageError::closed);
  Operation operation(*this);
  return wait_durable_open(end_offset);
}

StorageResult<void> PartitionLog::wait_durable_open(Offset end_offset) {
  VERIFY(end_offset >= Offset(0), "wait for negative offset {}", end_offset);
  VERIFY(durable_end_offset_ <= log_end_offset_);
  while (true) {
    if (suspect_) return unexpected(StorageError::suspect);
    // A truncation (checked again after every suspension) may have removed what the
    // caller appended: it can never become durable.
    if (end_offset > log_end_offset_) return unexpected(StorageError::offset_out_of_range);
    if (durable_end_offset_ >= end_offset) return {};
    if (flushing_ || truncating_) {
      // Another fiber's fsync is in flight (it may not cover us), or a truncation is
      // deciding what survives: look again after.
      flush_waiters_.add(env_.scheduler.prepare_wait());
      env_.scheduler.suspend();
      continue;
    }
    // Become the flusher for everything appended so far.
    flushing_ = true;
    const Offset target = log_end_offset_;
    const uint64_t truncations = truncations_;
    std::shared_ptr<Segment> segment = active();
    struct Done {
      PartitionLog* log;
      ~Done() {
        log->flushing_ = false;
        log->flush_waiters_.notify_all();
      }
    } done{this};
    auto synced = segment->sync_log();
    flush_count_++;
    if (!synced) return unexpected(fail(StorageError::io));
    // Another fsync of this file failed while ours ran: it may have dropped pages ours
    // was meant to write, so our success proves nothing.
    if (suspect_) return unexpected(StorageError::suspect);
    if (truncations == truncations_ && !truncating_) {
      durable_end_offset_ = std::max(durable_end_offset_, std::min(target, log_end_offset_));
    }
    VERIFY(durable_end_offset_ <= log_end_offset_);
  }
}

void PartitionLog::set_high_watermark(Offset offset) {
  VERIFY(offset >= Offset(0), "negative high watermark {}", offset);
  high_watermark_ = std::clamp(offset, log_start_offset_, log_end_offset_);
  VERIFY(high_watermark_ <= log_end_offset_);
}

StorageResult<record::Bytes> PartitionLog::read(Offset from_offset, size_t max_bytes,
                                                std::optional<Offset> max_offset) {
  if (closing_) return unexpected(StorageError::closed);
  Operation operation(*this);
  if (from_offset < log_start_offset_ || from_offset > log_end_offset_) {
    return unexpected(StorageError::offset_out_of_range);
  }
  const Offset limit = std::min(max_offset.value_or(log_end_offset_), log_end_offset_);
  // Segments are looked up afresh after each suspension: retention may remove some. A
  // truncation meanwhile (a leader turned follower) may remove what this read found:
  // then it answers nothing (the caller asks again) rather than call the log corrupt.
  const uint64_t truncations = truncations_;
  Offset from = from_offset;
  while (from < limit) {
    auto it = segments_.upper_bound(from);
    if (it == segments_.begin()) return unexpected(StorageError::offset_out_of_range);
    std::shared_ptr<Segment> segment = std::prev(it)->second;
    auto found = segment->find_batch(from);
    if (truncations_ != truncations) return record::Bytes{};
    if (!found) return unexpected(found.error());
    if (!*found) {
      // Nothing at or after `from` here: the next segment starts the rest.
      auto next = segments_.upper_bound(segment->base_offset());
      if (next == segments_.end()) break;
      from = next->first;
      continue;
    }
    const auto& [position, header] = **found;
    if (header.last_offset() >= limit) break;
    // The leader epoch is outside the CRC too; the epoch cache says what it must be.
    for (int attempt = 0; attempt < 2; attempt++) {
      auto bytes = segment->read(position, header.base_offset, max_bytes, limit);
      if (!bytes) return bytes;
      // Empty only if a corrupted read disagreed with find_batch: look again.
      if (!bytes->empty() && epochs_match(*bytes)) return bytes;
      if (truncations_ != truncations) return record::Bytes{};
    }
    return unexpected(StorageError::corrupt_batch);
  }
  return record::Bytes{};
}

bool PartitionLog::epochs_match(std::span<const uint8_t> batches) const {
  VERIFY(!batches.empty());
  if (epochs_.empty()) return true;
  for (size_t at = 0; at < batches.size();) {
    auto header = record::read_batch_header(batches.subspan(at));
    VERIFY(header.ok(), "segment reads return whole batches");
    // The entry whose range holds the batch: the last one starting at or before it.
    auto it = std::upper_bound(
        epochs_.begin(), epochs_.end(), header->base_offset,
        [](Offset value, const EpochEntry& entry) { return value < entry.start_offset; });
    // -1 is "no epoch" (a batch stored without one); any other value must be the
    // cache's: a flipped sign bit makes an epoch negative, not -1 (raft seed 172).
    if (it != epochs_.begin() && header->partition_leader_epoch != LeaderEpoch(-1) &&
        header->partition_leader_epoch != std::prev(it)->epoch) {
      return false;
    }
    at += header->size_bytes();
  }
  return true;
}

StorageResult<std::optional<TimestampAndOffset>> PartitionLog::offset_for_timestamp(
    int64_t timestamp) {
  if (closing_) return unexpected(StorageError::closed);
  Operation operation(*this);
  std::vector<std::shared_ptr<Segment>> segments;
  for (const auto& [base, segment] : segments_) segments.push_back(segment);
  VERIFY(!segments.empty());
  for (const auto& segment : segments) {
    if (segment->next_offset() <= log_start_offset_) continue;
    if (segment->max_timestamp() < timestamp) continue;
    auto found = segment->find_timestamp(timestamp);
    if (!found) return unexpected(found.error());
    if (!*found) continue;
    TimestampAndOffset result = **found;
    if (result.offset >= log_end_offset_) return std::optional<TimestampAndOffset>();
    result.offset = std::max(result.offset, log_start_offset_);
    return std::optional<TimestampAndOffset>(result);
  }
  return std::optional<TimestampAndOffset>();
}

StorageResult<void> PartitionLog::delete_records(Offset offset) {
  if (closing_) return unexpected(StorageError::closed);
  Operation operation(*this);
  VERIFY(offset >= Offset(0));
  if (offset > high_watermark_) return unexpected(StorageError::offset_out_of_range);
  runtime::MutexGuard guard(append_mutex_);
  if (offset <= log_start_offset_) return {};
  const Offset previous = log_start_offset_;
  log_start_offset_ = offset;
  if (auto persisted = persist_log_start_offset(); !persisted) {
    log_start_offset_ = previous;
    return unexpected(fail(persisted.error()));
  }
  size_t count = 0;
  for (auto it = segments_.begin(); std::next(it) != segments_.end(); ++it) {
    if (it->second->next_offset() > log_start_offset_ || std::next(it)->first > log_start_offset_) {
      break;
    }
    count++;
  }
  return delete_oldest_segments_locked(count);
}

StorageResult<size_t> PartitionLog::apply_retention() {
  if (closing_) return unexpected(StorageError::closed);
  Operation operation(*this);
  VERIFY(!segments_.empty());
  runtime::MutexGuard guard(append_mutex_);
  const int64_t now_ms = env_.clock.wall_now().milliseconds;
  std::vector<std::shared_ptr<Segment>> old;  // every segment but the active one
  for (auto it = segments_.begin(); std::next(it) != segments_.end(); ++it) {
    old.push_back(it->second);
  }
  size_t by_time = 0;
  if (config_.retention_ms >= 0) {
    while (by_time < old.size() && old[by_time]->max_timestamp() >= 0 &&
           now_ms - old[by_time]->max_timestamp() > config_.retention_ms) {
      by_time++;
    }
  }
  size_t by_size = 0;
  if (config_.retention_bytes >= 0) {
    int64_t total = size_bytes();
    while (by_size < old.size() &&
           total - old[by_size]->size().value() >= config_.retention_bytes) {
      total -= old[by_size]->size().value();
      by_size++;
    }
  }
  const size_t count = std::max(by_time, by_size);
  if (count == 0) return size_t{0};
  if (auto deleted = delete_oldest_segments_locked(count); !deleted) {
    return unexpected(deleted.error());
  }
  return count;
}

StorageResult<void> PartitionLog::delete_oldest_segments_locked(size_t count) {
  VERIFY(append_mutex_.locked());
  VERIFY(count < segments_.size(), "the active segment is never deleted");
  if (count == 0) return {};
  auto first_kept = std::next(segments_.begin(), static_cast<std::ptrdiff_t>(count));
  if (first_kept->first > log_start_offset_) {
    // Raise log start before deleting, so a crash in between never exposes a log start
    // that points into deleted data.
    log_start_offset_ = first_kept->first;
    high_watermark_ = std::max(high_watermark_, log_start_offset_);
    if (auto persisted = persist_log_start_offset(); !persisted) {
      return unexpected(fail(persisted.error()));
    }
  }
  std::vector<std::shared_ptr<Segment>> doomed;
  for (auto it = segments_.begin(); it != first_kept;) {
    doomed.push_back(it->second);
    it = segments_.erase(it);
  }
  for (const auto& segment : doomed) {
    if (auto removed = segment->remove_files(); !removed) return unexpected(fail(removed.error()));
  }
  if (auto synced = env_.disk.sync_directory(directory_); !synced) {
    return unexpected(fail(StorageError::io));
  }
  VERIFY(!segments_.empty());
  return {};
}

StorageResult<void> PartitionLog::assign_epoch_at_end(LeaderEpoch epoch) {
  if (closing_) return unexpected(StorageError::closed);
  Operation operation(*this);
  runtime::MutexGuard guard(append_mutex_);
  if (suspect_) return unexpected(StorageError::suspect);
  return assign_epoch_locked(epoch, log_end_offset_);
}

StorageResult<void> PartitionLog::truncate_to(Offset offset) {
  if (closing_) return unexpected(StorageError::closed);
  Operation operation(*this);
  VERIFY(offset >= Offset(0));
  runtime::MutexGuard guard(append_mutex_);
  return truncate_locked(offset);
}

class PartitionLog::Truncation {
 public:
  explicit Truncation(PartitionLog& log) : log_(log) {
    log_.truncations_++;
    log_.truncating_ = true;
  }
  ~Truncation() {
    log_.truncating_ = false;
    log_.flush_waiters_.notify_all();
  }
  Truncation(const Truncation&) = delete;
  Truncation& operator=(const Truncation&) = delete;

 private:
  PartitionLog& log_;
};

StorageResult<void> PartitionLog::restart_empty_locked(Offset start) {
  VERIFY(append_mutex_.locked());
  std::vector<std::shared_ptr<Segment>> doomed;
  for (const auto& [base, segment] : segments_) doomed.push_back(segment);
  segments_.clear();
  for (const auto& segment : doomed) {
    if (auto removed = segment->remove_files(); !removed) return unexpected(fail(removed.error()));
  }
  auto created = Segment::create(env_.disk, directory_, start, env_.clock.now(), config_);
  if (!created) return unexpected(fail(created.error()));
  segments_.emplace(start, std::move(created).value());
  if (auto synced = env_.disk.sync_directory(directory_); !synced) {
    return unexpected(fail(StorageError::io));
  }
  return {};
}

StorageResult<void> PartitionLog::reset_to(Offset start) {
  if (closing_) return unexpected(StorageError::closed);
  Operation operation(*this);
  runtime::MutexGuard guard(append_mutex_);
  if (suspect_) return unexpected(StorageError::suspect);
  if (start < log_start_offset_) return unexpected(StorageError::offset_out_of_range);
  // Crash safety, step by step: (1) the tail beyond `start` goes first (later segments
  // first, so a crash leaves a prefix); (2) the log start checkpoint then names
  // `start`, at or beyond the log end, which a reopen already treats as "empty from
  // there" (load() drops every segment below a log start past them); (3) the old
  // segments go and an empty one begins at `start`.
  if (start < log_end_offset_) {
    if (auto truncated = truncate_locked(start); !truncated) return truncated;
  }
  if (auto written = write_file_atomically(env_.disk, directory_, kLogStartCheckpoint,
                                           format_offset_checkpoint(start));
      !written) {
    return unexpected(fail(written.error()));
  }
  // Until log end moves to `start`, no fsync may claim anything.
  const Truncation truncation(*this);
  if (auto restarted = restart_empty_locked(start); !restarted) return restarted;
  log_start_offset_ = start;
  log_end_offset_ = start;
  durable_end_offset_ = start;
  high_watermark_ = start;
  if (!epochs_.empty()) {
    epochs_.clear();
    if (auto persisted = persist_epochs(); !persisted) return unexpected(fail(persisted.error()));
  }
  return {};
}

StorageResult<void> PartitionLog::truncate_locked(Offset offset) {
  VERIFY(append_mutex_.locked());
  if (suspect_) return unexpected(StorageError::suspect);
  if (offset >= log_end_offset_) return {};
  if (offset < log_start_offset_) return unexpected(StorageError::offset_out_of_range);
  // Until log end is lowered, no fsync may claim anything.
  const Truncation truncation(*this);
  // Later segments go first, so a crash midway leaves a prefix of the old log.
  bool removed_any = false;
  while (segments_.size() > 1 && active()->base_offset() >= offset) {
    std::shared_ptr<Segment> segment = active();
    segments_.erase(std::prev(segments_.end()));
    if (auto removed = segment->remove_files(); !removed) return unexpected(fail(removed.error()));
    removed_any = true;
  }
  if (removed_any) {
    if (auto synced = env_.disk.sync_directory(directory_); !synced) {
      return unexpected(fail(StorageError::io));
    }
  }
  if (auto truncated = active()->truncate_to(offset); !truncated) {
    return unexpected(fail(truncated.error()));
  }
  if (active()->next_offset() < log_start_offset_) {
    // The batch holding `offset` started below the log start: dropping it whole would
    // hand out offsets below the log start again. Start over empty at the log start.
    // Every segment lies below the log start here (older ones were deleted with it).
    if (auto restarted = restart_empty_locked(log_start_offset_); !restarted) return restarted;
  }
  log_end_offset_ = active()->next_offset();
  VERIFY(log_end_offset_ <= offset || log_end_offset_ == log_start_offset_,
         "truncation to {} left log end {}", offset, log_end_offset_);
  VERIFY(log_end_offset_ >= log_start_offset_);
  durable_end_offset_ = std::min(durable_end_offset_, log_end_offset_);
  high_watermark_ = std::min(high_watermark_, log_end_offset_);
  const size_t epochs_before = epochs_.size();
  while (!epochs_.empty() && epochs_.back().start_offset >= log_end_offset_) epochs_.pop_back();
  if (epochs_.size() != epochs_before) {
    if (auto persisted = persist_epochs(); !persisted) return unexpected(fail(persisted.error()));
  }
  return {};
}

std::optional<std::pair<LeaderEpoch, Offset>> PartitionLog::end_offset_for_epoch(
    LeaderEpoch epoch) const {
  VERIFY(epoch >= LeaderEpoch(0));
  VERIFY(log_start_offset_ <= log_end_offset_);
  // The last entry whose epoch is <= the asked one; its end is the next entry's start.
  auto it = std::upper_bound(
      epochs_.begin(), epochs_.end(), epoch,
      [](LeaderEpoch value, const EpochEntry& entry) { return value < entry.epoch; });
  if (it == epochs_.begin()) return std::nullopt;
  const LeaderEpoch found = std::prev(it)->epoch;
  const Offset end = it == epochs_.end() ? log_end_offset_ : it->start_offset;
  return std::make_pair(found, end);
}

StorageResult<void> PartitionLog::close() {
  if (closing_) return {};
  VERIFY(!segments_.empty());
  // New operations now fail with `closed`; those in flight finish first, so none
  // touches a closed file.
  closing_ = true;
  while (operations_ > 0) {
    operations_done_.add(env_.scheduler.prepare_wait());
    env_.scheduler.suspend();
  }
  if (!suspect_) {
    runtime::MutexGuard guard(append_mutex_);
    if (auto flushed = wait_durable_open(log_end_offset_); !flushed) {
      closed_ = true;
      for (auto& [base, segment] : segments_) segment->close();
      return flushed;
    }
    if (auto sealed = active()->seal(); !sealed) return unexpected(fail(sealed.error()));
    if (auto marked = write_file_atomically(env_.disk, directory_, kCleanShutdown, "0\n");
        !marked) {
      return unexpected(fail(marked.error()));
    }
  }
  closed_ = true;
  for (auto& [base, segment] : segments_) segment->close();
  return {};
}

std::vector<Offset> PartitionLog::segment_base_offsets() const {
  std::vector<Offset> bases;
  for (const auto& [base, segment] : segments_) bases.push_back(base);
  VERIFY(!bases.empty());
  VERIFY(std::is_sorted(bases.begin(), bases.end()));
  return bases;
}

int64_t PartitionLog::size_bytes() const {
  int64_t total = 0;
  for (const auto& [base, segment] : segments_) total += segment->size().value();
  VERIFY(total >= 0);
  return total;
}

}  // namespace weir::storage
