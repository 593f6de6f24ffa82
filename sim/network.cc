#include "sim/network.h"

#include <algorithm>
#include <cstring>
#include <deque>
#include <utility>

#include <absl/container/btree_map.h>
#include <absl/container/btree_set.h>

#include "base/assert.h"
#include "runtime/sync.h"

namespace weir::sim {

using runtime::Address;
using runtime::Duration;
using runtime::Instant;
using runtime::IoError;
using runtime::IoResult;

namespace {

struct Segment {
  std::vector<std::byte> bytes;
  Instant sent;
  Instant deliver_at;
  bool fin = false;  // the writer closed: end of stream after this
};

// One direction of a connection.
struct Pipe {
  std::string from;
  std::string to;
  std::deque<Segment> in_flight;
  uint64_t in_flight_bytes = 0;
  Instant last_delivery;
  // Delivered bytes not yet read: whole segments, moved in without copying; the first
  // has `read_offset` bytes consumed already.
  std::deque<std::vector<std::byte>> readable;
  size_t read_offset = 0;
  bool eof = false;
  bool pump_scheduled = false;
  runtime::WaitQueue readers;
  runtime::WaitQueue writers;
};

struct Connection {
  uint64_t id = 0;
  // pipes[0] carries client -> server, pipes[1] server -> client.
  Pipe pipes[2];
  bool reset = false;
  bool closed[2] = {false, false};
};

using Link = std::pair<std::string, std::string>;

}  // namespace

struct SimNetwork::State {
  State(runtime::Scheduler& s, runtime::Random r, NetworkTiming t, FaultStats& st, Trace& tr)
      : scheduler(s), random(r), timing(t), stats(st), trace(tr) {}

  runtime::Scheduler& scheduler;
  runtime::Random random;
  NetworkTiming timing;
  FaultStats& stats;
  Trace& trace;
  bool flaw_partition_leak = false;
  double connect_timeout_probability = 0;
  double too_many_open_files_probability = 0;
  // Hosts out of file descriptors, until when.
  absl::btree_map<std::string, Instant> out_of_descriptors_until;

  uint64_t next_connection_id = 1;
  absl::btree_map<uint64_t, std::shared_ptr<Connection>> connections;
  absl::btree_map<Address, class SimListener*> listeners;
  absl::btree_map<std::string, uint16_t> next_ephemeral_port;

  std::vector<CutInterval> history;
  absl::btree_map<Link, size_t> active_cuts;  // link -> index into history
  absl::btree_map<Link, Instant> clogged_until;

  Instant now() const { return scheduler.now(); }

  bool cut_between(const std::string& from, const std::string& to, Instant sent,
                   Instant delivered) const {
    for (const CutInterval& cut : history) {
      if (cut.from == from && cut.to == to && cut.start <= delivered && cut.end > sent) {
        return true;
      }
    }
    return false;
  }

  void reset(Connection& connection, std::string_view why) {
    if (connection.reset) return;
    connection.reset = true;
    trace.note("net.reset", why);
    for (Pipe& pipe : connection.pipes) {
      pipe.in_flight.clear();
      pipe.in_flight_bytes = 0;
      pipe.readable.clear();
      pipe.read_offset = 0;
      pipe.readers.notify_all();
      pipe.writers.notify_all();
    }
    connections.erase(connection.id);
  }

  void schedule_pump(const std::shared_ptr<Connection>& connection, int direction) {
    Pipe& pipe = connection->pipes[direction];
    if (pipe.pump_scheduled || pipe.in_flight.empty()) return;
    pipe.pump_scheduled = true;
    scheduler.schedule_at(pipe.in_flight.front().deliver_at,
                          [this, connection, direction] { pump(connection, direction); });
  }

  // Delivers every due segment of one pipe, in order.
  void pump(const std::shared_ptr<Connection>& connection, int direction) {
    Pipe& pipe = connection->pipes[direction];
    pipe.pump_scheduled = false;
    if (connection->reset) return;
    while (!pipe.in_flight.empty() && pipe.in_flight.front().deliver_at <= now()) {
      Segment& segment = pipe.in_flight.front();
      if (!flaw_partition_leak && cut_between(pipe.from, pipe.to, segment.sent, now())) {
        stats.count("net.partition_drop");
        reset(*connection, "partition");
        return;
      }
      auto clog = clogged_until.find(Link(pipe.from, pipe.to));
      if (clog != clogged_until.end() && clog->second > now()) {
        pipe.pump_scheduled = true;
        scheduler.schedule_at(clog->second,
                              [this, connection, direction] { pump(connection, direction); });
        return;
      }
      trace.trace("net.deliver", connection->id,
                  segment.fin ? UINT64_MAX : segment.bytes.size());
      VERIFY(pipe.in_flight_bytes >= segment.bytes.size());
      pipe.in_flight_bytes -= segment.bytes.size();
      if (segment.fin) {
        pipe.eof = true;
      } else {
        if (!segment.bytes.empty()) pipe.readable.push_back(std::move(segment.bytes));
      }
      pipe.in_flight.pop_front();
      pipe.readers.notify_all();
      pipe.writers.notify_all();
    }
    schedule_pump(connection, direction);
  }

  // Queues bytes (or the end of stream) on one pipe.
  void transmit(const std::shared_ptr<Connection>& connection, int direction,
                std::span<const std::byte> bytes, bool fin) {
    Pipe& pipe = connection->pipes[direction];
    const auto jitter = Duration(static_cast<int64_t>(
        random.unit() * static_cast<double>(timing.jitter.count())));
    const auto transmission = Duration(static_cast<int64_t>(
        bytes.size() * 1'000'000'000ULL / std::max<uint64_t>(timing.bytes_per_second, 1)));
    Instant deliver_at = std::max(now() + timing.latency + jitter, pipe.last_delivery);
    deliver_at = deliver_at + transmission;
    pipe.last_delivery = deliver_at;
    Segment segment;
    segment.bytes.assign(bytes.begin(), bytes.end());
    segment.sent = now();
    segment.deliver_at = deliver_at;
    segment.fin = fin;
    pipe.in_flight_bytes += bytes.size();
    pipe.in_flight.push_back(std::move(segment));
    schedule_pump(connection, direction);
  }

  void close_side(const std::shared_ptr<Connection>& connection, int side) {
    if (connection->closed[side]) return;
    connection->closed[side] = true;
    if (!connection->reset) transmit(connection, side, {}, /*fin=*/true);
    // Wake this side's own blocked readers and writers: they now fail with `closed`.
    connection->pipes[1 - side].readers.notify_all();
    connection->pipes[side].writers.notify_all();
    if (connection->closed[0] && connection->closed[1]) connections.erase(connection->id);
  }

  bool link_cut(const std::string& from, const std::string& to) const {
    return active_cuts.contains(Link(from, to));
  }

  // Whether an accept or connect of `host` fails for want of descriptors now: it does
  // while an episode lasts, and `may_start` (an operation that would otherwise open
  // a descriptor) may start one. Counts every failure it decides.
  bool out_of_descriptors(const std::string& host, bool may_start) {
    auto it = out_of_descriptors_until.find(host);
    if (it != out_of_descriptors_until.end() && it->second <= now()) {
      out_of_descriptors_until.erase(it);
      it = out_of_descriptors_until.end();
    }
    if (it == out_of_descriptors_until.end()) {
      // No draw when the fault is off, so runs without it keep their random sequence.
      if (!may_start || too_many_open_files_probability <= 0 ||
          !random.chance(too_many_open_files_probability)) {
        return false;
      }
      const Duration lasting = runtime::milliseconds(random.between(10, 1'000));
      out_of_descriptors_until.emplace(host, now() + lasting);
      stats.count("net.out_of_descriptors");
      trace.note("fault.out_of_descriptors", host);
    }
    stats.count("net.too_many_open_files");
    return true;
  }
};

namespace {

class SimStream final : public runtime::Stream {
 public:
  SimStream(SimNetwork::State& network, std::shared_ptr<Connection> connection, int side,
            Address peer)
      : network_(network), connection_(std::move(connection)), side_(side),
        peer_(std::move(peer)) {}
  ~SimStream() override { close(); }

  IoResult<size_t> read_some(std::span<std::byte> buffer) override {
    VERIFY(!buffer.empty());
    Pipe& incoming = connection_->pipes[1 - side_];
    while (true) {
      if (connection_->closed[side_]) return unexpected(IoError::closed);
      if (connection_->reset) return unexpected(IoError::reset);
      if (!incoming.readable.empty()) {
        size_t copied = 0;
        while (copied < buffer.size() && !incoming.readable.empty()) {
          const std::vector<std::byte>& chunk = incoming.readable.front();
          VERIFY(incoming.read_offset < chunk.size());
          const size_t n = std::min(buffer.size() - copied, chunk.size() - incoming.read_offset);
          std::memcpy(buffer.data() + copied, chunk.data() + incoming.read_offset, n);
          copied += n;
          incoming.read_offset += n;
          if (incoming.read_offset == chunk.size()) {
            incoming.readable.pop_front();
            incoming.read_offset = 0;
          }
        }
        VERIFY(copied > 0);
        return copied;
      }
      if (incoming.eof) return size_t{0};
      incoming.readers.add(network_.scheduler.prepare_wait());
      network_.scheduler.suspend();
    }
  }

  IoResult<void> write_all(std::span<const std::byte> bytes) override {
    Pipe& outgoing = connection_->pipes[side_];
    while (true) {
      if (connection_->closed[side_]) return unexpected(IoError::closed);
      if (connection_->reset) return unexpected(IoError::reset);
      if (connection_->closed[1 - side_]) {
        // Writing to a peer that closed: its kernel answers with RST.
        network_.reset(*connection_, "write after peer close");
        return unexpected(IoError::reset);
      }
      if (outgoing.in_flight_bytes < network_.timing.window_bytes) break;
      outgoing.writers.add(network_.scheduler.prepare_wait());
      network_.scheduler.suspend();
    }
    if (bytes.empty()) return {};
    network_.transmit(connection_, side_, bytes, /*fin=*/false);
    return {};
  }

  void close() override { network_.close_side(connection_, side_); }
  Address peer() const override { return peer_; }

 private:
  SimNetwork::State& network_;
  std::shared_ptr<Connection> connection_;
  int side_;
  Address peer_;
};

}  // namespace

class SimListener final : public runtime::Listener {
 public:
  SimListener(SimNetwork::State& network, Address address)
      : network_(network), address_(std::move(address)) {}
  ~SimListener() override { close(); }

  IoResult<std::unique_ptr<runtime::Stream>> accept() override {
    while (true) {
      if (closed_) return unexpected(IoError::closed);
      // Out of descriptors, a kernel refuses at once and keeps the connection queued
      // (its listener stays readable); so does this listener.
      if (network_.out_of_descriptors(address_.host, /*may_start=*/!pending_.empty())) {
        note_refused_accept();
        return unexpected(IoError::too_many_open_files);
      }
      if (!pending_.empty()) {
        auto stream = std::move(pending_.front());
        pending_.pop_front();
        return stream;
      }
      acceptors_.add(network_.scheduler.prepare_wait());
      network_.scheduler.suspend();
    }
  }
  Address local_address() const override { return address_; }
  void close() override {
    if (closed_) return;
    closed_ = true;
    auto it = network_.listeners.find(address_);
    if (it != network_.listeners.end() && it->second == this) network_.listeners.erase(it);
    pending_.clear();
    acceptors_.notify_all();
  }
  void offer(std::unique_ptr<runtime::Stream> stream) {
    pending_.push_back(std::move(stream));
    acceptors_.notify_one();
  }

 private:
  // A caller that retries a refused accept without letting time pass never lets the
  // episode end, and on a real kernel it burns a core while every other fiber starves
  // (issue 13): the simulator fails the run instead of hanging in it.
  void note_refused_accept() {
    if (refused_at_ != network_.now()) {
      refused_at_ = network_.now();
      refused_at_instant_ = 0;
    }
    refused_at_instant_++;
    VERIFY(refused_at_instant_ <= refused_at_instant_max,
           "accept on {} was refused {} times at one instant: its caller retries "
           "too_many_open_files without pausing",
           address_.to_string(), refused_at_instant_);
  }
  static constexpr uint64_t refused_at_instant_max = 1000;

  SimNetwork::State& network_;
  Address address_;
  std::deque<std::unique_ptr<runtime::Stream>> pending_;
  runtime::WaitQueue acceptors_;
  bool closed_ = false;
  Instant refused_at_;
  uint64_t refused_at_instant_ = 0;
};

namespace {

class SimNetworkView final : public runtime::Network {
 public:
  SimNetworkView(SimNetwork::State& network, std::string host)
      : network_(network), host_(std::move(host)) {}

  IoResult<std::unique_ptr<runtime::Listener>> listen(const Address& requested) override {
    if (requested.host != host_ && requested.host != "0.0.0.0") {
      return unexpected(IoError::invalid);
    }
    Address address{host_, requested.port};
    if (address.port == 0) {
      uint16_t& next = network_.next_ephemeral_port.try_emplace(host_, 40000).first->second;
      address.port = next++;
    }
    if (network_.listeners.contains(address)) return unexpected(IoError::address_in_use);
    auto listener = std::make_unique<SimListener>(network_, address);
    network_.listeners.emplace(address, listener.get());
    network_.trace.note("net.listen", address.to_string());
    return std::unique_ptr<runtime::Listener>(std::move(listener));
  }

  IoResult<std::unique_ptr<runtime::Stream>> connect(const Address& address,
                                                     Duration timeout) override {
    runtime::Scheduler& scheduler = network_.scheduler;
    const Instant deadline = scheduler.now() + timeout;
    auto hang = [&]() -> IoResult<std::unique_ptr<runtime::Stream>> {
      if (deadline > scheduler.now()) scheduler.sleep_until(deadline);
      return unexpected(IoError::timed_out);
    };
    // socket() fails before anything reaches the network.
    if (network_.out_of_descriptors(host_, /*may_start=*/true)) {
      return unexpected(IoError::too_many_open_files);
    }
    if (network_.connect_timeout_probability > 0 &&
        network_.random.chance(network_.connect_timeout_probability)) {
      network_.stats.count("net.connect_timeout");
      network_.trace.note("fault.connect_timeout", host_ + "->" + address.to_string());
      return hang();
    }
    if (network_.link_cut(host_, address.host) || network_.link_cut(address.host, host_)) {
      return hang();
    }
    // The handshake takes one round trip.
    const Duration round_trip = network_.timing.latency * 2;
    if (scheduler.now() + round_trip > deadline) return hang();
    scheduler.sleep_for(round_trip);
    if (network_.link_cut(host_, address.host) || network_.link_cut(address.host, host_)) {
      return hang();
    }
    auto it = network_.listeners.find(address);
    if (it == network_.listeners.end()) return unexpected(IoError::refused);

    auto connection = std::make_shared<Connection>();
    connection->id = network_.next_connection_id++;
    connection->pipes[0].from = host_;
    connection->pipes[0].to = address.host;
    connection->pipes[1].from = address.host;
    connection->pipes[1].to = host_;
    connection->pipes[0].last_delivery = scheduler.now();
    connection->pipes[1].last_delivery = scheduler.now();
    network_.connections.emplace(connection->id, connection);
    network_.trace.trace("net.connect", connection->id, address.port);
    const Address client{host_, static_cast<uint16_t>(50000 + connection->id % 10000)};
    it->second->offer(std::make_unique<SimStream>(network_, connection, 1, client));
    return std::unique_ptr<runtime::Stream>(
        std::make_unique<SimStream>(network_, connection, 0, address));
  }

 private:
  SimNetwork::State& network_;
  std::string host_;
};

}  // namespace

SimNetwork::SimNetwork(runtime::Scheduler& scheduler, runtime::Random random,
                       NetworkTiming timing, FaultStats& stats, Trace& trace)
    : state_(std::make_unique<State>(scheduler, random, timing, stats, trace)) {}

SimNetwork::~SimNetwork() = default;

std::unique_ptr<runtime::Network> SimNetwork::view(const std::string& host) {
  return std::make_unique<SimNetworkView>(*state_, host);
}

void SimNetwork::cut(const std::string& from, const std::string& to) {
  if (from == to || state_->link_cut(from, to)) return;
  state_->active_cuts.emplace(Link(from, to), state_->history.size());
  state_->history.push_back(CutInterval{from, to, state_->now(), Instant::max()});
  state_->trace.note("fault.cut", from + "->" + to);
}

void SimNetwork::heal(const std::string& from, const std::string& to) {
  auto it = state_->active_cuts.find(Link(from, to));
  if (it == state_->active_cuts.end()) return;
  state_->history[it->second].end = state_->now();
  state_->active_cuts.erase(it);
  state_->trace.note("heal", from + "->" + to);
}

void SimNetwork::partition(const std::vector<std::string>& side_a,
                           const std::vector<std::string>& side_b) {
  for (const auto& a : side_a) {
    for (const auto& b : side_b) {
      cut(a, b);
      cut(b, a);
    }
  }
}

void SimNetwork::heal_all() {
  while (!state_->active_cuts.empty()) {
    const Link link = state_->active_cuts.begin()->first;
    heal(link.first, link.second);
  }
  state_->clogged_until.clear();
}

void SimNetwork::clog(const std::string& from, const std::string& to, Instant until) {
  Instant& current = state_->clogged_until[Link(from, to)];
  current = std::max(current, until);
  state_->trace.note("fault.clog", from + "->" + to);
}

bool SimNetwork::reset_random_connection() {
  if (state_->connections.empty()) return false;
  auto it = state_->connections.begin();
  std::advance(it, static_cast<std::ptrdiff_t>(state_->random.below(state_->connections.size())));
  std::shared_ptr<Connection> connection = it->second;
  state_->reset(*connection, "fault");
  return true;
}

void SimNetwork::crash_host(const std::string& host) {
  std::vector<std::shared_ptr<Connection>> doomed;
  for (const auto& [id, connection] : state_->connections) {
    if (connection->pipes[0].from == host || connection->pipes[0].to == host) {
      doomed.push_back(connection);
    }
  }
  for (auto& connection : doomed) state_->reset(*connection, "host crashed");
  std::vector<SimListener*> listeners;
  for (const auto& [address, listener] : state_->listeners) {
    if (address.host == host) listeners.push_back(listener);
  }
  for (SimListener* listener : listeners) listener->close();
  // A process that dies frees its descriptors.
  state_->out_of_descriptors_until.erase(host);
}

void SimNetwork::set_connect_timeout_probability(double probability) {
  state_->connect_timeout_probability = probability;
}

void SimNetwork::set_too_many_open_files_probability(double probability) {
  state_->too_many_open_files_probability = probability;
  // Healing ends every episode too: no new fault starts, and none lingers.
  if (probability <= 0) state_->out_of_descriptors_until.clear();
}

bool SimNetwork::out_of_descriptors(const std::string& host) const {
  auto it = state_->out_of_descriptors_until.find(host);
  return it != state_->out_of_descriptors_until.end() && it->second > state_->now();
}

bool SimNetwork::link_cut(const std::string& from, const std::string& to) const {
  return state_->link_cut(from, to);
}

const std::vector<CutInterval>& SimNetwork::cut_history() const { return state_->history; }

size_t SimNetwork::live_connections() const { return state_->connections.size(); }

void SimNetwork::set_flaw_partition_leak(bool leak) { state_->flaw_partition_leak = leak; }

}  // namespace weir::sim
