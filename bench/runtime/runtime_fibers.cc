// The cost of the fiber machinery itself: a switch between two fibers, a spawn that
// runs to completion, and a Channel round trip. The scheduler runs FIFO with a clock
// that never moves and a reactor with nothing to wait for, so only the scheduler and
// Boost.Context are measured (the real runtime adds one non-blocking epoll_wait every
// 64 fiber runs, see RealRuntime).
#include <optional>

#include <benchmark/benchmark.h>

#include "runtime/scheduler.h"
#include "runtime/sync.h"

namespace weir::runtime {
namespace {

class FrozenClock final : public Clock {
 public:
  Instant now() const override { return Instant{}; }
  WallTime wall_now() const override { return WallTime{}; }
};

class IdleReactor final : public Reactor {
 public:
  bool wait(std::optional<Instant>) override { return false; }
};

struct Bench {
  FrozenClock clock;
  IdleReactor reactor;
  Scheduler scheduler{clock, reactor, nullptr};
};

// Two fibers yield to each other. One iteration is two fiber-to-fiber switches
// (bench -> partner -> bench), each through the scheduler's own context.
void fiber_switch(benchmark::State& state) {
  Bench bench;
  bool done = false;
  bench.scheduler.spawn("partner", [&] {
    while (!done) bench.scheduler.yield();
  });
  bench.scheduler.spawn("bench", [&] {
    for (auto _ : state) bench.scheduler.yield();
    done = true;
  });
  bench.scheduler.run();
  // items_per_second is switches per second; the time per switch is half the time per
  // iteration.
  state.SetItemsProcessed(state.iterations() * 2);
}
BENCHMARK(fiber_switch);

// Spawn a fiber (allocating its guarded 512 KiB stack), run it, reap it.
void fiber_spawn_and_finish(benchmark::State& state) {
  Bench bench;
  int64_t finished = 0;
  bench.scheduler.spawn("bench", [&] {
    for (auto _ : state) {
      bench.scheduler.spawn("child", [&finished] { finished++; });
      bench.scheduler.yield();  // FIFO: the child runs to completion here
    }
  });
  bench.scheduler.run();
  if (finished != state.iterations()) state.SkipWithError("a child did not finish");
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(fiber_spawn_and_finish);

// A request on one channel, its reply on another: two sends, two receives, two
// fiber switches.
void channel_round_trip(benchmark::State& state) {
  Bench bench;
  Channel<int64_t> requests(bench.scheduler, 1);
  Channel<int64_t> replies(bench.scheduler, 1);
  bench.scheduler.spawn("server", [&] {
    while (auto request = requests.receive()) replies.send(*request + 1);
  });
  bench.scheduler.spawn("client", [&] {
    int64_t value = 0;
    for (auto _ : state) {
      requests.send(value);
      value = *replies.receive();
    }
    benchmark::DoNotOptimize(value);
    requests.close();
  });
  bench.scheduler.run();
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(channel_round_trip);

}  // namespace
}  // namespace weir::runtime

BENCHMARK_MAIN();
