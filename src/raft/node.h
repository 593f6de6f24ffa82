// RaftNode: the fibers around RaftCore. It owns the metadata log
// (`__cluster_metadata-0`, a storage::PartitionLog whose batches carry the Raft epoch as
// their partition leader epoch) and the durable quorum state (`quorum-state`), talks
// to the other voters with weir's client connections, and answers their requests
// through handle(). The same code runs on real sockets and in the simulator.
//
// Fibers: a ticker (timeouts: elections, check quorum), a fetcher (followers and
// observers pull from the leader; each response's records are appended and fsynced
// before the next fetch, since the fetch offset is a promise of durability), a flusher
// (the leader's group commit: its own log counts towards the high watermark once
// fsynced), and one short fiber per outgoing election message.
//
// Invariants:
//  - Nothing leaves this node (a request or an answer) until the quorum state it
//    depends on is durable: a vote is fsynced before it is granted.
//  - The log, the core's view of it (end, epochs) and the high watermark change
//    together, between suspension points.
//  - A storage failure of the metadata log is fatal for this incarnation (failed() is
//    set); the process restarts and recovers the log, as Kafka halts.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>

#include <absl/container/btree_map.h>

#include "base/result.h"
#include "protocol/header.h"
#include "protocol/messages/api.h"
#include "raft/core.h"
#include "raft/snapshot.h"
#include "runtime/env.h"
#include "runtime/sync.h"
#include "storage/partition_log.h"

namespace weir::rpc {
class Connection;
}

namespace weir::raft {

struct RaftSettings {
  CoreSettings core;
  std::string cluster_id;
  // Where each voter's controller listener is.
  absl::btree_map<ReplicaId, runtime::Address> voter_addresses;
  // The controller listener's name (controller.listener.names), as DescribeQuorum names
  // the voters' endpoints.
  std::string listener_name = "CONTROLLER";
  // The data directory holding `__cluster_metadata-0/` ("" is the node's data root).
  std::string directory;
  runtime::Duration request_timeout = runtime::milliseconds(2000);
  runtime::Duration fetch_max_wait = runtime::milliseconds(500);
  runtime::Duration retry_backoff = runtime::milliseconds(50);
  int32_t fetch_max_bytes = 8 << 20;
  // metadata.log.segment.bytes: the metadata log rolls segments at this size, so that
  // a snapshot lets the segments below it go.
  int64_t segment_bytes = 1 << 30;
  // Called (without suspending) whenever this node becomes leader of an epoch, for the
  // simulator's election-safety history.
  std::function<void(Epoch)> on_leader;
  // Called (without suspending) after this voter granted a Vote: the simulator may
  // crash the node there, where a vote not yet on disk would be forgotten.
  std::function<void(Epoch epoch, ReplicaId candidate)> on_vote_granted;
  // Called (without suspending) when this node, leading, advances the high watermark:
  // the simulator checks Raft's commitment rule against the log.
  std::function<void(Offset high_watermark)> on_leader_commit;
  // Called (without suspending) when this node took a snapshot (installed = false) or
  // installed one fetched from the leader (true): the simulator counts them.
  std::function<void(SnapshotId id, bool installed)> on_snapshot;
};

class RaftNode {
 public:
  RaftNode(runtime::Env& env, RaftSettings settings);
  ~RaftNode();
  RaftNode(const RaftNode&) = delete;
  RaftNode& operator=(const RaftNode&) = delete;

  // Suspends. Opens and recovers the log, reads the quorum state and starts the fibers.
  Result<void, std::string> start();
  // Suspends. A leader resigns (EndQuorumEpoch) first; then every fiber ends and the log
  // is closed cleanly.
  void stop();

  // --- Peers: requests for the quorum (controller listener) -------------------------
  static bool serves(int16_t api_key);
  // Suspends (a vote is made durable before it is answered; a fetch may long-poll).
  protocol::ResponseBody handle(const protocol::RequestHeader& header,
                                const protocol::RequestBody& body);

  // --- The state machine's side -------------------------------------------------------
  // Suspends. Leader only: appends `batches` (whole record batches) in the current
  // epoch — only in `epoch` when given, so a caller that decided under one epoch never
  // appends into the next. Returns the offset one past the last record, or
  // not_leader_or_follower when this node does not lead (that epoch).
  Result<Offset, protocol::ErrorCode> append(std::span<const uint8_t> batches,
                                             std::optional<Epoch> epoch = std::nullopt);
  // Suspends until every offset below `end` is committed (true), or the node stops
  // leading `epoch` or the deadline passes (false: the entries may or may not commit).
  bool wait_committed(Offset end, Epoch epoch, runtime::Instant deadline);
  // Suspends until the high watermark is above `offset` or the deadline passes.
  bool wait_high_watermark_above(Offset offset, runtime::Instant deadline);
  // Suspends. Committed batches from `from` (whole batches below the high watermark).
  storage::StorageResult<record::Bytes> read_committed(Offset from, size_t max_bytes);
  // Suspends. Any batches from `from` up to the log end (the simulator's checkers).
  storage::StorageResult<record::Bytes> read_log(Offset from, size_t max_bytes);

  // --- Snapshots (KIP-630) ---------------------------------------------------------------
  // The snapshot the log starts after, if any: every entry below its offset is in it,
  // and none is in the log.
  std::optional<SnapshotId> latest_snapshot() const { return latest_snapshot_; }
  // Where the log starts: the latest snapshot's id, or {0, 0} without one.
  SnapshotId log_start() const { return latest_snapshot_.value_or(SnapshotId{}); }
  // Suspends. Stores the state machine's snapshot of the committed entries below `end`
  // (`payload`: whole batches, see raft/snapshot.h), then drops the log below `end`.
  // Does nothing when the log already starts at or after `end`; refused when `end` is
  // not committed. A failed write leaves everything as it was (try again later).
  Result<void, std::string> create_snapshot(Offset end, std::span<const uint8_t> payload);
  // Suspends. The latest snapshot and its payload, checked (a damaged read is read
  // again); nullopt when there is none.
  Result<std::optional<std::pair<SnapshotId, record::Bytes>>, std::string> read_snapshot();

  const RaftCore& core() const { return *core_; }
  // Where each voter's controller listener is, and the quorum's cluster id.
  const absl::btree_map<ReplicaId, runtime::Address>& voter_addresses() const {
    return settings_.voter_addresses;
  }
  const std::string& cluster_id() const { return settings_.cluster_id; }
  Offset high_watermark() const { return core_->high_watermark(); }
  // Set when the metadata log failed; the owner must end this incarnation.
  runtime::Event& failed() { return failed_; }
  const std::string& failure() const { return failure_; }

 private:
  struct Peer;
  class FiberCount;

  void spawn(std::string name, std::function<void()> body);
  // Suspends. Writes quorum-state if it changed; true once what the core says is durable.
  bool persist_state();
  // After any input to the core: persist, send what it wants sent, wake the fibers.
  void after_input();
  void send(Envelope envelope);
  void tick_loop();
  void fetch_loop();
  void flush_loop();
  // Suspends. Appends the epoch's LeaderChange entry when this node just won.
  void on_became_leader();
  // Suspends. Follower: applies one fetch response.
  // Returns the snapshot to fetch when the leader named one.
  std::optional<SnapshotId> apply_fetch(const FetchRequest& sent, const FetchDecision& decision,
                                        std::span<const uint8_t> records);
  // Suspends. Downloads snapshot `id` from the leader over `connection` and installs it
  // when the log is still where `sent` left it.
  void fetch_snapshot(rpc::Connection& connection, const FetchRequest& sent, SnapshotId id);
  // Suspends. Stores a fetched snapshot and restarts the log after it.
  void install_snapshot(const FetchRequest& sent, SnapshotId id, const protocol::Bytes& file);
  // Suspends. Opening: settles the log against the snapshots on disk.
  Result<void, std::string> recover_snapshots();
  // Suspends. Removes snapshot files older than the latest (best effort).
  void remove_older_snapshots();
  std::string log_directory() const;
  protocol::ResponseBody serve_fetch_snapshot(const protocol::FetchSnapshotRequest& request);
  void log_changed();
  void fail(std::string reason);
  // Suspends until something changes (an input, an append, the high watermark) or the
  // deadline.
  void wait_change(runtime::Instant deadline);
  Result<std::shared_ptr<rpc::Connection>, std::string> connect(ReplicaId peer);
  protocol::ResponseBody fetch(const protocol::FetchRequest& request);
  template <typename Response, typename Wire, typename Step, typename Encode>
  protocol::ResponseBody answer_epoch_request(const Wire& wire, bool wrong_cluster, Step step,
                                              Encode encode);
  protocol::DescribeQuorumResponse describe_quorum();

  runtime::Env& env_;
  RaftSettings settings_;
  std::unique_ptr<storage::PartitionLog> log_;
  std::unique_ptr<RaftCore> core_;
  runtime::Random random_;
  QuorumState persisted_;
  runtime::Mutex persist_mutex_;
  runtime::Mutex log_mutex_;  // follower appends/truncations vs the leader's appends
  absl::btree_map<ReplicaId, std::unique_ptr<Peer>> peers_;
  runtime::WaitQueue changed_;
  runtime::Event failed_;
  std::string failure_;
  bool stopping_ = false;
  Epoch led_epoch_{-1};        // the last epoch whose LeaderChange entry this node appended
  Offset reported_commit_{0};  // the high watermark last given to on_leader_commit
  std::optional<SnapshotId> latest_snapshot_;
  runtime::Mutex snapshot_mutex_;  // taking vs installing snapshots
  int64_t active_fibers_ = 0;
  runtime::WaitQueue fibers_done_;
};

}  // namespace weir::raft
