// Time from an active controller's death (kill -9) to a new leader, in simulated time,
// over many seeds: 3 and 5 voters with Kafka's default timeouts scaled as the raft
// workload runs them (election 500 ms, fetch 1000 ms). Prints the distribution.
//
//   build/bench/raft/bench_raft_failover [seeds]      (default 200 per quorum size)
#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "sim/workloads/raft_quorum.h"

int main(int argc, char** argv) {
  const uint64_t seeds = argc > 1 ? std::strtoull(argv[1], nullptr, 10) : 200;
  for (int voters : {3, 5}) {
    std::vector<double> ms;
    uint64_t none = 0;
    for (uint64_t seed = 1; seed <= seeds; seed++) {
      auto gap = weir::sim::measure_raft_failover(seed, voters);
      if (!gap) {
        none++;
        continue;
      }
      ms.push_back(static_cast<double>(gap->count()) / 1e6);
    }
    std::sort(ms.begin(), ms.end());
    auto at = [&](double q) {
      if (ms.empty()) return 0.0;
      return ms[std::min(ms.size() - 1, static_cast<size_t>(q * static_cast<double>(ms.size())))];
    };
    double sum = 0;
    for (double m : ms) sum += m;
    fmt::print(
        "voters={} seeds={} failovers={} no_leader_within_60s={} leader crash to new leader "
        "(simulated ms): min {:.0f} p50 {:.0f} p90 {:.0f} p99 {:.0f} max {:.0f} mean {:.0f}\n",
        voters, seeds, ms.size(), none, ms.empty() ? 0.0 : ms.front(), at(0.5), at(0.9), at(0.99),
        ms.empty() ? 0.0 : ms.back(), ms.empty() ? 0.0 : sum / static_cast<double>(ms.size()));
  }
  return 0;
}
