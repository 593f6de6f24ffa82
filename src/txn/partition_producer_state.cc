#include "txn/partition_producer_state.h"

#include <algorithm>
#include <charconv>
#include <string_view>
#include <utility>

#include <fmt/format.h>

#include "base/assert.h"
#include "record/batch.h"
#include "storage/checkpoint.h"

namespace weir::txn {
namespace {

constexpr std::string_view kSnapshotSuffix = ".snapshot";
constexpr size_t kOffsetDigits = 20;
// How much of the log one replay read asks for.
constexpr size_t kReplayReadBytes = 1 << 20;

storage::StorageError from_io(runtime::IoError error) {
  switch (error) {
    case runtime::IoError::no_space: return storage::StorageError::no_space;
    case runtime::IoError::not_found: return storage::StorageError::not_found;
    default: return storage::StorageError::io;
  }
}

}  // namespace

std::string snapshot_file_name(Offset offset) {
  VERIFY(offset >= Offset(0), "snapshot offset {}", offset);
  std::string name = fmt::format("{:020d}{}", offset.value(), kSnapshotSuffix);
  VERIFY(name.size() == kOffsetDigits + kSnapshotSuffix.size());
  return name;
}

std::optional<Offset> parse_snapshot_file_name(const std::string& name) {
  if (name.size() != kOffsetDigits + kSnapshotSuffix.size()) return std::nullopt;
  if (!std::string_view(name).ends_with(kSnapshotSuffix)) return std::nullopt;
  int64_t value = 0;
  const char* end = name.data() + kOffsetDigits;
  auto [stop, error] = std::from_chars(name.data(), end, value);
  if (error != std::errc() || stop != end || value < 0) return std::nullopt;
  VERIFY(snapshot_file_name(Offset(value)) == name, "round trip of {}", name);
  return Offset(value);
}

std::string PartitionProducerState::path_of(Offset offset) const {
  return log_.directory() + "/" + snapshot_file_name(offset);
}

storage::StorageResult<std::unique_ptr<PartitionProducerState>> PartitionProducerState::open(
    storage::StorageEnv env, storage::PartitionLog& log, int64_t now_ms,
    ProducerStateConfig config) {
  VERIFY(config.snapshots_retained >= 1, "keep at least one snapshot");
  std::unique_ptr<PartitionProducerState> state(new PartitionProducerState(env, log, config));
  auto names = env.disk.list(log.directory());
  if (!names) return unexpected(from_io(names.error()));
  for (const std::string& name : *names) {
    if (auto offset = parse_snapshot_file_name(name)) {
      state->snapshots_.push_back(*offset);
    } else if (name.ends_with(std::string(kSnapshotSuffix) + ".tmp")) {
      // A snapshot write a crash interrupted before its rename: never valid.
      if (auto removed = env.disk.remove(log.directory() + "/" + name); !removed) {
        return unexpected(from_io(removed.error()));
      }
    }
  }
  std::sort(state->snapshots_.begin(), state->snapshots_.end());
  if (auto rebuilt = state->rebuild(now_ms, /*expire=*/true); !rebuilt) {
    return unexpected(rebuilt.error());
  }
  VERIFY(state->table_.end_offset() == log.log_end_offset());
  return state;
}

storage::StorageResult<void> PartitionProducerState::rebuild(int64_t now_ms, bool expire) {
  rebuilds_++;
  const Offset log_end = log_.log_end_offset();
  if (auto removed = remove_snapshots_above(log_end); !removed) return removed;
  while (true) {
    // The newest snapshot that loads; corrupt ones are deleted (Kafka's loadFromSnapshot).
    std::optional<Offset> loaded;
    table_ = ProducerStateTable(Offset(0));
    while (!loaded && !snapshots_.empty()) {
      const Offset offset = snapshots_.back();
      VERIFY(offset <= log_end, "snapshot {} above log end {} survived", offset, log_end);
      auto bytes = storage::read_whole_file(env_.disk, path_of(offset));
      if (!bytes && bytes.error() != storage::StorageError::not_found) {
        return unexpected(bytes.error());
      }
      if (bytes) {
        auto table = ProducerStateTable::from_snapshot(
            {reinterpret_cast<const uint8_t*>(bytes->data()), bytes->size()}, offset);
        if (table) {
          table_ = std::move(table).value();
          loaded = offset;
          break;
        }
      }
      if (auto removed = remove_snapshot(offset); !removed) return removed;
    }
    if (expire) table_.remove_expired(now_ms, config_.producer_id_expiration_ms);
    auto replayed = replay(log_end);
    if (!replayed) return unexpected(replayed.error());
    if (*replayed) break;
    // The snapshot's offset lies inside a batch of the log: it was taken of another
    // history of this log (one a truncation removed). It cannot be used.
    VERIFY(loaded.has_value(), "a replay from the log start cannot be stale");
    if (auto removed = remove_snapshot(*loaded); !removed) return removed;
  }
  // Offsets past the last batch (a log start beyond it) still count as seen.
  if (table_.end_offset() < log_.log_end_offset()) {
    table_.advance_end_offset(log_.log_end_offset());
  }
  return {};
}

storage::StorageResult<bool> PartitionProducerState::replay(Offset log_end) {
  // Batches below the log start are gone; the producers a snapshot has from them stay.
  Offset from = std::max(table_.end_offset(), log_.log_start_offset());
  while (from < log_end) {
    auto bytes = log_.read(from, kReplayReadBytes);
    if (!bytes) return unexpected(bytes.error());
    // The log may have been truncated while we were suspended in the read.
    if (bytes->empty()) break;
    auto batches = record::split_batches(*bytes);
    VERIFY(batches.ok(), "the log returned batches that do not validate at {}", from);
    for (const record::BatchView& view : *batches) {
      const record::BatchHeader& header = view.header;
      if (header.last_offset() < table_.end_offset()) continue;
      if (header.base_offset < table_.end_offset()) return false;
      auto batch = ProducerBatch::from_batch(view);
      if (!batch) return unexpected(storage::StorageError::corrupt_batch);
      table_.record(*batch);
      VERIFY(table_.end_offset() == header.last_offset().next());
    }
    VERIFY(table_.end_offset() > from, "replay made no progress at {}", from);
    from = table_.end_offset();
  }
  return true;
}

record::Status PartitionProducerState::record_appended(std::span<const uint8_t> batches) {
  auto views = record::split_batches(batches);
  if (!views) return weir::unexpected(views.error());
  for (const record::BatchView& view : *views) {
    auto batch = ProducerBatch::from_batch(view);
    if (!batch) return weir::unexpected(batch.error());
    table_.record(*batch);
  }
  return {};
}

storage::StorageResult<void> PartitionProducerState::take_snapshot() {
  runtime::MutexGuard guard(snapshot_mutex_);
  const Offset offset = table_.end_offset();
  if (std::binary_search(snapshots_.begin(), snapshots_.end(), offset)) return {};
  // Encoded before the first suspension: what the file holds is the table at `offset`.
  const record::Bytes bytes = table_.to_snapshot();
  const std::string text(bytes.begin(), bytes.end());
  if (auto written =
          storage::write_file_atomically(env_.disk, log_.directory(), snapshot_file_name(offset),
                                         text);
      !written) {
    return written;
  }
  snapshots_.insert(std::upper_bound(snapshots_.begin(), snapshots_.end(), offset), offset);
  // Old snapshots go without a directory fsync: one that a crash brings back is still
  // a valid state of the log below it, and the newest is preferred anyway.
  while (snapshots_.size() > config_.snapshots_retained) {
    if (auto removed = remove_snapshot(snapshots_.front()); !removed) return removed;
  }
  VERIFY(std::is_sorted(snapshots_.begin(), snapshots_.end()));
  VERIFY(!snapshots_.empty() && snapshots_.back() >= offset);
  return {};
}

storage::StorageResult<void> PartitionProducerState::truncate_to(Offset offset) {
  // Waits for a snapshot write in flight: it could land above `offset` after we
  // removed those.
  runtime::MutexGuard guard(snapshot_mutex_);
  VERIFY(offset >= Offset(0));
  if (auto removed = remove_snapshots_above(offset); !removed) return removed;
  if (table_.truncate_to(offset)) {
    VERIFY(table_.end_offset() == std::min(offset, table_.end_offset()));
    return {};
  }
  // Expiry is left to the periodic remove_expired: no clock here.
  return rebuild(0, /*expire=*/false);
}

storage::StorageResult<void> PartitionProducerState::remove_snapshots_above(Offset offset) {
  bool removed_any = false;
  while (!snapshots_.empty() && snapshots_.back() > offset) {
    if (auto removed = remove_snapshot(snapshots_.back()); !removed) return removed;
    removed_any = true;
  }
  if (removed_any) {
    if (auto synced = env_.disk.sync_directory(log_.directory()); !synced) {
      return unexpected(from_io(synced.error()));
    }
  }
  VERIFY(snapshots_.empty() || snapshots_.back() <= offset);
  return {};
}

storage::StorageResult<void> PartitionProducerState::remove_snapshot(Offset offset) {
  auto it = std::find(snapshots_.begin(), snapshots_.end(), offset);
  VERIFY(it != snapshots_.end(), "snapshot {} not known", offset);
  snapshots_.erase(it);
  auto removed = env_.disk.remove(path_of(offset));
  if (!removed && removed.error() != runtime::IoError::not_found) {
    return unexpected(from_io(removed.error()));
  }
  return {};
}

}  // namespace weir::txn
