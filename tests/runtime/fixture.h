// A deterministic harness for scheduler and sync tests: a clock that only moves when
// told, and a reactor that, when every fiber waits, jumps the clock to the next timer
// (what the simulator does, without its fault injection).
//
// Invariant: time never goes backwards, and it moves only inside JumpReactor::wait, so
// a test can assert the exact virtual instant at which a fiber woke.
#pragma once

#include <algorithm>
#include <optional>

#include <gtest/gtest.h>

#include "base/assert.h"
#include "runtime/clock.h"
#include "runtime/scheduler.h"

namespace weir::runtime::testing {

class ManualClock final : public Clock {
 public:
  Instant now() const override { return now_; }
  WallTime wall_now() const override { return WallTime{now_.nanoseconds() / 1'000'000}; }
  void advance_to(Instant t) {
    VERIFY(t >= now_, "time goes forward only");
    now_ = t;
  }

 private:
  Instant now_ = Instant::from_nanoseconds(1'000'000'000);
};

class JumpReactor final : public Reactor {
 public:
  explicit JumpReactor(ManualClock& clock) : clock_(clock) {}
  bool wait(std::optional<Instant> deadline) override {
    if (!deadline) return false;
    clock_.advance_to(std::max(clock_.now(), *deadline));
    jumps_++;
    return true;
  }
  int jumps() const { return jumps_; }

 private:
  ManualClock& clock_;
  int jumps_ = 0;
};

class SchedulerTest : public ::testing::Test {
 protected:
  // Milliseconds since the start of the test, for readable expectations.
  int64_t elapsed_ms() const { return (clock.now() - start).count() / 1'000'000; }
  // Runs everything and fails the test if a fiber failed.
  void run_all() {
    scheduler.run();
    if (scheduler.failure()) {
      ADD_FAILURE() << "fiber '" << scheduler.failure_fiber() << "' failed";
    }
  }

  ManualClock clock;
  JumpReactor reactor{clock};
  Scheduler scheduler{clock, reactor, nullptr};
  const Instant start = clock.now();
};

// Sets a flag when destroyed: proves that a fiber's stack was unwound.
class DestructorProbe {
 public:
  explicit DestructorProbe(bool& destroyed) : destroyed_(&destroyed) {}
  ~DestructorProbe() { *destroyed_ = true; }
  DestructorProbe(const DestructorProbe&) = delete;
  DestructorProbe& operator=(const DestructorProbe&) = delete;

 private:
  bool* destroyed_;
};

}  // namespace weir::runtime::testing
