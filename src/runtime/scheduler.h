// The fiber scheduler: one thread, many fibers, one event queue.
//
// Both backends share this class. What differs is injected:
//  - the Clock that says what time it is (real: CLOCK_MONOTONIC; sim: virtual time),
//  - the Reactor that waits when nothing is runnable (real: epoll_wait until the next
//    timer; sim: jump virtual time to the next timer),
//  - the choice among runnable fibers (real: FIFO; sim: drawn from a seeded Random, so
//    every seed explores a different interleaving).
//
// Invariants:
//  - Exactly one fiber runs at a time, and only between two suspension points.
//  - A fiber is woken only by the Waker of its current wait (wait_sequence matches);
//    stale wakers from an earlier wait are no-ops, so a select over several sources
//    needs no unsubscription.
//  - Timers with equal deadlines fire in the order they were added.
//  - A cancelled fiber throws Cancelled from its next (or current) suspension point.
//    Cancellation must never be swallowed: catch it only to clean up and rethrow.
//  - Destructors must not suspend: they run during cancellation unwinding.
#pragma once

#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <optional>
#include <queue>
#include <string>
#include <string_view>
#include <vector>

#include <absl/container/btree_map.h>
#include <boost/context/fiber.hpp>

#include "base/strong.h"
#include "runtime/random.h"
#include "runtime/clock.h"

namespace weir::runtime {

struct FiberIdTag;
using FiberId = Strong<FiberIdTag, uint64_t>;
// A group is the set of fibers that die together: in the simulator, one node.
struct GroupIdTag;
using GroupId = Strong<GroupIdTag, uint32_t>;

// Thrown from a suspension point of a cancelled fiber. Never swallow it.
struct Cancelled {};

// Receives every scheduling event; the simulator folds them into its trace hash.
class Tracer {
 public:
  virtual ~Tracer() = default;
  virtual void trace(std::string_view event, uint64_t a, uint64_t b) = 0;
};

// What the scheduler does when no fiber is runnable.
class Reactor {
 public:
  virtual ~Reactor() = default;
  // Waits for outside events (I/O readiness) until `deadline` at the latest, and turns
  // them into wakeups. Returns false if there is nothing that could ever wake a fiber
  // (no timers, no I/O interest): the scheduler then stops.
  virtual bool wait(std::optional<Instant> deadline) = 0;
};

class Scheduler;

// Wakes one particular wait of one fiber. Cheap to copy; harmless when stale.
class Waker {
 public:
  Waker() = default;
  // Returns true if this call woke the fiber (it was still in that wait).
  bool wake() const;
  bool valid() const { return scheduler_ != nullptr; }

 private:
  friend class Scheduler;
  Waker(Scheduler* scheduler, FiberId fiber, uint64_t sequence)
      : scheduler_(scheduler), fiber_(fiber), sequence_(sequence) {}
  Scheduler* scheduler_ = nullptr;
  FiberId fiber_;
  uint64_t sequence_ = 0;
};

enum class WaitResult { woken, timed_out };

class Scheduler {
 public:
  // `choice` null means FIFO; otherwise the next fiber is drawn from it.
  Scheduler(const Clock& clock, Reactor& reactor, Random* choice, Tracer* tracer = nullptr);
  ~Scheduler();
  Scheduler(const Scheduler&) = delete;
  Scheduler& operator=(const Scheduler&) = delete;

  // --- Creating fibers (from anywhere). -------------------------------------------
  FiberId spawn(GroupId group, std::string name, std::function<void()> body);
  FiberId spawn(std::string name, std::function<void()> body) {
    return spawn(current_group(), std::move(name), std::move(body));
  }

  // --- Suspension points (only from inside a fiber). ------------------------------
  // Each may throw Cancelled.
  void yield();
  void sleep_for(Duration duration) { sleep_until(clock_.now() + duration); }
  void sleep_until(Instant deadline);
  // Starts a new wait of the current fiber and returns its Waker. Hand the waker to
  // whatever will end the wait, then call suspend(). Separating the two lets a fiber
  // subscribe to several sources and then wait once.
  Waker prepare_wait();
  WaitResult suspend(std::optional<Instant> deadline = std::nullopt);
  // Throws Cancelled if the current fiber has been cancelled, without suspending.
  void check_cancelled();

  // --- Timers and events (from anywhere). -----------------------------------------
  // Runs `callback` on the scheduler's own stack at `deadline`. Callbacks must not
  // suspend; they wake fibers or schedule more events.
  void schedule_at(Instant deadline, std::function<void()> callback);

  // --- Groups and cancellation. -----------------------------------------------------
  GroupId new_group(std::string name);
  GroupId current_group() const;
  std::optional<FiberId> current_fiber() const;
  void cancel(FiberId fiber);
  // Cancels every fiber of the group and runs them until they have all unwound. Call
  // from outside the group (normally from the simulator's own context).
  void kill_group(GroupId group);
  // While paused, runnable fibers of the group are not run; timers still fire.
  void pause_group(GroupId group, Instant until);
  size_t fiber_count(GroupId group) const;
  size_t fiber_count() const { return fibers_.size(); }

  // --- Driving. ----------------------------------------------------------------------
  // Runs until `stop` returns true (checked between steps) or nothing can happen.
  // Returns true if stopped by `stop`.
  bool run_until(const std::function<bool()>& stop);
  // Runs until no fiber and no timer is left.
  void run() { run_until([] { return false; }); }
  // One step: run one runnable fiber, else fire due timers, else ask the reactor to
  // wait. Returns false if nothing can ever happen again.
  bool step();

  // Every `fiber_runs` fiber runs, also fire due timers and poll the reactor without
  // blocking, so fibers that stay runnable (yield loops, long CPU work with yields)
  // cannot starve timers and I/O. 0, the default, polls only when nothing is runnable;
  // the real runtime sets it, the simulator keeps 0.
  void set_poll_interval(uint32_t fiber_runs) { poll_interval_ = fiber_runs; }

  // If a fiber failed (an escaped exception such as AssertionFailure), it is stored
  // here and run_until stops; the caller decides whether it is a crash.
  std::exception_ptr failure() const { return failure_; }
  const std::string& failure_fiber() const { return failure_fiber_; }

  const Clock& clock() const { return clock_; }
  Instant now() const { return clock_.now(); }
  // The earliest pending timer, if any; the simulator's reactor jumps to it.
  std::optional<Instant> next_timer() const;
  uint64_t switches() const { return switches_; }

 private:
  friend class Waker;
  struct Fiber;
  struct Timer {
    Instant deadline;
    uint64_t sequence;
    std::function<void()> callback;
    bool operator>(const Timer& other) const {
      if (deadline != other.deadline) return deadline > other.deadline;
      return sequence > other.sequence;
    }
  };

  bool wake(FiberId fiber, uint64_t sequence);
  void make_runnable(Fiber& fiber);
  Fiber& current();
  void resume(Fiber& fiber);
  void switch_to_scheduler();
  bool fire_due_timers();
  std::optional<FiberId> pick_runnable();
  bool group_paused(GroupId group) const;
  void reap(FiberId id);

  const Clock& clock_;
  Reactor& reactor_;
  Random* choice_;
  Tracer* tracer_;

  absl::btree_map<FiberId, std::unique_ptr<Fiber>> fibers_;
  // Runnable fibers in the order they became runnable.
  std::vector<FiberId> runnable_;
  // A binary min-heap (std::push_heap with std::greater) so timers can be moved out.
  std::vector<Timer> timers_;
  absl::btree_map<GroupId, std::string> groups_;
  absl::btree_map<GroupId, Instant> paused_until_;

  Fiber* running_ = nullptr;
  boost::context::fiber scheduler_context_;
  uint64_t next_fiber_id_ = 1;
  uint32_t next_group_id_ = 1;
  uint64_t next_timer_sequence_ = 0;
  uint64_t switches_ = 0;
  uint32_t poll_interval_ = 0;
  uint32_t runs_since_poll_ = 0;
  // Stacks of finished fibers, kept for the next spawns: allocating a guarded stack
  // costs three system calls, ~170 fiber switches' worth.
  std::vector<boost::context::stack_context> free_stacks_;
  // The stack the scheduler itself runs on, as AddressSanitizer's fiber annotations
  // need it (unused without ASan).
  const void* scheduler_stack_bottom_ = nullptr;
  size_t scheduler_stack_size_ = 0;
  std::exception_ptr failure_;
  std::string failure_fiber_;
};

// The group every process-level fiber belongs to when nothing else is said.
inline constexpr GroupId root_group{0};

}  // namespace weir::runtime
