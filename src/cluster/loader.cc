#include "cluster/loader.h"

#include <utility>

#include <fmt/format.h>

#include "base/assert.h"
#include "metadata/records.h"
#include "metadata/state.h"
#include "raft/snapshot.h"
#include "record/batch.h"

namespace weir::cluster {

namespace {

// A read whose bytes fail their CRC is read again: the simulator (and real disks)
// corrupt reads, not what is stored.
constexpr int kReadAttempts = 4;
constexpr size_t kReadBytesMax = 1 << 20;
// The loader polls for stop at this pace while the high watermark stands still.
constexpr runtime::Duration kIdleWait = runtime::milliseconds(200);

}  // namespace

MetadataLoader::MetadataLoader(runtime::Env& env, raft::RaftNode& node, LoaderSettings settings)
    : env_(env), node_(node), settings_(settings), failed_(env.scheduler) {
  VERIFY(settings_.snapshot_bytes > 0);
  VERIFY(settings_.snapshot_interval >= runtime::Duration(0));
}

MetadataLoader::~MetadataLoader() { VERIFY(!running_, "the metadata loader outlives stop()"); }

void MetadataLoader::start() {
  VERIFY(!running_);
  running_ = true;
  last_snapshot_ = env_.clock.now();
  env_.scheduler.spawn("metadata-loader", [this] {
    // Also when the fiber is unwound (the simulator crashes the node).
    struct Done {
      MetadataLoader* loader;
      ~Done() {
        loader->running_ = false;
        loader->done_.notify_all();
      }
    } done{this};
    replay_loop();
  });
}

void MetadataLoader::stop() {
  stopping_ = true;
  changed_.notify_all();
  while (running_) {
    done_.add(env_.scheduler.prepare_wait());
    env_.scheduler.suspend();
  }
}

void MetadataLoader::fail(std::string reason) {
  if (failed_.is_set()) return;
  failure_ = std::move(reason);
  failed_.set();
}

bool MetadataLoader::wait_applied(record::Offset end, runtime::Instant deadline) {
  while (applied_end_ < end) {
    if (stopping_ || failed_.is_set() || env_.clock.now() >= deadline) return false;
    wait_change(applied_end_, deadline);
  }
  return true;
}

void MetadataLoader::wait_change(record::Offset seen, runtime::Instant deadline) {
  if (applied_end_ != seen || stopping_) return;
  changed_.add(env_.scheduler.prepare_wait());
  env_.scheduler.suspend(deadline == runtime::Instant::max()
                             ? std::nullopt
                             : std::optional<runtime::Instant>(deadline));
}

void MetadataLoader::replay_loop() {
  while (!stopping_ && !failed_.is_set() && !node_.failed().is_set()) {
    // At the start, and after the node installed a snapshot it was sent: what was
    // applied is behind the log's start, and only the snapshot can bring it forward.
    const auto snapshot = node_.latest_snapshot();
    if (snapshot && snapshot->offset > applied_end_) {
      if (!load_snapshot()) return;
      continue;
    }
    if (replay_some()) {
      maybe_snapshot();
      continue;
    }
    (void)node_.wait_high_watermark_above(applied_end_, env_.clock.now() + kIdleWait);
    maybe_snapshot();  // the interval may have passed
  }
}

bool MetadataLoader::load_snapshot() {
  auto read = node_.read_snapshot();
  if (!read) {
    fail(read.error());
    return false;
  }
  if (!*read || (*read)->first.offset <= applied_end_) return true;
  const auto& [id, payload] = **read;
  // The payload passed its CRCs: a record that does not decode or apply is a bug.
  auto records = metadata::decode_batch(payload);
  if (!records) {
    fail(fmt::format("snapshot {} does not decode: {}", raft::snapshot_file_name(id),
                     records.error().describe()));
    return false;
  }
  metadata::MetadataState state;
  if (auto applied = state.apply_all(*records); !applied) {
    fail(fmt::format("snapshot {} does not apply: {}", raft::snapshot_file_name(id),
                     applied.error()));
    return false;
  }
  state_ = std::move(state);
  applied_end_ = id.offset;
  bytes_since_snapshot_ = 0;
  last_snapshot_ = env_.clock.now();
  if (on_applied) on_applied(applied_end_, state_.image());
  changed_.notify_all();
  return true;
}

void MetadataLoader::maybe_snapshot() {
  const bool by_bytes = bytes_since_snapshot_ >= settings_.snapshot_bytes;
  const bool by_time = settings_.snapshot_interval > runtime::Duration(0) &&
                       bytes_since_snapshot_ > 0 &&
                       env_.clock.now() - last_snapshot_ >= settings_.snapshot_interval;
  if (!by_bytes && !by_time) return;
  const auto latest = node_.latest_snapshot();
  if (latest && latest->offset >= applied_end_) return;
  // Built without suspending: the image is exactly the one as of `end`.
  const record::Offset end = applied_end_;
  std::vector<metadata::Record> records = metadata::image_records(state_.image());
  if (settings_.flaw_snapshot_without_configs) {
    std::erase_if(records, [](const metadata::Record& record) {
      return std::holds_alternative<metadata::ConfigRecord>(record);
    });
  }
  constexpr size_t kRecordsPerBatch = 1000;
  metadata::Bytes payload;
  for (size_t at = 0; at < records.size(); at += kRecordsPerBatch) {
    const size_t count = std::min(kRecordsPerBatch, records.size() - at);
    const metadata::Bytes batch = metadata::encode_batch(std::span(records).subspan(at, count),
                                                         env_.clock.wall_now().milliseconds);
    payload.insert(payload.end(), batch.begin(), batch.end());
  }
  // A failed write (a full disk) changes nothing: the next applied batch tries again.
  if (node_.create_snapshot(end, payload)) {
    bytes_since_snapshot_ = 0;
    last_snapshot_ = env_.clock.now();
  }
}

bool MetadataLoader::replay_some() {
  if (node_.high_watermark() <= applied_end_) return false;
  for (int attempt = 1;; attempt++) {
    auto bytes = node_.read_committed(applied_end_, kReadBytesMax);
    // A snapshot installed meanwhile moved the log start past applied_end_: the
    // caller loads it.
    const auto snapshot = node_.latest_snapshot();
    if (snapshot && snapshot->offset > applied_end_) return true;
    if (!bytes) {
      if (attempt == kReadAttempts) {
        fail(fmt::format("reading the metadata log at {}: {}", applied_end_,
                         storage::to_string(bytes.error())));
        return false;
      }
      continue;
    }
    if (bytes->empty()) return false;
    auto batches = record::split_batches(*bytes);
    if (!batches) {
      if (attempt == kReadAttempts) {
        fail(fmt::format("the committed metadata log at {} does not parse", applied_end_));
        return false;
      }
      continue;
    }
    // Decode everything first: a batch that does not decode is read again, and nothing
    // is applied from a read that may be damaged.
    std::vector<std::pair<record::Offset, std::vector<metadata::LogEntry>>> decoded;
    int64_t decoded_bytes = 0;
    bool damaged = false;
    // The metadata log is dense and applied_end_ is always a batch boundary: the
    // first batch starts there and each next one where the one before ended. The base
    // offset is outside the batch CRC, so a bit flipped on read would otherwise shift
    // records to other offsets, or skip some (metadata seed 931).
    record::Offset expected_base = applied_end_;
    for (const record::BatchView& batch : *batches) {
      if (damaged) break;
      if (batch.header.base_offset != expected_base) {
        damaged = true;
        break;
      }
      const record::Offset end = batch.header.last_offset().next();
      expected_base = end;
      decoded_bytes += static_cast<int64_t>(batch.bytes.size());
      if (batch.header.is_control()) {
        decoded.emplace_back(end, std::vector<metadata::LogEntry>{});
        continue;
      }
      auto entries = metadata::decode_batch_entries(batch.bytes);
      if (!entries) {
        damaged = true;
        break;
      }
      decoded.emplace_back(end, std::move(*entries));
    }
    if (damaged) {
      if (attempt == kReadAttempts) {
        fail(
            fmt::format("the committed metadata batches from {} do not decode or do not follow "
                        "each other",
                        applied_end_));
        return false;
      }
      continue;
    }
    for (auto& [end, entries] : decoded) {
      for (const metadata::LogEntry& entry : entries) {
        if (entry.offset < applied_end_) continue;
        if (auto applied = state_.apply(entry.record); !applied) {
          fail(fmt::format("the committed metadata record at offset {} does not apply: {}",
                           entry.offset, applied.error()));
          return false;
        }
      }
      applied_end_ = end;
      if (on_applied) on_applied(applied_end_, state_.image());
    }
    bytes_since_snapshot_ += decoded_bytes;
    changed_.notify_all();
    return !decoded.empty();
  }
}

}  // namespace weir::cluster
