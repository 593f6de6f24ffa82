#include "raft/node.h"

#include <utility>

#include <fmt/format.h>

#include "base/assert.h"
#include "rpc/connection.h"
#include "raft/quorum_state_file.h"
#include "raft/wire.h"
#include "record/batch.h"
#include "storage/checkpoint.h"

namespace weir::raft {

using protocol::ErrorCode;
using runtime::Instant;

namespace {

constexpr const char* log_directory_name = "__cluster_metadata-0";

std::string join(const std::string& directory, const std::string& name) {
  return directory.empty() ? name : directory + "/" + name;
}

std::vector<EpochStart> epochs_of(const storage::PartitionLog& log) {
  std::vector<EpochStart> epochs;
  for (const auto& entry : log.leader_epochs()) epochs.push_back({entry.epoch, entry.start_offset});
  return epochs;
}

// A snapshot file larger than this is refused (the metadata image of a million
// partitions is far smaller).
constexpr int64_t kSnapshotBytesMax = int64_t{1} << 30;
constexpr int kSnapshotReadAttempts = 6;

storage::LogConfig metadata_log_config(int64_t segment_bytes) {
  storage::LogConfig config;
  config.segment_bytes = segment_bytes;
  config.segment_index_bytes = 1 << 20;
  config.retention_ms = -1;  // the log shrinks only behind snapshots
  config.retention_bytes = -1;
  config.max_message_bytes = 8 << 20;
  return config;
}

}  // namespace

// Two connections per peer: a fetch long-poll must not hold up a vote behind it
// (responses come back in request order on one connection).
struct RaftNode::Peer {
  explicit Peer(runtime::Scheduler& scheduler) : connecting(scheduler) {}
  std::shared_ptr<rpc::Connection> control;
  std::shared_ptr<rpc::Connection> fetch;
  runtime::Mutex connecting;
};

RaftNode::RaftNode(runtime::Env& env, RaftSettings settings)
    : env_(env), settings_(std::move(settings)), random_(env.random.fork()),
      persist_mutex_(env.scheduler), log_mutex_(env.scheduler), failed_(env.scheduler),
      snapshot_mutex_(env.scheduler) {
  for (ReplicaId voter : settings_.core.voters) {
    VERIFY(settings_.voter_addresses.contains(voter), "no address for voter {}", voter);
  }
}

RaftNode::~RaftNode() { VERIFY(active_fibers_ == 0, "the raft node's fibers outlive it"); }

void RaftNode::spawn(std::string name, std::function<void()> body) {
  active_fibers_++;
  env_.scheduler.spawn(std::move(name), [this, body = std::move(body)] {
    struct Done {
      RaftNode* node;
      ~Done() {
        if (--node->active_fibers_ == 0) node->fibers_done_.notify_all();
      }
    } done{this};
    body();
  });
}

std::string RaftNode::log_directory() const {
  return join(settings_.directory, log_directory_name);
}

Result<void, std::string> RaftNode::start() {
  const std::string directory = log_directory();
  auto log =
      storage::PartitionLog::open(env_, directory, metadata_log_config(settings_.segment_bytes));
  if (!log) {
    return unexpected(fmt::format("opening {}: {}", directory, storage::to_string(log.error())));
  }
  log_ = std::move(*log);
  // A bit flipped on read is caught by the CRC; reading again gets the stored bytes.
  QuorumState state;
  const std::string path = join(directory, quorum_state_file);
  for (int attempt = 0;; attempt++) {
    auto text = storage::read_whole_file(env_.disk, path);
    if (!text && text.error() == storage::StorageError::not_found) break;
    if (text) {
      if (auto parsed = parse_quorum_state(*text)) {
        state = *parsed;
        break;
      }
    }
    if (attempt == 3) {
      return unexpected(
          fmt::format("{}: unreadable or damaged; refusing to start without "
                      "knowing this voter's epoch and vote",
                      path));
    }
  }
  persisted_ = state;
  if (auto settled = recover_snapshots(); !settled) return settled;
  core_ = std::make_unique<RaftCore>(settings_.core, random_, state, log_->log_end_offset(),
                                     epochs_of(*log_), env_.clock.now(), log_start());
  core_->on_durable(log_->durable_end_offset());
  spawn("raft-tick", [this] { tick_loop(); });
  spawn("raft-fetch", [this] { fetch_loop(); });
  spawn("raft-flush", [this] { flush_loop(); });
  return {};
}

void RaftNode::stop() {
  if (!core_) return;
  if (!stopping_ && core_->is_leader()) {
    core_->resign(env_.clock.now());
    // Best effort: EndQuorumEpoch lets the others elect a successor at once. Its
    // answers are awaited briefly, so the requests leave before the connections close.
    std::vector<runtime::Future<rpc::ResponseResult>> answers;
    for (auto& envelope : core_->take_outbox()) {
      if (!std::holds_alternative<EndEpochRequest>(envelope.message)) continue;
      auto connection = connect(envelope.to);
      if (!connection) continue;
      answers.push_back(
          (*connection)
              ->send(to_wire(std::get<EndEpochRequest>(envelope.message), settings_.cluster_id)));
    }
    const Instant deadline = env_.clock.now() + runtime::milliseconds(500);
    for (auto& answer : answers) (void)answer.get_until(deadline);
  }
  stopping_ = true;
  for (auto& [id, peer] : peers_) {
    if (peer->control) peer->control->close();
    if (peer->fetch) peer->fetch->close();
  }
  changed_.notify_all();
  while (active_fibers_ > 0) {
    fibers_done_.add(env_.scheduler.prepare_wait());
    env_.scheduler.suspend();
  }
  (void)log_->close();
}

void RaftNode::fail(std::string reason) {
  if (failed_.is_set()) return;
  failure_ = std::move(reason);
  failed_.set();
}

void RaftNode::wait_change(Instant deadline) {
  changed_.add(env_.scheduler.prepare_wait());
  env_.scheduler.suspend(deadline == Instant::max() ? std::nullopt
                                                    : std::optional<Instant>(deadline));
}

bool RaftNode::persist_state() {
  runtime::MutexGuard guard(persist_mutex_);
  // Buggify: a slow quorum-state write widens the window in which a vote or a new
  // epoch is known in memory but not on disk.
  if (core_->quorum_state() != persisted_ && env_.buggify.fire()) {
    env_.scheduler.sleep_for(runtime::milliseconds(random_.between(1, 1000)));
  }
  while (core_->quorum_state() != persisted_) {
    const QuorumState target = core_->quorum_state();
    const std::string directory = join(settings_.directory, log_directory_name);
    auto written =
        storage::write_file_atomically(env_.disk, directory, quorum_state_file,
                                       format_quorum_state(target, settings_.core.voters));
    if (!written) {
      fail(fmt::format("writing {}/{}: {}", directory, quorum_state_file,
                       storage::to_string(written.error())));
      return false;
    }
    persisted_ = target;
  }
  return !failed_.is_set();
}

void RaftNode::after_input() {
  if (stopping_ || !persist_state()) return;
  // Between the check in persist_state and here nothing suspends: what the outbox says
  // rests on a durable state.
  VERIFY(core_->quorum_state() == persisted_);
  for (auto& envelope : core_->take_outbox()) send(std::move(envelope));
  if (core_->is_leader() && led_epoch_ != core_->epoch()) {
    // Won just now: the high watermark it holds was learnt as a follower, not moved by it.
    reported_commit_ = std::max(reported_commit_, core_->high_watermark());
  }
  if (core_->is_leader() && core_->high_watermark() > reported_commit_) {
    reported_commit_ = core_->high_watermark();
    if (settings_.on_leader_commit) settings_.on_leader_commit(reported_commit_);
  }
  if (core_->is_leader() && led_epoch_ != core_->epoch()) {
    const Epoch epoch = core_->epoch();
    led_epoch_ = epoch;
    if (settings_.on_leader) settings_.on_leader(epoch);
    spawn("raft-lead", [this] { on_became_leader(); });
  }
  changed_.notify_all();
}

void RaftNode::log_changed() {
  VERIFY(log_->log_start_offset() == log_start().offset,
         "the metadata log starts at {}, not where its snapshot ends", log_->log_start_offset());
  core_->on_log_changed(log_->log_end_offset(), epochs_of(*log_), log_start());
  core_->on_durable(log_->durable_end_offset());
  log_->set_high_watermark(core_->high_watermark());
}

void RaftNode::on_became_leader() {
  const Epoch epoch = led_epoch_;
  // Buggify: a slow first append leaves followers holding only older entries for a
  // while (where counting replicas of an earlier epoch's entries goes wrong).
  if (env_.buggify.fire()) env_.scheduler.sleep_for(runtime::milliseconds(random_.between(1, 500)));
  runtime::MutexGuard guard(log_mutex_);
  if (!core_->is_leader() || core_->epoch() != epoch || stopping_) return;
  auto batch = leader_change_batch(settings_.core.self, settings_.core.voters,
                                   env_.clock.wall_now().milliseconds);
  auto appended = log_->append(batch, epoch);
  if (!appended) {
    fail(fmt::format("appending to the metadata log: {}", storage::to_string(appended.error())));
    return;
  }
  log_changed();
  after_input();
}

Result<Offset, ErrorCode> RaftNode::append(std::span<const uint8_t> batches,
                                           std::optional<Epoch> expected_epoch) {
  std::vector<uint8_t> copy(batches.begin(), batches.end());
  runtime::MutexGuard guard(log_mutex_);
  const Epoch epoch = core_->epoch();
  // Until the epoch's LeaderChange entry is in, appends would precede it.
  if (!core_->is_leader() || led_epoch_ != epoch || !core_->epoch_start_offset() || stopping_ ||
      (expected_epoch && *expected_epoch != epoch)) {
    return unexpected(ErrorCode::not_leader_or_follower);
  }
  auto appended = log_->append(copy, epoch);
  if (!appended) {
    if (appended.error() == storage::StorageError::invalid_batch ||
        appended.error() == storage::StorageError::batch_too_large) {
      return unexpected(ErrorCode::invalid_request);
    }
    fail(fmt::format("appending to the metadata log: {}", storage::to_string(appended.error())));
    return unexpected(ErrorCode::kafka_storage_error);
  }
  log_changed();
  after_input();
  return appended->last_offset.next();
}

bool RaftNode::wait_committed(Offset end, Epoch epoch, Instant deadline) {
  while (true) {
    // The leader never truncates, so while it still leads `epoch` the entries below
    // `end` are the ones it appended.
    if (!core_->is_leader() || core_->epoch() != epoch || stopping_) return false;
    if (core_->high_watermark() >= end) return true;
    if (env_.clock.now() >= deadline) return false;
    wait_change(deadline);
  }
}

bool RaftNode::wait_high_watermark_above(Offset offset, Instant deadline) {
  while (core_->high_watermark() <= offset) {
    if (stopping_ || env_.clock.now() >= deadline) return false;
    wait_change(deadline);
  }
  return true;
}

storage::StorageResult<record::Bytes> RaftNode::read_committed(Offset from, size_t max_bytes) {
  const Offset high_watermark = core_->high_watermark();
  if (from >= high_watermark) return record::Bytes{};
  return log_->read(from, max_bytes, high_watermark);
}

storage::StorageResult<record::Bytes> RaftNode::read_log(Offset from, size_t max_bytes) {
  return log_->read(from, max_bytes);
}

// --- Fibers ---------------------------------------------------------------------------------

void RaftNode::tick_loop() {
  while (!stopping_) {
    const Instant deadline = core_->next_deadline();
    if (env_.clock.now() < deadline) {
      wait_change(deadline);
      continue;
    }
    core_->tick(env_.clock.now());
    after_input();
  }
}

void RaftNode::flush_loop() {
  while (!stopping_) {
    if (!core_->is_leader() || log_->durable_end_offset() >= log_->log_end_offset()) {
      wait_change(Instant::max());
      continue;
    }
    auto flushed = log_->flush();
    if (!flushed) {
      if (flushed.error() == storage::StorageError::offset_out_of_range) continue;
      fail(fmt::format("flushing the metadata log: {}", storage::to_string(flushed.error())));
      return;
    }
    core_->on_durable(log_->durable_end_offset());
    log_->set_high_watermark(core_->high_watermark());
    after_input();
  }
}

void RaftNode::fetch_loop() {
  while (!stopping_ && !failed_.is_set()) {
    ReplicaId target;
    const auto request = core_->next_fetch(target);
    if (!request) {
      wait_change(env_.clock.now() + runtime::seconds(1));
      continue;
    }
    auto connected = connect(target);
    auto& peer = *peers_.at(target);
    if (!connected) {
      env_.scheduler.sleep_for(settings_.retry_backoff);
      continue;
    }
    if (!peer.fetch || !peer.fetch->is_open()) peer.fetch = nullptr;
    std::shared_ptr<rpc::Connection> connection = peer.fetch ? peer.fetch : nullptr;
    if (!connection) {
      rpc::ConnectionOptions options;
      options.client_id = fmt::format("raft-fetch-{}", settings_.core.self.value());
      options.connect_timeout = settings_.request_timeout;
      options.request_timeout = settings_.request_timeout + settings_.fetch_max_wait;
      auto opened =
          rpc::Connection::connect(env_, settings_.voter_addresses.at(target), options);
      if (!opened) {
        env_.scheduler.sleep_for(settings_.retry_backoff);
        continue;
      }
      connection = std::move(*opened);
      peer.fetch = connection;
    }
    // Buggify: fetch one batch at a time, so a follower's position stops between any
    // two entries.
    const int32_t max_bytes = env_.buggify.fire() ? 1 : settings_.fetch_max_bytes;
    auto response = connection->send_and_wait(
        to_wire(*request, settings_.cluster_id, settings_.fetch_max_wait, max_bytes));
    if (stopping_) break;
    const auto* fetch = response ? std::get_if<protocol::FetchResponse>(response->get()) : nullptr;
    std::span<const uint8_t> records;
    const auto decision = fetch ? from_wire(*fetch, records) : std::nullopt;
    if (!decision) {
      connection->close();
      env_.scheduler.sleep_for(settings_.retry_backoff);
      continue;
    }
    const auto snapshot = apply_fetch(*request, *decision, records);
    after_input();
    if (snapshot) {
      fetch_snapshot(*connection, *request, *snapshot);
      after_input();
      continue;
    }
    if (decision->error != ErrorCode::none) env_.scheduler.sleep_for(settings_.retry_backoff);
  }
}

std::optional<SnapshotId> RaftNode::apply_fetch(const FetchRequest& sent,
                                                const FetchDecision& decision,
                                                std::span<const uint8_t> records) {
  const FetchOutcome outcome = core_->on_fetch_response(sent, decision, env_.clock.now());
  if (outcome.action == FetchOutcome::Action::none) return std::nullopt;
  if (outcome.action == FetchOutcome::Action::fetch_snapshot) return outcome.snapshot;
  runtime::MutexGuard guard(log_mutex_);
  // The log may have moved while this fiber waited for the mutex.
  if (log_->log_end_offset() != sent.fetch_offset || core_->is_leader()) return std::nullopt;
  if (outcome.action == FetchOutcome::Action::truncate) {
    VERIFY(outcome.truncate_to < log_->log_end_offset());
    if (auto truncated = log_->truncate_to(outcome.truncate_to); !truncated) {
      fail(fmt::format("truncating the metadata log: {}", storage::to_string(truncated.error())));
      return std::nullopt;
    }
    log_changed();
    return std::nullopt;
  }
  if (!records.empty()) {
    auto header = record::read_batch_header(records);
    if (!header || header->base_offset != log_->log_end_offset()) return std::nullopt;
    std::vector<uint8_t> copy(records.begin(), records.end());
    auto appended = log_->append_replicated(copy);
    if (!appended) {
      // Bytes damaged on the way (a flipped bit the leader's read did not catch) are
      // refused by the CRC: fetch them again. A failing disk ends this incarnation.
      if (appended.error() == storage::StorageError::invalid_batch) return std::nullopt;
      fail(fmt::format("appending to the metadata log: {}", storage::to_string(appended.error())));
      return std::nullopt;
    }
    // The next fetch offset tells the leader this much is held: it must be durable.
    if (auto flushed = log_->flush(); !flushed) {
      fail(fmt::format("flushing the metadata log: {}", storage::to_string(flushed.error())));
      return std::nullopt;
    }
    log_changed();
  }
  core_->on_follower_high_watermark(decision.high_watermark);
  log_->set_high_watermark(core_->high_watermark());
  return std::nullopt;
}

// --- Snapshots ------------------------------------------------------------------------------

namespace {
std::string to_text(std::span<const uint8_t> bytes) {
  return std::string(reinterpret_cast<const char*>(bytes.data()), bytes.size());
}
std::span<const uint8_t> to_bytes(const std::string& text) {
  return {reinterpret_cast<const uint8_t*>(text.data()), text.size()};
}
}  // namespace

Result<void, std::string> RaftNode::recover_snapshots() {
  const std::string directory = log_directory();
  auto names = env_.disk.list(directory);
  if (!names) return unexpected(fmt::format("listing {}", directory));
  std::optional<SnapshotId> latest;
  for (const std::string& name : *names) {
    const auto id = parse_snapshot_file_name(name);
    if (id && (!latest || id->offset > latest->offset)) latest = id;
  }
  const Offset start = log_->log_start_offset();
  if (!latest) {
    if (start > Offset(0)) {
      return unexpected(
          fmt::format("{}: the log starts at {} but no snapshot holds the entries "
                      "below it",
                      directory, start));
    }
    return {};
  }
  if (latest->offset < start) {
    return unexpected(fmt::format("{}: the log starts at {}, after its latest snapshot {}",
                                  directory, start, snapshot_file_name(*latest)));
  }
  latest_snapshot_ = latest;
  // Reading it once proves the file whole before anything relies on it.
  if (auto read = read_snapshot(); !read) return unexpected(read.error());
  // A crash between storing a snapshot and moving the log start leaves the log behind:
  // finish the move (the snapshot is committed, so the log start may pass it).
  if (latest->offset > log_->log_end_offset()) {
    if (auto reset = log_->reset_to(latest->offset); !reset) {
      return unexpected(fmt::format("{}: starting the log after snapshot {}: {}", directory,
                                    snapshot_file_name(*latest),
                                    storage::to_string(reset.error())));
    }
  } else if (latest->offset > start) {
    log_->set_high_watermark(latest->offset);
    if (auto deleted = log_->delete_records(latest->offset); !deleted) {
      return unexpected(fmt::format("{}: moving the log start to snapshot {}: {}", directory,
                                    snapshot_file_name(*latest),
                                    storage::to_string(deleted.error())));
    }
  }
  VERIFY(log_->log_start_offset() == latest->offset);
  remove_older_snapshots();
  return {};
}

void RaftNode::remove_older_snapshots() {
  if (!latest_snapshot_) return;
  const std::string directory = log_directory();
  auto names = env_.disk.list(directory);
  if (!names) return;
  for (const std::string& name : *names) {
    const auto id = parse_snapshot_file_name(name);
    // Best effort: a file left behind is removed at the next start.
    if (id && id->offset < latest_snapshot_->offset) (void)env_.disk.remove(join(directory, name));
  }
}

Result<void, std::string> RaftNode::create_snapshot(Offset end, std::span<const uint8_t> payload) {
  runtime::MutexGuard guard(snapshot_mutex_);
  if (stopping_ || failed_.is_set()) return unexpected(std::string("the raft node is stopping"));
  if (end <= log_start().offset) return {};
  if (end > core_->high_watermark()) {
    return unexpected(fmt::format("a snapshot at {} is beyond the high watermark {}", end,
                                  core_->high_watermark()));
  }
  // The epoch of the last entry the snapshot covers, from the log's epoch cache.
  std::optional<Epoch> epoch;
  for (const auto& entry : log_->leader_epochs()) {
    if (entry.start_offset < end) epoch = entry.epoch;
  }
  if (!epoch) return unexpected(fmt::format("no epoch is known for offset {}", end - 1));
  const SnapshotId id{end, *epoch};
  const protocol::Bytes file = frame_snapshot(payload, env_.clock.wall_now().milliseconds);
  if (auto written = storage::write_file_atomically(env_.disk, log_directory(),
                                                    snapshot_file_name(id), to_text(file));
      !written) {
    return unexpected(fmt::format("writing snapshot {}: {}", snapshot_file_name(id),
                                  storage::to_string(written.error())));
  }
  {
    runtime::MutexGuard log_guard(log_mutex_);
    if (stopping_) return unexpected(std::string("the raft node is stopping"));
    log_->set_high_watermark(core_->high_watermark());
    if (auto deleted = log_->delete_records(end); !deleted) {
      fail(fmt::format("moving the metadata log start to {}: {}", end,
                       storage::to_string(deleted.error())));
      return unexpected(failure_);
    }
    latest_snapshot_ = id;
    log_changed();
  }
  if (settings_.on_snapshot) settings_.on_snapshot(id, false);
  remove_older_snapshots();
  after_input();
  return {};
}

Result<std::optional<std::pair<SnapshotId, record::Bytes>>, std::string> RaftNode::read_snapshot() {
  using Found = std::optional<std::pair<SnapshotId, record::Bytes>>;
  std::optional<SnapshotId> reading;
  int attempt = 0;
  while (true) {
    if (!latest_snapshot_) return Found{};
    const SnapshotId id = *latest_snapshot_;
    if (reading != id) attempt = 0;  // a newer snapshot gets attempts of its own
    reading = id;
    attempt++;
    auto text = storage::read_whole_file(env_.disk, join(log_directory(), snapshot_file_name(id)));
    if (text) {
      // A bit flipped on the way from disk fails a CRC: read again.
      if (auto payload = snapshot_payload(to_bytes(*text))) {
        return Found{{id, record::Bytes(payload->begin(), payload->end())}};
      }
    }
    // The snapshot may also have been replaced meanwhile: the loop looks again.
    if (attempt == kSnapshotReadAttempts && latest_snapshot_ == id) {
      return unexpected(
          fmt::format("snapshot {} is unreadable or damaged", snapshot_file_name(id)));
    }
  }
}

void RaftNode::fetch_snapshot(rpc::Connection& connection, const FetchRequest& sent,
                              SnapshotId id) {
  protocol::Bytes file;
  int64_t size = -1;
  while (!stopping_ && static_cast<int64_t>(file.size()) != size) {
    // Buggify: small chunks, so a download spans many requests (and elections).
    const int32_t max_bytes = env_.buggify.fire() ? 256 : settings_.fetch_max_bytes;
    const SnapshotChunkRequest request{settings_.core.self, core_->epoch(), id,
                                       static_cast<int64_t>(file.size())};
    auto response = connection.send_and_wait(to_wire(request, settings_.cluster_id, max_bytes));
    if (stopping_) return;
    const auto* body =
        response ? std::get_if<protocol::FetchSnapshotResponse>(response->get()) : nullptr;
    std::span<const uint8_t> bytes;
    const auto chunk = body ? from_wire(*body, bytes) : std::nullopt;
    if (!chunk) {
      connection.close();
      return;
    }
    // A new leader, another snapshot, a stale position: start over with a fetch.
    if (chunk->error != ErrorCode::none || chunk->id != id || chunk->position != request.position ||
        chunk->size > kSnapshotBytesMax || (size >= 0 && chunk->size != size) ||
        chunk->position + static_cast<int64_t>(bytes.size()) > chunk->size ||
        (bytes.empty() && chunk->position < chunk->size)) {
      return;
    }
    size = chunk->size;
    file.insert(file.end(), bytes.begin(), bytes.end());
  }
  if (!stopping_) install_snapshot(sent, id, file);
}

void RaftNode::install_snapshot(const FetchRequest& sent, SnapshotId id,
                                const protocol::Bytes& file) {
  // Damaged on the way (the CRCs fail): the next fetch asks again.
  if (!snapshot_payload(file)) return;
  runtime::MutexGuard guard(snapshot_mutex_);
  runtime::MutexGuard log_guard(log_mutex_);
  if (stopping_ || failed_.is_set() || core_->is_leader() ||
      log_->log_end_offset() != sent.fetch_offset ||
      (latest_snapshot_ && latest_snapshot_->offset >= id.offset)) {
    return;
  }
  // The file first: once it is durable the log may start after it (a crash in between
  // is finished by recover_snapshots).
  if (auto written = storage::write_file_atomically(env_.disk, log_directory(),
                                                    snapshot_file_name(id), to_text(file));
      !written) {
    return;  // nothing changed; the next fetch tries again
  }
  if (auto reset = log_->reset_to(id.offset); !reset) {
    fail(fmt::format("starting the metadata log after snapshot {}: {}", snapshot_file_name(id),
                     storage::to_string(reset.error())));
    return;
  }
  latest_snapshot_ = id;
  log_changed();
  if (settings_.on_snapshot) settings_.on_snapshot(id, true);
  remove_older_snapshots();
}

protocol::ResponseBody RaftNode::serve_fetch_snapshot(const protocol::FetchSnapshotRequest& wire) {
  const auto request = from_wire(wire);
  if (!request) {
    protocol::FetchSnapshotResponse response;
    response.error_code = protocol::error_value(ErrorCode::invalid_request);
    return response;
  }
  SnapshotChunk chunk;
  chunk.epoch = core_->epoch();
  chunk.leader = core_->leader();
  chunk.id = request->id;
  chunk.position = request->position;
  if (request->current_leader_epoch > core_->epoch()) {
    chunk.error = ErrorCode::unknown_leader_epoch;
  } else if (!core_->is_leader()) {
    chunk.error = ErrorCode::not_leader_or_follower;
  } else if (request->current_leader_epoch < core_->epoch()) {
    chunk.error = ErrorCode::fenced_leader_epoch;
  } else if (latest_snapshot_ != request->id) {
    chunk.error = ErrorCode::snapshot_not_found;
  }
  if (chunk.error != ErrorCode::none) return to_wire(chunk, {});
  const std::string path = join(log_directory(), snapshot_file_name(request->id));
  auto file = env_.disk.open(path, runtime::OpenMode::read_write);
  auto size = file ? (*file)->size() : runtime::IoResult<uint64_t>(unexpected(file.error()));
  if (!size) {
    chunk.error = ErrorCode::snapshot_not_found;  // replaced by a newer one meanwhile
    return to_wire(chunk, {});
  }
  chunk.size = static_cast<int64_t>(*size);
  if (request->position > chunk.size) {
    chunk.error = ErrorCode::position_out_of_range;
    return to_wire(chunk, {});
  }
  const int64_t want = std::min<int64_t>(chunk.size - request->position,
                                         std::clamp(wire.max_bytes, 1, settings_.fetch_max_bytes));
  protocol::Bytes bytes(static_cast<size_t>(want));
  auto read = (*file)->read_at(static_cast<uint64_t>(request->position),
                               {reinterpret_cast<std::byte*>(bytes.data()), bytes.size()});
  (*file)->close();
  if (!read) {
    chunk.error = ErrorCode::kafka_storage_error;
    return to_wire(chunk, {});
  }
  bytes.resize(*read);
  return to_wire(chunk, std::move(bytes));
}

// --- Peers ------------------------------------------------------------------------------------

Result<std::shared_ptr<rpc::Connection>, std::string> RaftNode::connect(ReplicaId id) {
  auto [it, inserted] = peers_.try_emplace(id, nullptr);
  if (inserted) it->second = std::make_unique<Peer>(env_.scheduler);
  Peer& peer = *it->second;
  runtime::MutexGuard guard(peer.connecting);
  if (peer.control && peer.control->is_open()) return peer.control;
  if (stopping_) return unexpected(std::string("stopping"));
  rpc::ConnectionOptions options;
  options.client_id = fmt::format("raft-{}", settings_.core.self.value());
  options.connect_timeout = settings_.request_timeout;
  options.request_timeout = settings_.request_timeout;
  auto opened = rpc::Connection::connect(env_, settings_.voter_addresses.at(id), options);
  if (!opened) return unexpected(fmt::format("connecting to voter {}", id));
  peer.control = std::move(*opened);
  return peer.control;
}

void RaftNode::send(Envelope envelope) {
  spawn("raft-send", [this, envelope = std::move(envelope)] {
    auto connection = connect(envelope.to);
    if (!connection || stopping_) return;
    if (const auto* vote = std::get_if<VoteRequest>(&envelope.message)) {
      auto response = (*connection)->send_and_wait(to_wire(*vote, settings_.cluster_id));
      const auto* body = response ? std::get_if<protocol::VoteResponse>(response->get()) : nullptr;
      const auto decoded = body ? from_wire(*body) : std::nullopt;
      if (!decoded || stopping_) return;
      core_->on_vote_response(envelope.to, *vote, *decoded, env_.clock.now());
    } else if (const auto* begin = std::get_if<BeginEpochRequest>(&envelope.message)) {
      auto response = (*connection)->send_and_wait(to_wire(*begin, settings_.cluster_id));
      const auto* body =
          response ? std::get_if<protocol::BeginQuorumEpochResponse>(response->get()) : nullptr;
      const auto decoded = body ? from_wire(*body) : std::nullopt;
      if (!decoded || stopping_) return;
      core_->on_begin_epoch_response(envelope.to, *decoded, env_.clock.now());
    } else {
      const auto& end = std::get<EndEpochRequest>(envelope.message);
      (void)(*connection)->send_and_wait(to_wire(end, settings_.cluster_id));
      return;
    }
    after_input();
  });
}

// --- Serving peers -----------------------------------------------------------------------------

bool RaftNode::serves(int16_t api_key) {
  using protocol::ApiKey;
  switch (static_cast<ApiKey>(api_key)) {
    case ApiKey::vote:
    case ApiKey::begin_quorum_epoch:
    case ApiKey::end_quorum_epoch:
    case ApiKey::fetch:
    case ApiKey::fetch_snapshot:
    case ApiKey::describe_quorum: return true;
    default: return false;
  }
}

namespace {
template <typename Response>
Response top_level_error(ErrorCode error) {
  Response response;
  response.error_code = protocol::error_value(error);
  return response;
}
}  // namespace

// BeginQuorumEpoch and EndQuorumEpoch alike: check, step the core, persist, answer.
template <typename Response, typename Wire, typename Step, typename Encode>
protocol::ResponseBody RaftNode::answer_epoch_request(const Wire& wire, bool wrong_cluster,
                                                      Step step, Encode encode) {
  if (wrong_cluster) return top_level_error<Response>(ErrorCode::inconsistent_cluster_id);
  const auto request = from_wire(wire);
  if (!request) return top_level_error<Response>(ErrorCode::invalid_request);
  const EpochResponse response = step(*request);
  after_input();
  return encode(response);
}

protocol::ResponseBody RaftNode::handle(const protocol::RequestHeader& header,
                                        const protocol::RequestBody& body) {
  (void)header;
  const Instant now = env_.clock.now();
  auto wrong_cluster = [&](const std::optional<std::string>& cluster) {
    return cluster && !cluster->empty() && *cluster != settings_.cluster_id;
  };
  if (const auto* vote = std::get_if<protocol::VoteRequest>(&body)) {
    if (wrong_cluster(vote->cluster_id)) {
      return top_level_error<protocol::VoteResponse>(ErrorCode::inconsistent_cluster_id);
    }
    const auto request = from_wire(*vote);
    if (!request) return top_level_error<protocol::VoteResponse>(ErrorCode::invalid_request);
    const VoteResponse response = core_->on_vote_request(*request, now);
    if (settings_.core.flaws.vote_before_persist) {
      // The planted bug: the answer leaves before the vote is on disk, which a
      // write-behind of the quorum state (flushed within 200 ms) would do.
      spawn("raft-late-persist", [this] {
        env_.scheduler.sleep_for(runtime::milliseconds(random_.between(1, 200)));
        after_input();
      });
    } else {
      after_input();
      if (core_->quorum_state() != persisted_) {
        return top_level_error<protocol::VoteResponse>(ErrorCode::kafka_storage_error);
      }
    }
    if (response.granted && !request->pre_vote && settings_.on_vote_granted) {
      settings_.on_vote_granted(request->candidate_epoch, request->candidate);
    }
    return to_wire(response);
  }
  if (const auto* begin = std::get_if<protocol::BeginQuorumEpochRequest>(&body)) {
    return answer_epoch_request<protocol::BeginQuorumEpochResponse>(
        *begin, wrong_cluster(begin->cluster_id),
        [&](const BeginEpochRequest& request) { return core_->on_begin_epoch(request, now); },
        to_begin_epoch_wire);
  }
  if (const auto* end = std::get_if<protocol::EndQuorumEpochRequest>(&body)) {
    return answer_epoch_request<protocol::EndQuorumEpochResponse>(
        *end, wrong_cluster(end->cluster_id),
        [&](const EndEpochRequest& request) { return core_->on_end_epoch(request, now); },
        to_end_epoch_wire);
  }
  if (const auto* fetch_request = std::get_if<protocol::FetchRequest>(&body)) {
    if (wrong_cluster(fetch_request->cluster_id)) {
      return top_level_error<protocol::FetchResponse>(ErrorCode::inconsistent_cluster_id);
    }
    return fetch(*fetch_request);
  }
  if (const auto* snapshot = std::get_if<protocol::FetchSnapshotRequest>(&body)) {
    if (wrong_cluster(snapshot->cluster_id)) {
      return top_level_error<protocol::FetchSnapshotResponse>(ErrorCode::inconsistent_cluster_id);
    }
    return serve_fetch_snapshot(*snapshot);
  }
  if (std::holds_alternative<protocol::DescribeQuorumRequest>(body)) return describe_quorum();
  VERIFY(false, "RaftNode::handle called for an api it does not serve");
  return protocol::ResponseBody{};
}

protocol::ResponseBody RaftNode::fetch(const protocol::FetchRequest& wire) {
  const auto request = from_wire(wire);
  if (!request) return top_level_error<protocol::FetchResponse>(ErrorCode::invalid_request);
  const auto max_wait = runtime::milliseconds(std::clamp(wire.max_wait_ms, 0, 5000));
  const Instant deadline = env_.clock.now() + max_wait;
  const auto max_bytes = static_cast<size_t>(std::max(wire.max_bytes, 1));
  while (true) {
    const FetchDecision decision = core_->on_fetch_request(*request, env_.clock.now());
    after_input();
    // A caught-up fetch waits (long poll) for new entries or a new high watermark,
    // which followers need to commit.
    const bool caught_up = decision.error == ErrorCode::none && !decision.diverging &&
                           decision.read_from && *decision.read_from == core_->log_end();
    if (caught_up && !stopping_ && env_.clock.now() < deadline) {
      const Offset end = core_->log_end();
      const Offset high_watermark = core_->high_watermark();
      const Epoch epoch = core_->epoch();
      while (core_->log_end() == end && core_->high_watermark() == high_watermark &&
             core_->epoch() == epoch && !stopping_ && env_.clock.now() < deadline) {
        wait_change(deadline);
      }
      if (core_->log_end() != end || core_->high_watermark() != high_watermark) continue;
    }
    protocol::Bytes records;
    if (decision.read_from && *decision.read_from < core_->log_end()) {
      auto read = log_->read(*decision.read_from, max_bytes);
      // A snapshot moved the log start past it meanwhile: decide again (the fetcher
      // is sent the snapshot). Any other failure is the log's: answer with an error.
      if (!read && read.error() == storage::StorageError::offset_out_of_range &&
          *decision.read_from < core_->log_start().offset) {
        continue;
      }
      if (!read) {
        FetchDecision failed = decision;
        failed.error = ErrorCode::kafka_storage_error;
        failed.read_from.reset();
        return to_wire(failed, {});
      }
      records = std::move(*read);
    }
    FetchDecision answered = decision;
    answered.high_watermark = core_->high_watermark();
    return to_wire(answered, std::move(records));
  }
}

protocol::DescribeQuorumResponse RaftNode::describe_quorum() {
  protocol::DescribeQuorumResponse response;
  protocol::DescribeQuorumResponse::TopicData topic;
  topic.topic_name = metadata_topic;
  protocol::DescribeQuorumResponse::PartitionData partition;
  partition.partition_index = 0;
  if (!core_->is_leader()) {
    partition.error_code = protocol::error_value(ErrorCode::not_leader_or_follower);
  }
  partition.leader_id = core_->leader() ? core_->leader()->value() : -1;
  partition.leader_epoch = core_->epoch().value();
  partition.high_watermark = core_->high_watermark().value();
  // Kafka reports fetch times as wall-clock milliseconds; the core keeps monotonic
  // instants, so convert by the current offset between the two clocks.
  const Instant now = env_.clock.now();
  const int64_t wall_now = env_.clock.wall_now().milliseconds;
  auto to_wall = [&](const std::optional<Instant>& at) -> int64_t {
    if (!at) return -1;
    return wall_now - std::chrono::duration_cast<runtime::milliseconds>(now - *at).count();
  };
  auto row = [&](const ReplicaProgress& progress) {
    protocol::DescribeQuorumResponse::ReplicaState state;
    state.replica_id = progress.replica.value();
    state.log_end_offset = progress.end_offset.value();
    state.last_fetch_timestamp =
        progress.replica == settings_.core.self ? wall_now : to_wall(progress.last_fetch);
    state.last_caught_up_timestamp =
        progress.replica == settings_.core.self ? wall_now : to_wall(progress.last_caught_up);
    return state;
  };
  for (const auto& progress : core_->voter_progress())
    partition.current_voters.push_back(row(progress));
  for (const auto& progress : core_->observer_progress())
    partition.observers.push_back(row(progress));
  topic.partitions.push_back(std::move(partition));
  response.topics.push_back(std::move(topic));
  // Where each voter listens (v2, KIP-853): a follower's answer names the leader, and
  // with this a tool asked of the follower can go on to the leader.
  for (const auto& [id, address] : settings_.voter_addresses) {
    auto& node = response.nodes.emplace_back();
    node.node_id = id.value();
    auto& listener = node.listeners.emplace_back();
    listener.name = settings_.listener_name;
    listener.host = address.host;
    listener.port = address.port;
  }
  return response;
}

}  // namespace weir::raft
