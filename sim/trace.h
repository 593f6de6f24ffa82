// The simulator's event trace. Every scheduling step, timer, network delivery, disk
// operation and fault is folded into one running 64-bit hash together with the virtual
// time at which it happened. Two runs of one seed must produce the same hash, in any
// process: that is what makes a failing seed replayable, and the determinism test
// checks it. Optionally the events are also kept as text lines for --trace.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "runtime/clock.h"
#include "runtime/scheduler.h"

namespace weir::sim {

class Trace final : public runtime::Tracer {
 public:
  explicit Trace(const runtime::Clock& clock) : clock_(clock) {}

  void trace(std::string_view event, uint64_t a, uint64_t b) override;
  // Events with a free-text detail (faults, node lifecycle); the text is hashed too.
  void note(std::string_view event, std::string_view detail);

  uint64_t hash() const { return hash_; }
  uint64_t events() const { return events_; }
  void keep_lines(bool keep) { keep_lines_ = keep; }
  const std::string& lines() const { return lines_; }

 private:
  void mix(uint64_t value);

  const runtime::Clock& clock_;
  uint64_t hash_ = 0x243f6a8885a308d3ULL;
  uint64_t events_ = 0;
  bool keep_lines_ = false;
  std::string lines_;
};

}  // namespace weir::sim
