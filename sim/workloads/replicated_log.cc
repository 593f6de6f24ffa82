#include "sim/workloads/replicated_log.h"

#include <algorithm>
#include <cstring>
#include <deque>
#include <optional>
#include <utility>
#include <vector>

#include <absl/container/btree_map.h>
#include <fmt/format.h>

#include "base/assert.h"
#include "runtime/sync.h"
#include "sim/checkers/log.h"

namespace weir::sim {

using runtime::Duration;
using runtime::Instant;
using runtime::IoError;
using runtime::milliseconds;
using runtime::seconds;

namespace {

constexpr uint16_t port = 9000;
constexpr size_t replica_count = 3;
constexpr size_t majority = replica_count / 2 + 1;
constexpr uint64_t entry_bytes = 32;
constexpr uint32_t frame_bytes_max = 1 << 20;
constexpr size_t append_entries_max = 64;
constexpr int read_attempts_max = 8;
constexpr const char* log_directory = "replica";
constexpr const char* log_path = "replica/log";

std::string replica_host(size_t index) { return fmt::format("r{}", index); }
constexpr const char* client_host = "client";

// --- The shared history: what clients and replicas observed, for the checkers. -------

struct Receipt {
  std::string from;
  std::string to;
  Instant sent;
};

class ReplicaProcess;

// The client's writes and reads are a checkers::LogHistory of one partition whose
// offsets are the log's indexes (from 1): a write is invoked with the next unique value
// and completes ok (with the index the leader stored it at), failed (refused, or never
// sent) or unknown (no answer: it may or may not be in the log); a read records the
// index asked for, the value and the replica that answered. check() adds the leader's
// log after the final power loss as the final log, and the log checkers judge
// durability, integrity and reads (sim/checkers/log.h). Receipts, for the partition
// check, and the replicas, for agreement, are this workload's own.
//
// Line numbers matter in this file: buggify sites are keyed by (file, line), so moving
// the one in the leader's replication loop (a 300 ms stall after a follower's answer)
// reshuffles which seeds fire it, and with it every such seed's run. This history was
// fifteen lines longer before its checkers moved to sim/checkers/; this comment keeps
// the site on its line, so each seed's trace hash, and the figures in docs/sim.md
// measured with them, stay as they were. Editing above the site moves it again: do it
// on purpose, and expect the seeds' runs to change.
//
struct History {
  checkers::LogHistory log;
  std::vector<Receipt> receipts;
  uint64_t next_value = 1;
  uint64_t max_acked_index = 0;
  bool quiesced = false;
  Instant healed_at = Instant::max();
  // The live replica processes, by replica index (null while down).
  ReplicaProcess* replicas[replica_count] = {};

  size_t invoke_write(Instant now) {
    log.writes.push_back(checkers::LogWrite{.value = next_value++, .invoked = now});
    return log.writes.size() - 1;
  }
  void complete_write(size_t op, Outcome outcome, uint64_t index = 0) {
    checkers::LogWrite& write = log.writes.at(op);
    VERIFY(write.outcome == Outcome::pending);
    write.outcome = outcome;
    if (outcome == Outcome::ok) {
      write.offset = static_cast<int64_t>(index);
      max_acked_index = std::max(max_acked_index, index);
    }
  }
};

// --- Wire format: [u32 length][u8 type][u8 sender][i64 sent_ns][fields...] ------------

enum class Type : uint8_t {
  write = 1,
  write_ok,
  write_fail,
  read,
  read_ok,
  read_fail,
  append,
  append_ack,
};

struct Frame {
  Type type{};
  uint8_t sender = 0;
  Instant sent;
  std::vector<uint64_t> fields;
};

// Hosts by a small number, so frames can name their sender.
uint8_t host_number(const std::string& host) {
  if (host == client_host) return 255;
  VERIFY(host.size() >= 2 && host[0] == 'r');
  return static_cast<uint8_t>(host[1] - '0');
}
std::string host_name(uint8_t number) {
  return number == 255 ? std::string(client_host) : replica_host(number);
}

void put_u64(std::vector<std::byte>& out, uint64_t value) {
  for (int i = 0; i < 8; i++) out.push_back(static_cast<std::byte>(value >> (8 * i)));
}
uint64_t get_u64(const std::byte* in) {
  uint64_t value = 0;
  for (int i = 0; i < 8; i++) value |= static_cast<uint64_t>(in[i]) << (8 * i);
  return value;
}

std::vector<std::byte> encode(const Frame& frame) {
  std::vector<std::byte> out;
  const auto length = static_cast<uint32_t>(1 + 1 + 8 + 8 * frame.fields.size());
  for (int i = 0; i < 4; i++) out.push_back(static_cast<std::byte>(length >> (8 * i)));
  out.push_back(static_cast<std::byte>(frame.type));
  out.push_back(static_cast<std::byte>(frame.sender));
  put_u64(out, static_cast<uint64_t>(frame.sent.nanoseconds()));
  for (uint64_t field : frame.fields) put_u64(out, field);
  return out;
}

// Reads one frame; nullopt when the stream ends or breaks, or the frame is malformed.
std::optional<Frame> read_frame(runtime::Stream& stream) {
  std::byte header[4];
  if (!stream.read_exactly(header)) return std::nullopt;
  uint32_t length = 0;
  for (int i = 0; i < 4; i++) length |= static_cast<uint32_t>(header[i]) << (8 * i);
  if (length < 10 || length > frame_bytes_max || (length - 10) % 8 != 0) return std::nullopt;
  std::vector<std::byte> body(length);
  if (!stream.read_exactly(body)) return std::nullopt;
  Frame frame;
  frame.type = static_cast<Type>(body[0]);
  frame.sender = static_cast<uint8_t>(body[1]);
  frame.sent = Instant::from_nanoseconds(static_cast<int64_t>(get_u64(&body[2])));
  for (size_t at = 10; at < length; at += 8) frame.fields.push_back(get_u64(&body[at]));
  return frame;
}

// A connection whose frames are read by a fiber of its own into an inbox, so that the
// owner can wait for a reply with a deadline. Closing the stream ends the reader.
class Peer {
 public:
  static std::shared_ptr<Peer> start(runtime::Env& env, History& history,
                                     std::unique_ptr<runtime::Stream> stream,
                                     std::string local_host) {
    auto peer = std::shared_ptr<Peer>(new Peer(env, std::move(stream), std::move(local_host)));
    env.scheduler.spawn("peer-reader", [peer, &history] {
      while (auto frame = read_frame(*peer->stream_)) {
        history.receipts.push_back(
            Receipt{host_name(frame->sender), peer->local_host_, frame->sent});
        if (!peer->inbox_.send(std::move(*frame))) break;
      }
      peer->inbox_.close();
    });
    return peer;
  }
  ~Peer() { stream_->close(); }

  bool send(Frame frame) {
    if (inbox_.closed()) return false;
    runtime::MutexGuard guard(write_lock_);
    return stream_->write_all(encode(frame)).ok();
  }
  std::optional<Frame> receive_until(Instant deadline) {
    auto got = inbox_.receive_until(deadline);
    if (auto* frame = std::get_if<Frame>(&got)) return std::move(*frame);
    return std::nullopt;
  }
  void close() {
    stream_->close();
    inbox_.close();
  }
  bool closed() const { return inbox_.closed(); }

 private:
  Peer(runtime::Env& env, std::unique_ptr<runtime::Stream> stream, std::string local_host)
      : stream_(std::move(stream)), inbox_(env.scheduler, 64), write_lock_(env.scheduler),
        local_host_(std::move(local_host)) {}
  std::unique_ptr<runtime::Stream> stream_;
  runtime::Channel<Frame> inbox_;
  runtime::Mutex write_lock_;
  std::string local_host_;
};

// --- Log entries on disk: [u64 index][u64 value][u64 reserved][u64 checksum] ----------

uint64_t entry_checksum(uint64_t index, uint64_t value) {
  uint64_t h = 0x9ae16a3b2f90404fULL;
  for (uint64_t word : {index, value}) {
    h ^= word;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
  }
  return h;
}

std::vector<std::byte> encode_entry(uint64_t index, uint64_t value) {
  std::vector<std::byte> out;
  put_u64(out, index);
  put_u64(out, value);
  put_u64(out, 0);
  put_u64(out, entry_checksum(index, value));
  VERIFY(out.size() == entry_bytes);
  return out;
}

// --- A replica ----------------------------------------------------------------------

class ReplicaProcess final : public Process {
 public:
  ReplicaProcess(NodeContext& context, History& history, const Flaws& flaws, size_t index)
      : context_(context), env_(context.env), history_(history), flaws_(flaws), index_(index),
        host_(replica_host(index)), append_lock_(env_.scheduler) {
    VERIFY(history_.replicas[index_] == nullptr);
    history_.replicas[index_] = this;
  }
  ~ReplicaProcess() override {
    VERIFY(history_.replicas[index_] == this);
    history_.replicas[index_] = nullptr;
  }

  const std::vector<uint64_t>& values() const { return values_; }
  uint64_t commit_index() const { return commit_index_; }
  bool recovered() const { return recovered_; }

  void run() override {
    recover();
    auto listener = env_.network.listen({host_, port});
    if (!listener) context_.panic(fmt::format("listen: {}", to_string(listener.error())));
    if (is_leader()) {
      env_.scheduler.spawn("flusher", [this] { flush_loop(); });
      for (size_t follower = 1; follower < replica_count; follower++) {
        env_.scheduler.spawn(fmt::format("replicate-{}", follower),
                             [this, follower] { replicate_loop(follower); });
      }
    }
    while (true) {
      auto stream = (*listener)->accept();
      if (!stream) context_.panic("accept failed");
      auto peer = Peer::start(env_, history_, std::move(*stream), host_);
      env_.scheduler.spawn("serve", [this, peer] { serve(peer); });
    }
  }

 private:
  bool is_leader() const { return index_ == 0; }

  // Reads the log back from disk, keeping the longest prefix of valid entries.
  void recover() {
    if (!env_.disk.make_directories(log_directory)) context_.panic("mkdir failed");
    auto file = env_.disk.open(log_path, runtime::OpenMode::create);
    if (!file) context_.panic(fmt::format("open: {}", to_string(file.error())));
    file_ = std::move(*file);
    if (!env_.disk.sync_directory(log_directory)) context_.panic("directory sync failed");
    auto size = file_->size();
    if (!size) context_.panic("size failed");
    const uint64_t stored = *size / entry_bytes;
    values_.clear();
    for (uint64_t index = 1; index <= stored; index++) {
      auto value = read_entry(index);
      if (!value) break;  // torn or never written: the valid prefix ends here
      values_.push_back(*value);
    }
    // What we just read may be only in the page cache: after a failed fsync Linux marks
    // the dirty pages clean without writing them, so a later fsync would not persist
    // them either (fsyncgate). Write the valid prefix back and fsync it before counting
    // any of it as durable.
    if (!file_->truncate(values_.size() * entry_bytes)) context_.panic("truncate failed");
    std::vector<std::byte> prefix;
    prefix.reserve(values_.size() * entry_bytes);
    for (uint64_t index = 1; index <= values_.size(); index++) {
      const auto entry = encode_entry(index, values_[index - 1]);
      prefix.insert(prefix.end(), entry.begin(), entry.end());
    }
    if (!prefix.empty() && !file_->write_at(0, prefix)) context_.panic("rewrite failed");
    if (!file_->sync()) context_.panic("fsync failed");
    durable_length_ = values_.size();
    recovered_ = true;
    VERIFY(durable_length_ == values_.size());
  }

  // Reads entry `index` from disk and verifies it. A checksum mismatch may be a
  // transient read corruption, so it is re-read before the entry is declared bad.
  std::optional<uint64_t> read_entry(uint64_t index) {
    VERIFY(index >= 1);
    std::byte buffer[entry_bytes];
    for (int attempt = 0; attempt < read_attempts_max; attempt++) {
      auto got = file_->read_at((index - 1) * entry_bytes, buffer);
      if (!got) continue;  // EIO: try again
      if (*got != entry_bytes) return std::nullopt;
      const uint64_t stored_index = get_u64(&buffer[0]);
      const uint64_t value = get_u64(&buffer[8]);
      const uint64_t checksum = get_u64(&buffer[24]);
      if (flaws_.skip_checksum) return value;
      if (stored_index == index && checksum == entry_checksum(index, value)) return value;
    }
    return std::nullopt;
  }

  // Appends or overwrites entry `index`; false if the disk refused.
  bool write_entry(uint64_t index, uint64_t value) {
    VERIFY(index >= 1 && index <= values_.size() + 1);
    if (!file_->write_at((index - 1) * entry_bytes, encode_entry(index, value))) return false;
    if (index == values_.size() + 1) {
      values_.push_back(value);
    } else {
      values_[index - 1] = value;
    }
    return true;
  }

  void truncate_to(uint64_t length) {
    VERIFY(length <= values_.size());
    VERIFY(length >= commit_index_, "truncating committed entries: {} < {}", length, commit_index_);
    if (length == values_.size()) return;
    if (!file_->truncate(length * entry_bytes)) context_.panic("truncate failed");
    values_.resize(length);
    durable_length_ = std::min(durable_length_, length);
  }

  void send_reply(Peer& peer, Type type, std::vector<uint64_t> fields) {
    peer.send(Frame{type, host_number(host_), env_.clock.now(), std::move(fields)});
  }

  void serve(std::shared_ptr<Peer> peer) {
    while (auto frame = peer->receive_until(Instant::max())) {
      switch (frame->type) {
        case Type::write: handle_write(peer, *frame); break;
        case Type::read: handle_read(*peer, *frame); break;
        case Type::append: handle_append(*peer, *frame); break;
        default: peer->close(); return;
      }
    }
  }

  void handle_write(const std::shared_ptr<Peer>& peer, const Frame& frame) {
    if (frame.fields.size() != 2) return peer->close();
    const uint64_t request = frame.fields[0];
    if (!is_leader()) return send_reply(*peer, Type::write_fail, {request});
    // Disk writes suspend: without the lock two writes would pick the same index.
    runtime::MutexGuard guard(append_lock_);
    const uint64_t index = values_.size() + 1;
    if (!write_entry(index, frame.fields[1])) {
      return send_reply(*peer, Type::write_fail, {request});
    }
    if (flaws_.ack_before_fsync) {
      send_reply(*peer, Type::write_ok, {request, index});
    } else {
      waiting_.emplace(index, Waiting{peer, request});
    }
    changed_.notify_all();
  }

  void handle_read(Peer& peer, const Frame& frame) {
    if (frame.fields.size() != 2) return peer.close();
    const uint64_t request = frame.fields[0];
    const uint64_t index = frame.fields[1];
    if (index == 0 || index > commit_index_ || index > values_.size()) {
      return send_reply(peer, Type::read_fail, {request});
    }
    auto value = read_entry(index);
    if (!value) return send_reply(peer, Type::read_fail, {request});
    send_reply(peer, Type::read_ok, {request, index, *value});
  }

  // Follower side of replication: fields are prev_index, prev_value, commit, values...
  void handle_append(Peer& peer, const Frame& frame) {
    if (frame.fields.size() < 3 || is_leader()) return peer.close();
    const uint64_t prev_index = frame.fields[0];
    const uint64_t prev_value = frame.fields[1];
    const uint64_t leader_commit = frame.fields[2];
    const uint64_t count = frame.fields.size() - 3;
    runtime::MutexGuard guard(append_lock_);
    if (prev_index > values_.size()) {
      return send_reply(peer, Type::append_ack, {0, values_.size()});
    }
    if (prev_index > 0 && values_[prev_index - 1] != prev_value) {
      return send_reply(peer, Type::append_ack, {0, prev_index - 1});
    }
    for (uint64_t i = 0; i < count; i++) {
      const uint64_t index = prev_index + 1 + i;
      const uint64_t value = frame.fields[3 + i];
      if (index <= values_.size() && values_[index - 1] == value) continue;
      if (index <= values_.size()) truncate_to(index - 1);
      if (!write_entry(index, value)) {
        return send_reply(peer, Type::append_ack, {0, values_.size()});
      }
    }
    if (!file_->sync()) context_.panic("fsync failed");
    durable_length_ = values_.size();
    const uint64_t matched = prev_index + count;
    // What the leader calls committed is ours to serve only up to what we just matched.
    commit_index_ = std::max(commit_index_, std::min(leader_commit, matched));
    VERIFY(commit_index_ <= values_.size());
    send_reply(peer, Type::append_ack, {1, matched});
  }

  // Leader: group commit. Every fsync covers every write made before it started.
  void flush_loop() {
    while (true) {
      while (durable_length_ == values_.size()) {
        changed_.add(env_.scheduler.prepare_wait());
        env_.scheduler.suspend();
      }
      // The flawed design acknowledges on write and flushes on a timer, as a periodic
      // flush policy would; the correct one flushes as soon as there is anything to.
      if (flaws_.ack_before_fsync) env_.scheduler.sleep_for(milliseconds(200));
      const uint64_t target = values_.size();
      if (!file_->sync()) context_.panic("fsync failed");
      durable_length_ = std::max(durable_length_, std::min<uint64_t>(target, values_.size()));
      advance_commit();
    }
  }

  // Leader: one fiber per follower, sending entries from next_index and heartbeats.
  void replicate_loop(size_t follower) {
    uint64_t next_index = values_.size() + 1;
    std::shared_ptr<Peer> peer;
    while (true) {
      if (!peer || peer->closed()) {
        peer.reset();
        auto stream = env_.network.connect({replica_host(follower), port}, milliseconds(500));
        if (!stream) {
          env_.scheduler.sleep_for(milliseconds(100));
          continue;
        }
        peer = Peer::start(env_, history_, std::move(*stream), host_);
      }
      next_index = std::clamp<uint64_t>(next_index, 1, values_.size() + 1);
      const uint64_t prev_index = next_index - 1;
      std::optional<uint64_t> prev_value = 0;
      if (prev_index > 0) prev_value = read_entry(prev_index);
      std::vector<uint64_t> fields = {prev_index, prev_value.value_or(0), commit_index_};
      for (uint64_t index = next_index;
           index <= values_.size() && fields.size() < 3 + append_entries_max; index++) {
        auto value = read_entry(index);
        if (!value) break;
        fields.push_back(*value);
      }
      if (!prev_value) {
        env_.scheduler.sleep_for(milliseconds(10));
        continue;
      }
      const uint64_t sent_through = prev_index + (fields.size() - 3);
      send_reply(*peer, Type::append, std::move(fields));
      auto ack = peer->receive_until(env_.clock.now() + milliseconds(500));
      if (!ack || ack->type != Type::append_ack || ack->fields.size() != 2) {
        peer->close();
        continue;
      }
      if (ack->fields[0] == 1) {
        VERIFY(ack->fields[1] == sent_through);
        match_index_[follower] = std::max(match_index_[follower], ack->fields[1]);
        next_index = ack->fields[1] + 1;
        advance_commit();
      } else {
        next_index = std::min(next_index - 1, ack->fields[1] + 1);
        match_index_[follower] = std::min(match_index_[follower], ack->fields[1]);
      }
      if (env_.buggify.fire()) env_.scheduler.sleep_for(milliseconds(300));
      // Heartbeat pace when idle; straight on when the follower is behind.
      if (next_index > values_.size()) {
        changed_.add(env_.scheduler.prepare_wait());
        env_.scheduler.suspend(env_.clock.now() + milliseconds(50));
      }
    }
  }

  void advance_commit() {
    VERIFY(is_leader());
    for (uint64_t candidate = durable_length_; candidate > commit_index_; candidate--) {
      size_t holders = 1;  // the leader itself: durable_length_ covers it
      for (size_t follower = 1; follower < replica_count; follower++) {
        if (match_index_[follower] >= candidate) holders++;
      }
      if (holders >= majority) {
        commit_index_ = candidate;
        break;
      }
    }
    VERIFY(commit_index_ <= durable_length_);
    while (!waiting_.empty() && waiting_.begin()->first <= commit_index_) {
      auto [index, waiting] = *waiting_.begin();
      waiting_.erase(waiting_.begin());
      send_reply(*waiting.peer, Type::write_ok, {waiting.request, index});
    }
  }

  struct Waiting {
    std::shared_ptr<Peer> peer;
    uint64_t request;
  };

  NodeContext& context_;
  runtime::Env& env_;
  History& history_;
  const Flaws& flaws_;
  size_t index_;
  std::string host_;
  std::unique_ptr<runtime::File> file_;
  std::vector<uint64_t> values_;  // values_[i - 1] is entry i
  uint64_t durable_length_ = 0;
  uint64_t commit_index_ = 0;
  uint64_t match_index_[replica_count] = {};
  bool recovered_ = false;
  absl::btree_map<uint64_t, Waiting> waiting_;
  runtime::WaitQueue changed_;
  // Held by whoever changes the log (appends, overwrites, truncation).
  runtime::Mutex append_lock_;
};

// --- The client ---------------------------------------------------------------------

class ClientProcess final : public Process {
 public:
  ClientProcess(NodeContext& context, History& history) : env_(context.env), history_(history) {}

  void run() override {
    for (int writer = 0; writer < 2; writer++) {
      env_.scheduler.spawn(fmt::format("writer-{}", writer), [this] { write_loop(); });
    }
    for (int reader = 0; reader < 2; reader++) {
      env_.scheduler.spawn(fmt::format("reader-{}", reader), [this] { read_loop(); });
    }
  }

 private:
  std::shared_ptr<Peer> connect(size_t replica) {
    auto stream = env_.network.connect({replica_host(replica), port}, seconds(1));
    if (!stream) return nullptr;
    return Peer::start(env_, history_, std::move(*stream), client_host);
  }

  Frame request(Type type, std::vector<uint64_t> fields) {
    return Frame{type, host_number(client_host), env_.clock.now(), std::move(fields)};
  }

  void write_loop() {
    std::shared_ptr<Peer> leader;
    while (!history_.quiesced) {
      if (!leader || leader->closed()) {
        leader = connect(0);
        if (!leader) {
          env_.scheduler.sleep_for(milliseconds(100));
          continue;
        }
      }
      const size_t op = history_.invoke_write(env_.clock.now());
      const uint64_t value = history_.log.writes[op].value;
      if (!leader->send(request(Type::write, {value, value}))) {
        history_.complete_write(op, Outcome::failed);
        leader.reset();
        continue;
      }
      const Instant deadline = env_.clock.now() + seconds(2);
      bool done = false;
      while (!done) {
        auto reply = leader->receive_until(deadline);
        if (!reply) {
          // Timed out or the connection broke: the write may or may not have happened.
          history_.complete_write(op, Outcome::unknown);
          leader->close();
          leader.reset();
          break;
        }
        if (reply->fields.empty() || reply->fields[0] != value) continue;  // a stale reply
        if (reply->type == Type::write_ok && reply->fields.size() == 2) {
          history_.complete_write(op, Outcome::ok, reply->fields[1]);
        } else {
          history_.complete_write(op, Outcome::failed);
        }
        done = true;
      }
      env_.scheduler.sleep_for(milliseconds(env_.random.between(0, 20)));
    }
  }

  void read_loop() {
    std::shared_ptr<Peer> peers[replica_count];
    uint64_t next_request = 1;
    while (!history_.quiesced) {
      env_.scheduler.sleep_for(milliseconds(env_.random.between(1, 30)));
      if (history_.max_acked_index == 0) continue;
      const size_t replica = env_.random.below(replica_count);
      std::shared_ptr<Peer>& peer = peers[replica];
      if (!peer || peer->closed()) {
        peer = connect(replica);
        if (!peer) continue;
      }
      const uint64_t request_id = next_request++;
      const uint64_t index = 1 + env_.random.below(history_.max_acked_index);
      if (!peer->send(request(Type::read, {request_id, index}))) continue;
      const Instant deadline = env_.clock.now() + seconds(1);
      while (auto reply = peer->receive_until(deadline)) {
        if (reply->fields.empty() || reply->fields[0] != request_id) continue;
        if (reply->type == Type::read_ok && reply->fields.size() == 3) {
          VERIFY(reply->fields[1] == index);
          checkers::record_read(history_.log, {0, static_cast<int64_t>(index)}, reply->fields[2],
                                replica_host(replica), env_.clock.now());
        }
        break;
      }
    }
  }

  runtime::Env& env_;
  History& history_;
};

// --- The workload and its checkers -------------------------------------------------------

class ReplicatedLogWorkload final : public Workload {
 public:
  explicit ReplicatedLogWorkload(const RunOptions& options) : flaws_(options.flaws) {}

  void setup(World& world) override {
    for (size_t replica = 0; replica < replica_count; replica++) {
      world.add_node(replica_host(replica), [this, replica](NodeContext& context) {
        return std::make_unique<ReplicaProcess>(context, history_, flaws_, replica);
      });
    }
    world.add_node(
        client_host,
        [this](NodeContext& context) { return std::make_unique<ClientProcess>(context, history_); },
        NodeOptions{.faulty = false});
  }

  void on_heal(World& world) override { history_.healed_at = world.now(); }
  void quiesce(World&) override { history_.quiesced = true; }

  CheckResult check(World& world) override {
    CheckResult result;
    const ReplicaProcess* leader = history_.replicas[0];
    if (leader == nullptr || !leader->recovered()) {
      result.fail(Verdict::liveness, "the leader did not recover after the final restart");
      return result;
    }
    const std::vector<uint64_t>& log = leader->values();
    // The leader's log is the final log: index i + 1 holds log[i].
    std::vector<std::pair<int64_t, uint64_t>> entries;
    for (size_t i = 0; i < log.size(); i++)
      entries.emplace_back(static_cast<int64_t>(i + 1), log[i]);
    history_.log.final_log.emplace(1, std::move(entries));
    checkers::check_log_durability(history_.log, result);
    checkers::check_log_integrity(history_.log, result);
    checkers::check_log_reads(history_.log, result);
    check_partitions(world, result);
    check_replicas(log, result);
    checkers::check_log_progress(history_.log, history_.healed_at, result);
    size_t unknown = 0;
    for (const checkers::LogWrite& write : history_.log.writes) {
      unknown += write.outcome == Outcome::unknown;
    }
    result.summary =
        fmt::format("writes={} ok={} unknown={} reads={} log={} receipts={}",
                    history_.log.writes.size(), checkers::acknowledged_writes(history_.log),
                    unknown, history_.log.read_count, log.size(), history_.receipts.size());
    return result;
  }

 private:
  // Nothing sent while a link was cut may arrive.
  void check_partitions(World& world, CheckResult& result) const {
    absl::btree_map<std::pair<std::string, std::string>, std::vector<const CutInterval*>> cuts;
    for (const CutInterval& cut : world.network().cut_history()) {
      cuts[{cut.from, cut.to}].push_back(&cut);
    }
    for (const Receipt& receipt : history_.receipts) {
      auto it = cuts.find({receipt.from, receipt.to});
      if (it == cuts.end()) continue;
      for (const CutInterval* cut : it->second) {
        if (receipt.sent >= cut->start && receipt.sent < cut->end) {
          result.fail(Verdict::correctness,
                      fmt::format("a message sent {}->{} at {}s crossed the cut of [{}s, {}s)",
                                  receipt.from, receipt.to, receipt.sent, cut->start,
                                  cut->end == Instant::max() ? cut->start : cut->end));
          break;
        }
      }
    }
  }

  // Followers agree with the leader below their commit index; after the quiet period
  // they hold exactly the leader's log.
  void check_replicas(const std::vector<uint64_t>& log, CheckResult& result) const {
    for (size_t replica = 1; replica < replica_count; replica++) {
      const ReplicaProcess* follower = history_.replicas[replica];
      if (follower == nullptr || !follower->recovered()) {
        result.fail(Verdict::liveness, fmt::format("r{} did not recover", replica));
        continue;
      }
      const std::vector<uint64_t>& theirs = follower->values();
      const uint64_t committed = std::min<uint64_t>(follower->commit_index(), theirs.size());
      for (uint64_t i = 0; i < committed; i++) {
        if (i >= log.size() || theirs[i] != log[i]) {
          result.fail(
              Verdict::correctness,
              fmt::format("r{} diverges from the leader at committed index {}", replica, i + 1));
          break;
        }
      }
      if (theirs != log) {
        result.fail(Verdict::liveness,
                    fmt::format("r{} did not converge: {} entries, the leader has {}", replica,
                                theirs.size(), log.size()));
      }
    }
  }

  Flaws flaws_;
  History history_;
};

}  // namespace

std::unique_ptr<Workload> make_replicated_log_workload(const RunOptions& options) {
  return std::make_unique<ReplicatedLogWorkload>(options);
}

}  // namespace weir::sim
