// SimNetwork: the simulated network between the nodes of one world.
//
// Model (DESIGN.md §2, network):
//  - Hosts are names ("n0", "client"); an Address is (host, port).
//  - A connection is two FIFO byte pipes. Bytes written at time s are delivered at
//    s + latency + jitter (never before earlier bytes of the same pipe) + size/bandwidth.
//  - A link (from -> to) can be cut (partition). A segment whose link was cut at any
//    moment between its send and its delivery is never delivered: the connection is
//    reset instead, as TCP gives up on a dead path. So no byte ever crosses a cut.
//  - A clogged link delays delivery until the clog ends; nothing is lost.
//  - connect() over a cut link, or when the connect_timeout fault fires, hangs until its
//    timeout; to an address nobody listens on it fails with `refused` after one round
//    trip.
//  - A host may run out of file descriptors for a while (too_many_open_files fault):
//    meanwhile its accepts and connects fail at once with too_many_open_files, and
//    connections offered to its listeners stay queued until an accept succeeds. A
//    caller that retries a refused accept at one instant a thousand times fails the
//    run: on a real kernel that loop would spin (issue 13).
//  - A crashed host's connections are reset and its listeners vanish.
//  - Senders block while a pipe holds more than window_bytes undelivered bytes.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "runtime/network.h"
#include "runtime/random.h"
#include "runtime/scheduler.h"
#include "sim/faults.h"
#include "sim/trace.h"

namespace weir::sim {

struct NetworkTiming {
  runtime::Duration latency = runtime::microseconds(200);
  runtime::Duration jitter = runtime::microseconds(100);
  uint64_t bytes_per_second = 1'000'000'000;
  uint64_t window_bytes = 4 << 20;
};

// A cut of the directed link from -> to during [start, end); end is max() while it lasts.
struct CutInterval {
  std::string from;
  std::string to;
  runtime::Instant start;
  runtime::Instant end;
};

class SimNetwork {
 public:
  SimNetwork(runtime::Scheduler& scheduler, runtime::Random random, NetworkTiming timing,
             FaultStats& stats, Trace& trace);
  ~SimNetwork();
  SimNetwork(const SimNetwork&) = delete;
  SimNetwork& operator=(const SimNetwork&) = delete;

  // The runtime::Network a node on `host` uses. The view must not outlive this object.
  std::unique_ptr<runtime::Network> view(const std::string& host);

  // --- Faults. Each is a directed link operation or built from them. ---------------
  void cut(const std::string& from, const std::string& to);
  void heal(const std::string& from, const std::string& to);
  // Both directions between every pair across the two sides.
  void partition(const std::vector<std::string>& side_a, const std::vector<std::string>& side_b);
  void heal_all();
  void clog(const std::string& from, const std::string& to, runtime::Instant until);
  // Resets one live connection chosen at random; returns false if there is none.
  bool reset_random_connection();
  // The host crashed: reset its connections, drop its listeners.
  void crash_host(const std::string& host);
  // Probability that a connect hangs until its timeout (the connect_timeout fault).
  void set_connect_timeout_probability(double probability);
  // Probability, per accept of a queued connection and per connect, that the host runs
  // out of file descriptors for 10 ms to 1 s (the too_many_open_files fault; see
  // NetworkFaults). Zero also ends every episode under way.
  void set_too_many_open_files_probability(double probability);
  // Whether `host` is out of descriptors now.
  bool out_of_descriptors(const std::string& host) const;

  bool link_cut(const std::string& from, const std::string& to) const;
  const std::vector<CutInterval>& cut_history() const;
  size_t live_connections() const;

  // Test-only flaw: deliver across cut links (the partition checker must notice).
  void set_flaw_partition_leak(bool leak);

  struct State;

 private:
  std::unique_ptr<State> state_;
};

}  // namespace weir::sim
