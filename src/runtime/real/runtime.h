// RealRuntime: the production runtime of one process. It owns the OS clock, the epoll
// reactor, a FIFO scheduler, the fsync worker, a Random seeded from the OS, the
// network, the disk rooted at the data directory and a disabled Buggify, and hands
// them out as one Env. Its Log writes to stderr. At start it raises the process's soft
// open-file limit to the hard limit (real/limits.h).
//
// Invariants:
//  - One RealRuntime per thread, used only from that thread (the loop thread).
//  - Members are destroyed in reverse order of declaration: the scheduler, which unwinds
//    fibers that are still alive, goes after everything those fibers may use and before
//    the reactor their sockets deregister from.
//  - run() returns only when the main fiber has returned; a fiber that failed (escaped
//    exception or VERIFY) is rethrown from run(), and a main fiber that waits for
//    something nothing can ever wake is a VERIFY failure, not a hang.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "runtime/buggify.h"
#include "runtime/env.h"
#include "runtime/random.h"
#include "runtime/real/clock.h"
#include "runtime/real/disk.h"
#include "runtime/real/log.h"
#include "runtime/real/network.h"
#include "runtime/real/reactor.h"
#include "runtime/real/signals.h"
#include "runtime/real/worker.h"
#include "runtime/scheduler.h"
#include "runtime/sync.h"

namespace weir::runtime::real {

// What create() does with the soft open-file limit. Both raise it: a client opening
// many connections needs it as much as a server.
enum class OpenFileLimit {
  raise_and_report,  // and logs one line when it changed (a server, whose operator cares)
  raise_quietly,     // a command-line client, whose stderr is the user's
};

class RealRuntime {
 public:
  // Raises the open-file limit, then creates (if missing) and opens `data_root` for
  // the disk.
  static IoResult<std::unique_ptr<RealRuntime>> create(
      const std::string& data_root,
      OpenFileLimit open_file_limit = OpenFileLimit::raise_and_report);
  ~RealRuntime();
  RealRuntime(const RealRuntime&) = delete;
  RealRuntime& operator=(const RealRuntime&) = delete;

  Env env();

  // Runs `main_fiber` in a fiber of the root group and drives the scheduler until it
  // returns. Other fibers still alive then keep their state until the next run() or
  // are cancelled and unwound when the runtime is destroyed.
  void run(std::function<void()> main_fiber);

  // Starts watching SIGTERM and SIGINT (their default action is suspended meanwhile)
  // and returns the event that the first of them sets. Call before run() or from a
  // fiber; idempotent.
  Event& termination_requested();
  // The signal that set termination_requested(), if one has arrived.
  std::optional<int> termination_signal() const;

  Scheduler& scheduler() { return scheduler_; }
  EpollReactor& reactor() { return reactor_; }
  BlockingWorker& worker() { return worker_; }
  RealNetwork& network() { return network_; }
  RealDisk& disk() { return *disk_; }
  const RealClock& clock() const { return clock_; }
  Random& random() { return random_; }
  Log& log() { return log_; }

 private:
  explicit RealRuntime(uint64_t seed);

  RealClock clock_;
  EpollReactor reactor_;
  Scheduler scheduler_;
  BlockingWorker worker_;
  Random random_;
  RealNetwork network_;
  std::unique_ptr<RealDisk> disk_;
  Buggify buggify_;
  StderrLog log_;
  std::unique_ptr<SignalWatcher> signals_;
};

// A seed for a production Random, from getrandom(2).
uint64_t os_random_seed();

}  // namespace weir::runtime::real
