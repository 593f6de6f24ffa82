// World: one simulated cluster in one thread. It owns virtual time, the scheduler, the
// network, every node's disk, and the fault injector, and it starts, crashes, kills,
// pauses and restarts nodes (sim/cluster in STYLE.md's terms).
//
// A node is a host name, a persistent SimDisk, and — while up — one incarnation of a
// Process built by the node's factory, whose fibers form one scheduler group. Crashing
// a node unwinds that group, destroys the Process, resets its connections and applies
// the disk's crash semantics; restarting builds a fresh Process on the same disk, as a
// rebooted machine would.
//
// Faults are injected from timer callbacks on the scheduler's own stack, never from a
// node's fiber, so a node can be killed while any of its fibers is suspended anywhere.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <absl/container/btree_map.h>

#include "runtime/env.h"
#include "runtime/random.h"
#include "runtime/scheduler.h"
#include "sim/clock.h"
#include "sim/disk.h"
#include "sim/faults.h"
#include "sim/network.h"
#include "sim/options.h"
#include "sim/trace.h"

namespace weir::sim {

class World;

// What a node's software is given when it starts.
struct NodeContext {
  World& world;
  runtime::Env& env;
  std::string host;
  size_t index;
  uint64_t incarnation;
  // Ends this incarnation the way abort() would (the process dies, the machine and its
  // page cache survive) and restarts it shortly after. Does not return.
  [[noreturn]] void panic(std::string_view reason);
};

// A node's software for one incarnation. run() is the node's main fiber; it may spawn
// more fibers (they join the node's group). The destructor runs after all of the
// node's fibers have unwound and must not suspend.
class Process {
 public:
  virtual ~Process() = default;
  virtual void run() = 0;
};

using ProcessFactory = std::function<std::unique_ptr<Process>(NodeContext&)>;

struct NodeOptions {
  // Subject to process faults (crash, kill, pause). Client nodes usually are not.
  bool faulty = true;
  DiskTiming disk;
};

class World {
 public:
  World(uint64_t seed, const FaultProfile& profile, const Flaws& flaws, bool keep_trace);
  ~World();
  World(const World&) = delete;
  World& operator=(const World&) = delete;

  size_t add_node(std::string host, ProcessFactory factory, NodeOptions options = {});
  void start(size_t node);
  void crash(size_t node);  // power loss: unsynced disk state is lost or torn
  void kill(size_t node);   // the process dies; the machine and its page cache survive
  void restart(size_t node);
  void pause(size_t node, runtime::Duration duration);
  bool is_up(size_t node) const;
  size_t node_count() const;
  const std::string& host(size_t node) const;
  std::vector<std::string> hosts() const;
  SimDisk& disk(size_t node);
  uint64_t incarnation(size_t node) const;

  // Injects faults from now until `until`, following the profile.
  void inject_faults_until(runtime::Instant until);
  // Ends the faulty phase: heals the network, turns disk faults off, restarts every
  // node that is down, and stops injecting.
  void heal();
  bool healed() const { return healed_; }

  // Runs the simulation until virtual time reaches `deadline`. Returns false if a fiber
  // failed (see failure()) or nothing can happen any more.
  bool run_until(runtime::Instant deadline);
  bool run_for(runtime::Duration duration) { return run_until(now() + duration); }

  runtime::Instant now() const { return clock_.now(); }
  runtime::Scheduler& scheduler() { return *scheduler_; }
  SimNetwork& network() { return *network_; }
  Trace& trace() { return trace_; }
  FaultStats& stats() { return stats_; }
  runtime::Random& random() { return random_; }
  const FaultProfile& profile() const { return profile_; }
  const Flaws& flaws() const { return flaws_; }
  std::exception_ptr failure() const { return scheduler_->failure(); }

  // Called (without suspending) when a node goes down by kill() or crash(), with
  // whether the machine lost power (its unsynced writes gone): workloads' checkers
  // explain losses by these events.
  std::function<void(size_t node, bool power_loss)> on_down;
  // Called (without suspending) when a disk fault on a node may have cost writes that
  // were never synced, the node still up (SimDisk::set_on_unsynced_loss).
  std::function<void(size_t node)> on_unsynced_loss;

 private:
  struct Node;
  void fault_tick(runtime::Instant until);
  void schedule_restart(size_t node, runtime::Duration delay);
  void inject_partition();
  void end_process(size_t node);
  std::optional<size_t> pick_faulty_up_node();

  uint64_t seed_;
  FaultProfile profile_;
  Flaws flaws_;
  runtime::Random random_;
  VirtualClock clock_;
  VirtualReactor reactor_;
  Trace trace_;
  FaultStats stats_;
  runtime::Random schedule_random_;
  std::unique_ptr<runtime::Scheduler> scheduler_;
  std::unique_ptr<SimNetwork> network_;
  std::vector<std::unique_ptr<Node>> nodes_;
  bool healed_ = false;
  bool injecting_ = false;
  // How many live injected partitions cut each directed link.
  absl::btree_map<std::pair<std::string, std::string>, int> partition_cuts_;
  uint64_t heal_epoch_ = 0;
};

}  // namespace weir::sim
