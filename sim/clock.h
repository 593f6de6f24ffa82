// Virtual time. The world has one VirtualClock that only the simulator's reactor moves
// forward (jumping straight to the next event, so idle time costs nothing). Each node
// sees it through a NodeClock whose wall clock may be skewed and drift, as real
// machines' clocks do; monotonic time is shared (it only orders a node's own timers).
#pragma once

#include <optional>

#include "base/assert.h"
#include "runtime/clock.h"
#include "runtime/scheduler.h"

namespace weir::sim {

// 2026-01-01T00:00:00Z: the wall-clock origin of every simulated run.
inline constexpr int64_t wall_origin_ms = 1767225600000;

class VirtualClock final : public runtime::Clock {
 public:
  runtime::Instant now() const override { return now_; }
  runtime::WallTime wall_now() const override {
    return {wall_origin_ms + now_.nanoseconds() / 1'000'000};
  }
  void advance_to(runtime::Instant t) {
    VERIFY(t >= now_, "virtual time never goes backwards");
    now_ = t;
  }

 private:
  runtime::Instant now_;
};

class NodeClock final : public runtime::Clock {
 public:
  NodeClock(const VirtualClock& world, int64_t skew_ms, double drift_ppm)
      : world_(world), skew_ms_(skew_ms), drift_ppm_(drift_ppm) {}
  runtime::Instant now() const override { return world_.now(); }
  runtime::WallTime wall_now() const override {
    const int64_t elapsed_ms = world_.now().nanoseconds() / 1'000'000;
    const auto drift_ms = static_cast<int64_t>(static_cast<double>(elapsed_ms) * drift_ppm_ / 1e6);
    return {world_.wall_now().milliseconds + skew_ms_ + drift_ms};
  }

 private:
  const VirtualClock& world_;
  int64_t skew_ms_;
  double drift_ppm_;
};

// When nothing is runnable, jump to the next timer. With no timer left, nothing can
// ever happen again.
class VirtualReactor final : public runtime::Reactor {
 public:
  explicit VirtualReactor(VirtualClock& clock) : clock_(clock) {}
  bool wait(std::optional<runtime::Instant> deadline) override {
    if (!deadline) return false;
    if (*deadline > clock_.now()) clock_.advance_to(*deadline);
    return true;
  }

 private:
  VirtualClock& clock_;
};

}  // namespace weir::sim
