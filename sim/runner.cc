#include "sim/runner.h"

#include <exception>

#include <fmt/format.h>

#include "base/assert.h"
#include "sim/workloads/workload.h"
#include "sim/world.h"

namespace weir::sim {

namespace {
std::string describe_failure(const std::exception_ptr& failure) {
  try {
    std::rethrow_exception(failure);
  } catch (const std::exception& e) {
    return e.what();
  } catch (...) {
    return "unknown exception";
  }
}
}  // namespace

RunReport run_seed(const RunOptions& options) {
  RunReport report;
  report.seed = options.seed;
  runtime::Random profile_random(options.seed ^ 0x5eed5eed5eed5eedULL);
  const FaultProfile profile = FaultProfile::draw(profile_random, options.faults);
  report.profile = profile.describe();

  auto workload = make_workload(options.workload, options);
  VERIFY(workload != nullptr, "unknown workload {}", options.workload);
  World world(options.seed, profile, options.flaws, options.keep_trace);

  auto finish = [&](Verdict verdict, std::vector<std::string> problems) {
    report.verdict = verdict;
    report.problems = std::move(problems);
    report.trace_hash = world.trace().hash();
    report.events = world.trace().events();
    report.stats = world.stats();
    report.virtual_seconds = static_cast<double>(world.now().nanoseconds()) / 1e9;
    report.fiber_switches = world.scheduler().switches();
    if (options.keep_trace) report.trace_lines = world.trace().lines();
    return report;
  };
  auto crashed = [&] {
    return finish(Verdict::crash, {fmt::format("fiber '{}' failed: {}",
                                               world.scheduler().failure_fiber(),
                                               describe_failure(world.failure()))});
  };

  workload->setup(world);
  const runtime::Instant faulty_end = world.now() + options.faulty;
  world.inject_faults_until(faulty_end);
  if (!world.run_until(faulty_end) && world.failure()) return crashed();

  world.heal();
  workload->on_heal(world);
  if (!world.run_for(options.healed) && world.failure()) return crashed();

  workload->quiesce(world);
  if (!world.run_for(runtime::seconds(5)) && world.failure()) return crashed();
  // A last power loss of every node: whatever was acknowledged must survive it.
  for (size_t node = 0; node < world.node_count(); node++) world.crash(node);
  for (size_t node = 0; node < world.node_count(); node++) world.restart(node);
  if (!world.run_for(runtime::seconds(10)) && world.failure()) return crashed();

  CheckResult result = workload->check(world);
  report.summary = result.summary;
  report.notes = std::move(result.notes);
  return finish(result.verdict, std::move(result.problems));
}

}  // namespace weir::sim
