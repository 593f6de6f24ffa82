// weir-sim: runs seeds of the deterministic simulator and prints, per seed, the trace
// hash, the verdict and — on failure — the one command that replays it.
#include <algorithm>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "runtime/real/clock.h"
#include "runtime/real/files.h"
#include "sim/options.h"
#include "sim/runner.h"

namespace {

using weir::sim::Verdict;

// Worse verdicts win the exit code: a crash, then a wrong answer, then a stall.
int severity(Verdict verdict) {
  switch (verdict) {
    case Verdict::ok: return 0;
    case Verdict::liveness: return 1;
    case Verdict::correctness: return 2;
    case Verdict::crash: return 3;
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> arguments(argv + 1, argv + argc);
  auto parsed = weir::sim::parse_command_line(arguments);
  if (!parsed) {
    fmt::print(stderr, "weir-sim: {}\n{}", parsed.error(), weir::sim::usage());
    return 2;
  }
  const weir::sim::Command& command = *parsed;
  if (command.help) {
    fmt::print("{}", weir::sim::usage());
    return 0;
  }

  weir::runtime::real::RealClock wall;
  const auto started = wall.now();
  Verdict worst = Verdict::ok;
  weir::sim::FaultStats totals;
  uint64_t failures = 0;
  uint64_t events = 0;
  double virtual_seconds = 0;
  for (uint64_t seed = command.seed_first;; seed++) {
    weir::sim::RunOptions options = command.run;
    options.seed = seed;
    const weir::sim::RunReport report = weir::sim::run_seed(options);
    events += report.events;
    virtual_seconds += report.virtual_seconds;
    totals.merge(report.stats);
    fmt::print("seed {} hash {:016x} verdict {} faults {} virtual {:.1f}s events {} {}\n", seed,
               report.trace_hash, to_string(report.verdict), report.profile,
               report.virtual_seconds, report.events, report.summary);
    if (report.verdict != Verdict::ok || command.verbose) {
      for (const auto& problem : report.problems) fmt::print("  problem: {}\n", problem);
      for (const auto& note : report.notes) fmt::print("  note: {}\n", note);
      for (const auto& [kind, count] : report.stats.all()) {
        fmt::print("  fault {} x{}\n", kind, count);
      }
    }
    if (report.verdict != Verdict::ok) {
      failures++;
      fmt::print("  replay: weir-sim --seed {} {}\n", seed, options.replay_arguments());
      if (severity(report.verdict) > severity(worst)) worst = report.verdict;
    }
    if (!command.trace_file.empty()) {
      if (!weir::runtime::real::write_text_file(command.trace_file, report.trace_lines)) {
        fmt::print(stderr, "weir-sim: cannot write --trace file {}\n", command.trace_file);
        return 2;
      }
    }
    if (seed == command.seed_last) break;
  }
  const double wall_seconds =
      static_cast<double>((wall.now() - started).count()) / 1e9;
  const uint64_t seeds = command.seed_last - command.seed_first + 1;
  if (seeds > 1) {
    fmt::print("seeds {} failed {} virtual {:.0f}s wall {:.1f}s ({:.0f}x real time, "
               "{:.0f} events/s)\n",
               seeds, failures, virtual_seconds, wall_seconds,
               virtual_seconds / std::max(wall_seconds, 1e-9),
               static_cast<double>(events) / std::max(wall_seconds, 1e-9));
    for (const auto& [kind, count] : totals.all()) fmt::print("  fault {} x{}\n", kind, count);
  }
  return weir::sim::exit_code(worst);
}
