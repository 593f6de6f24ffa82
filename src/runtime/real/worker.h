// A worker thread for blocking syscalls that must not stall the loop: fsync and
// fdatasync, which take milliseconds on real devices. While one fiber waits for its
// sync, the others keep running, so a log can gather the next group commit.
//
// Invariants:
//  - Jobs run one at a time, in submission order, on the worker thread; they touch no
//    fiber state. Only the loop thread touches the scheduler: completions come back
//    through an eventfd that the reactor watches.
//  - A job owns every resource it uses (e.g. a dup()ed descriptor), because the fiber
//    that submitted it may be cancelled and unwind before the job finishes.
//  - The destructor runs the jobs still queued, then joins the thread.
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>

#include "runtime/real/reactor.h"
#include "runtime/scheduler.h"

namespace weir::runtime::real {

class BlockingWorker final : private FdHandler {
 public:
  BlockingWorker(Scheduler& scheduler, EpollReactor& reactor);
  ~BlockingWorker() override;
  BlockingWorker(const BlockingWorker&) = delete;
  BlockingWorker& operator=(const BlockingWorker&) = delete;

  // Runs `job` on the worker thread; the calling fiber suspends until it is done.
  // Returns what the job returned (by convention 0 or an errno value). Throws Cancelled.
  int run_and_wait(std::function<int()> job);

  uint64_t completed_count() const { return completed_count_; }

 private:
  struct Job {
    std::function<int()> work;
    int result = 0;
    bool done = false;
    Waker waker;
  };

  void on_ready(uint32_t events) override;
  void thread_main();

  Scheduler& scheduler_;
  EpollReactor& reactor_;
  int event_fd_ = -1;
  uint64_t completed_count_ = 0;

  std::mutex mutex_;
  std::condition_variable work_available_;
  std::deque<std::shared_ptr<Job>> queued_;     // guarded by mutex_
  std::deque<std::shared_ptr<Job>> completed_;  // guarded by mutex_
  bool stopping_ = false;                       // guarded by mutex_
  std::thread thread_;
};

}  // namespace weir::runtime::real
