// Log: the lines node code writes for an operator — a client refused for an
// unsupported version, connections shed while the process is out of descriptors.
// The real backend writes them to stderr; the simulator folds them into its trace.
//
// Invariants: write() never suspends and never fails (a lost log line is not an error a
// caller could react to); a line carries no newline, the backend adds it. Callers keep
// the volume bounded themselves (once per episode, once per client), since a line per
// request would let a client flood the log.
#pragma once

#include <string_view>

namespace weir::runtime {

class Log {
 public:
  virtual ~Log() = default;
  virtual void write(std::string_view line) = 0;
};

}  // namespace weir::runtime
