// Runs one seed: draws the fault profile, builds the world and the workload, runs the
// faulty phase, heals, runs the healed phase, quiesces, power-cycles every node, lets
// them recover, and asks the workload's checkers for a verdict.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "sim/faults.h"
#include "sim/options.h"

namespace weir::sim {

struct RunReport {
  uint64_t seed = 0;
  uint64_t trace_hash = 0;
  uint64_t events = 0;
  Verdict verdict = Verdict::ok;
  std::vector<std::string> problems;
  std::vector<std::string> notes;  // permitted losses and the like (CheckResult::note)
  std::string profile;
  std::string summary;
  FaultStats stats;
  double virtual_seconds = 0;
  uint64_t fiber_switches = 0;
  std::string trace_lines;  // only with keep_trace
};

RunReport run_seed(const RunOptions& options);

}  // namespace weir::sim
