// MetadataLoader: replays the committed part of the metadata log into a
// metadata::MetadataState, on every node that holds the log — the active controller,
// the other voters, and brokers following the log as observers. What it publishes is
// the image "as of" applied_end(): every record below that offset, and no other.
//
// It starts from the latest snapshot of the log, if there is one, and loads a newer
// one whenever the log moved its start past what was applied (a follower or broker
// that fell behind the leader's log start and was sent a snapshot). Every
// `snapshot_bytes` of applied batches (or every `snapshot_interval`, if anything was
// applied) it takes a snapshot of its own image
// (metadata::image_records) and hands it to the RaftNode, which then drops the log
// below it — as every KRaft node snapshots its own state.
//
// One fiber reads committed batches (whole batches below the Raft high watermark) in
// log order, skips control batches (LeaderChange), decodes the records and applies
// them. A committed record that does not apply, or a committed batch that does not
// decode after re-reading, means the log or a controller is wrong: the loader stops
// and sets failed(), and the node ends this incarnation rather than serve a wrong
// image.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "metadata/state.h"
#include "raft/node.h"
#include "record/types.h"
#include "runtime/env.h"
#include "runtime/sync.h"

namespace weir::cluster {

struct LoaderSettings {
  // metadata.log.max.record.bytes.between.snapshots (Kafka's default: 20 MiB).
  int64_t snapshot_bytes = 20 << 20;
  // metadata.log.max.snapshot.interval.ms (Kafka's default: an hour): a snapshot is
  // also taken when anything was applied since the last one and this long has passed.
  // Zero: by bytes only.
  runtime::Duration snapshot_interval = runtime::milliseconds(3'600'000);
  // Test-only flaw (the simulator's snapshot-without-configs): snapshots leave out the
  // config records, so a node that loads one has lost its configs.
  bool flaw_snapshot_without_configs = false;
};

class MetadataLoader {
 public:
  MetadataLoader(runtime::Env& env, raft::RaftNode& node, LoaderSettings settings = {});
  ~MetadataLoader();
  MetadataLoader(const MetadataLoader&) = delete;
  MetadataLoader& operator=(const MetadataLoader&) = delete;

  // Starts the replay fiber (the node must have started).
  void start();
  // Suspends until the replay fiber has ended.
  void stop();

  const metadata::MetadataState& state() const { return state_; }
  const metadata::Image& image() const { return state_.image(); }
  // One past the last offset applied (the metadata offset a broker reports).
  record::Offset applied_end() const { return applied_end_; }
  // Suspends until applied_end() >= end (true), or the deadline passes or the loader
  // stops (false).
  bool wait_applied(record::Offset end, runtime::Instant deadline);
  // Suspends until applied_end() moves past `seen` or the deadline passes.
  void wait_change(record::Offset seen, runtime::Instant deadline);

  runtime::Event& failed() { return failed_; }
  const std::string& failure() const { return failure_; }

  // Called (without suspending) after each applied batch: the simulator's checkers
  // compare images at equal offsets.
  std::function<void(record::Offset applied_end, const metadata::Image&)> on_applied;

 private:
  void replay_loop();
  // Suspends. Applies committed batches from applied_end_; false when nothing was
  // committed beyond it.
  bool replay_some();
  // Suspends. Replaces the state by the latest snapshot's when it is ahead of it;
  // false when that failed (failed() is set).
  bool load_snapshot();
  // Suspends. Takes a snapshot once enough was applied since the last one.
  void maybe_snapshot();
  void fail(std::string reason);

  runtime::Env& env_;
  raft::RaftNode& node_;
  LoaderSettings settings_;
  metadata::MetadataState state_;
  record::Offset applied_end_{0};
  int64_t bytes_since_snapshot_ = 0;
  runtime::Instant last_snapshot_;  // taken or loaded; the loader's start before that
  runtime::WaitQueue changed_;
  runtime::Event failed_;
  std::string failure_;
  bool stopping_ = false;
  bool running_ = false;
  runtime::WaitQueue done_;
};

}  // namespace weir::cluster
