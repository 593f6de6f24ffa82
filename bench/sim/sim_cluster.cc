// Simulator speed: how much virtual time a second of wall time buys, for an idle and a
// busy 5-node cluster, and how many events per second the simulator processes running
// the replicated_log workload under faults.
//
//   build/bench/sim/bench_sim --benchmark_counters_tabular=true
#include <memory>
#include <string>

#include <benchmark/benchmark.h>
#include <fmt/format.h>

#include "runtime/sync.h"
#include "sim/runner.h"
#include "sim/world.h"

namespace weir::sim {
namespace {

using runtime::milliseconds;
using runtime::seconds;

constexpr int cluster_nodes = 5;
constexpr uint16_t port = 7000;

// Each node listens, connects to the next node in the ring, and sends it messages: a
// 64-byte heartbeat every 100 ms when idle, 16 KiB writes back to back when busy.
class RingNode final : public Process {
 public:
  RingNode(NodeContext& context, bool busy) : context_(context), busy_(busy) {}

  void run() override {
    runtime::Env& env = context_.env;
    auto listener = env.network.listen({context_.host, port});
    if (!listener) return;
    std::shared_ptr<runtime::Listener> shared_listener = std::move(*listener);
    env.scheduler.spawn("accept", [this, listener = shared_listener] {
      while (auto stream = listener->accept()) {
        std::shared_ptr<runtime::Stream> shared = std::move(*stream);
        context_.env.scheduler.spawn("drain", [shared] {
          std::byte buffer[16384];
          while (true) {
            auto got = shared->read_some(buffer);
            if (!got || *got == 0) return;
          }
        });
      }
    });
    const std::string next = fmt::format("n{}", (context_.index + 1) % cluster_nodes);
    std::vector<std::byte> message(busy_ ? 16384 : 64);
    while (true) {
      auto stream = env.network.connect({next, port}, seconds(1));
      if (!stream) {
        env.scheduler.sleep_for(milliseconds(10));
        continue;
      }
      while ((*stream)->write_all(message)) {
        if (!busy_) env.scheduler.sleep_for(milliseconds(100));
      }
    }
  }

 private:
  NodeContext& context_;
  bool busy_;
};

void ring(benchmark::State& state, bool busy) {
  const runtime::Duration virtual_per_iteration = busy ? seconds(1) : seconds(3600);
  double virtual_seconds = 0;
  uint64_t events = 0;
  for (auto _ : state) {
    World world(42, FaultProfile{}, Flaws{}, false);
    for (int node = 0; node < cluster_nodes; node++) {
      world.add_node(fmt::format("n{}", node), [busy](NodeContext& context) {
        return std::make_unique<RingNode>(context, busy);
      });
    }
    world.run_for(virtual_per_iteration);
    virtual_seconds += static_cast<double>(virtual_per_iteration.count()) / 1e9;
    events += world.trace().events();
  }
  state.counters["virtual_s_per_wall_s"] =
      benchmark::Counter(virtual_seconds, benchmark::Counter::kIsRate);
  state.counters["events_per_s"] =
      benchmark::Counter(static_cast<double>(events), benchmark::Counter::kIsRate);
}

void BM_IdleFiveNodeCluster(benchmark::State& state) { ring(state, false); }
void BM_BusyFiveNodeCluster(benchmark::State& state) { ring(state, true); }

// One seed of the replicated_log workload with every fault kind allowed.
void BM_ReplicatedLogSeed(benchmark::State& state) {
  uint64_t seed = 1;
  double virtual_seconds = 0;
  uint64_t events = 0;
  for (auto _ : state) {
    RunOptions options;
    options.seed = seed++;
    const RunReport report = run_seed(options);
    virtual_seconds += report.virtual_seconds;
    events += report.events;
  }
  state.counters["virtual_s_per_wall_s"] =
      benchmark::Counter(virtual_seconds, benchmark::Counter::kIsRate);
  state.counters["events_per_s"] =
      benchmark::Counter(static_cast<double>(events), benchmark::Counter::kIsRate);
}

BENCHMARK(BM_IdleFiveNodeCluster)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_BusyFiveNodeCluster)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_ReplicatedLogSeed)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace weir::sim

BENCHMARK_MAIN();
