// TraceLog: a simulated node's runtime::Log. Each line becomes a "log" event of the
// trace, tagged with the host, so it is hashed like every other event (a line that
// differs between two runs of one seed breaks determinism, as it should) and printed
// with the rest of the trace by `weir-sim --trace`.
#pragma once

#include <string>
#include <string_view>
#include <utility>

#include "runtime/log.h"
#include "sim/trace.h"

namespace weir::sim {

class TraceLog final : public runtime::Log {
 public:
  TraceLog(Trace& trace, std::string host) : trace_(trace), host_(std::move(host)) {}
  void write(std::string_view line) override {
    trace_.note("log", host_ + ": " + std::string(line));
  }

 private:
  Trace& trace_;
  std::string host_;
};

}  // namespace weir::sim
