// World: process faults (crash, kill, pause, panic), the fault injector for process and
// network faults, clock skew and drift, buggify, and the determinism of the trace hash.
// Each fault is shown to have its effect: a test here fails if the injector silently
// does nothing. Time is virtual, so every timing assertion is exact and deterministic.
#include "sim/world.h"

#include <cstddef>
#include <cstdint>
#include <memory>
#include <set>
#include "base/source_location.h"
#include <span>
#include <string>
#include <utility>
#include <vector>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "runtime/buggify.h"
#include "runtime/clock.h"
#include "runtime/random.h"
#include "sim/clock.h"
#include "sim/faults.h"
#include "sim/options.h"

namespace weir::sim {
namespace {

using runtime::Address;
using runtime::Duration;
using runtime::Instant;
using runtime::milliseconds;
using runtime::OpenMode;
using runtime::seconds;

std::span<const std::byte> as_bytes(const std::string& text) {
  return {reinterpret_cast<const std::byte*>(text.data()), text.size()};
}

// What the processes of one node tell the test.
struct Probe {
  uint64_t ticks = 0;
  uint64_t built = 0;
  uint64_t destroyed = 0;
  std::vector<uint64_t> incarnations;
  std::vector<std::string> seen;  // what each incarnation read from its disk
};

// Counts a tick every 10ms for as long as its fibers run. Incarnation 1 panics after
// `panic_after` if that is set.
class Ticker final : public Process {
 public:
  Ticker(NodeContext& context, Probe& probe, Duration panic_after)
      : context_(context), probe_(probe), panic_after_(panic_after) {
    probe_.built++;
    probe_.incarnations.push_back(context.incarnation);
  }
  ~Ticker() override { probe_.destroyed++; }
  void run() override {
    const Instant start = context_.env.clock.now();
    while (true) {
      context_.env.scheduler.sleep_for(milliseconds(10));
      probe_.ticks++;
      if (context_.incarnation == 1 && panic_after_ > Duration(0) &&
          context_.env.clock.now() - start >= panic_after_) {
        context_.panic("test panic");
      }
    }
  }

 private:
  NodeContext& context_;
  Probe& probe_;
  Duration panic_after_;
};

ProcessFactory ticker(Probe& probe, Duration panic_after = Duration(0)) {
  return [&probe, panic_after](NodeContext& context) {
    return std::make_unique<Ticker>(context, probe, panic_after);
  };
}

// Reads "f" (recording what it holds), and in incarnation 1 makes "old!" durable, then
// overwrites it with "new!" without fsync.
class Writer final : public Process {
 public:
  Writer(NodeContext& context, Probe& probe) : context_(context), probe_(probe) {}
  void run() override {
    runtime::Disk& disk = context_.env.disk;
    auto file = disk.open("f", OpenMode::create);
    VERIFY(file.ok());
    auto size = (*file)->size();
    VERIFY(size.ok());
    std::string text(*size, '\0');
    auto read = (*file)->read_at(0, {reinterpret_cast<std::byte*>(text.data()), text.size()});
    VERIFY(read.ok());
    probe_.seen.push_back(text.empty() ? "<empty>" : text);
    if (context_.incarnation != 1) return;
    VERIFY((*file)->write_at(0, as_bytes("old!")).ok());
    VERIFY((*file)->sync().ok());
    VERIFY(disk.sync_directory("").ok());
    VERIFY((*file)->write_at(0, as_bytes("new!")).ok());
    probe_.ticks++;  // done
  }

 private:
  NodeContext& context_;
  Probe& probe_;
};

ProcessFactory writer(Probe& probe) {
  return [&probe](NodeContext& context) { return std::make_unique<Writer>(context, probe); };
}

// Does nothing: a node that only exists to be partitioned.
class Idle final : public Process {
 public:
  explicit Idle(NodeContext&) {}
  void run() override {}
};

FaultProfile no_faults() { return FaultProfile{}; }

uint64_t incarnations_beyond_first(const World& world) {
  uint64_t restarts = 0;
  for (size_t node = 0; node < world.node_count(); node++) {
    restarts += world.incarnation(node) - 1;
  }
  return restarts;
}

TEST(WorldTest, CrashStopsTheNodesFibersAndRestartBuildsANewProcess) {
  Probe probe;
  World world(1, no_faults(), Flaws{}, false);
  world.add_node("n0", ticker(probe));
  EXPECT_TRUE(world.is_up(0));
  EXPECT_EQ(world.incarnation(0), 1u);
  ASSERT_TRUE(world.run_for(seconds(1)));
  EXPECT_GE(probe.ticks, 99u);

  world.crash(0);
  EXPECT_FALSE(world.is_up(0));
  EXPECT_EQ(probe.destroyed, 1u) << "the crashed process's memory is gone";
  const uint64_t at_crash = probe.ticks;
  ASSERT_TRUE(world.run_for(seconds(1)));
  EXPECT_EQ(probe.ticks, at_crash) << "a crashed node's fibers kept running";

  world.restart(0);
  EXPECT_TRUE(world.is_up(0));
  EXPECT_EQ(world.incarnation(0), 2u);
  EXPECT_EQ(probe.built, 2u);
  EXPECT_EQ(probe.incarnations, (std::vector<uint64_t>{1, 2}));
  ASSERT_TRUE(world.run_for(seconds(1)));
  EXPECT_GE(probe.ticks, at_crash + 99);

  world.kill(0);
  EXPECT_FALSE(world.is_up(0));
  const uint64_t at_kill = probe.ticks;
  ASSERT_TRUE(world.run_for(seconds(1)));
  EXPECT_EQ(probe.ticks, at_kill) << "a killed node's fibers kept running";
  EXPECT_EQ(probe.destroyed, 2u);
}

// Runs a Writer, ends it with `end` (crash or kill), restarts it, and returns what each
// incarnation read from the disk.
std::vector<std::string> writer_after(void (World::*end)(size_t)) {
  Probe probe;
  FaultProfile profile;
  profile.disk.unsynced_sector_survives = 0;  // a crash loses every unsynced sector
  World world(2, profile, Flaws{}, false);
  world.add_node("n0", writer(probe));
  VERIFY(world.run_for(seconds(1)));
  VERIFY(probe.ticks == 1, "the writer did not finish");
  (world.*end)(0);
  world.restart(0);
  VERIFY(world.run_for(seconds(1)));
  return probe.seen;
}

TEST(WorldTest, CrashLosesUnsyncedDataButKillKeepsIt) {
  EXPECT_EQ(writer_after(&World::crash), (std::vector<std::string>{"<empty>", "old!"}));
  EXPECT_EQ(writer_after(&World::kill), (std::vector<std::string>{"<empty>", "new!"}));
}

TEST(WorldTest, PauseStopsTheNodesFibersForItsDuration) {
  Probe paused;
  Probe other;
  World world(3, no_faults(), Flaws{}, false);
  world.add_node("n0", ticker(paused));
  world.add_node("n1", ticker(other));
  ASSERT_TRUE(world.run_for(seconds(1)));
  const uint64_t at_pause = paused.ticks;
  const uint64_t other_at_pause = other.ticks;
  world.pause(0, seconds(2));
  ASSERT_TRUE(world.run_for(milliseconds(1990)));
  EXPECT_EQ(paused.ticks, at_pause) << "a paused node ran";
  EXPECT_GE(other.ticks, other_at_pause + 190) << "the pause stopped another node";
  ASSERT_TRUE(world.run_for(seconds(1)));
  EXPECT_GE(paused.ticks, at_pause + 90) << "the node did not resume after its pause";
  EXPECT_TRUE(world.is_up(0));
  EXPECT_EQ(world.incarnation(0), 1u) << "a pause is not a restart";
  EXPECT_EQ(paused.built, 1u);
}

TEST(WorldTest, PanicKillsAndRestartsTheNode) {
  Probe probe;
  World world(4, no_faults(), Flaws{}, false);
  world.add_node("n0", ticker(probe, milliseconds(100)));
  ASSERT_TRUE(world.run_for(seconds(1)));
  EXPECT_TRUE(world.is_up(0));
  EXPECT_EQ(world.incarnation(0), 2u);
  EXPECT_EQ(probe.built, 2u);
  EXPECT_EQ(probe.destroyed, 1u);
  EXPECT_EQ(world.stats().get("process.panic"), 1u);
  EXPECT_GE(probe.ticks, 99u) << "the restarted incarnation does not run";
  ASSERT_TRUE(world.run_for(seconds(1)));
  EXPECT_EQ(world.incarnation(0), 2u) << "only incarnation 1 panics";
}

TEST(WorldTest, NothingIsInjectedWhenEveryFaultKindIsOff) {
  std::vector<Probe> probes(3);
  World world(5, no_faults(), Flaws{}, false);
  for (size_t i = 0; i < probes.size(); i++) {
    world.add_node(fmt::format("n{}", i), ticker(probes[i]));
  }
  world.inject_faults_until(world.now() + seconds(10));
  ASSERT_TRUE(world.run_for(seconds(10)));
  EXPECT_TRUE(world.stats().all().empty());
  EXPECT_TRUE(world.network().cut_history().empty());
  EXPECT_EQ(incarnations_beyond_first(world), 0u);
}

TEST(WorldTest, InjectedProcessCrashesHappenAndStopAfterHeal) {
  FaultProfile profile;
  profile.process.enabled = true;
  profile.process.crash_rate_per_second = 4;
  std::vector<Probe> probes(4);
  World world(6, profile, Flaws{}, false);
  for (size_t i = 0; i < 3; i++) world.add_node(fmt::format("n{}", i), ticker(probes[i]));
  NodeOptions steady;
  steady.faulty = false;
  world.add_node("client", ticker(probes[3]), steady);

  // The faulty phase would last a minute: heal() must end it early.
  world.inject_faults_until(world.now() + seconds(60));
  ASSERT_TRUE(world.run_for(seconds(10)));
  EXPECT_GT(world.stats().get("process.crash"), 0u);
  EXPECT_GT(incarnations_beyond_first(world), 0u) << "crashed nodes were never restarted";
  EXPECT_EQ(world.incarnation(3), 1u) << "a node that is not faulty crashed";
  // Only the kind that is switched on fires.
  EXPECT_EQ(world.stats().get("process.kill"), 0u);
  EXPECT_EQ(world.stats().get("process.pause"), 0u);
  EXPECT_TRUE(world.network().cut_history().empty());

  world.heal();
  EXPECT_TRUE(world.healed());
  std::vector<uint64_t> incarnations;
  std::vector<uint64_t> ticks;
  for (size_t i = 0; i < world.node_count(); i++) {
    EXPECT_TRUE(world.is_up(i)) << "heal restarts every node that is down";
    incarnations.push_back(world.incarnation(i));
    ticks.push_back(probes[i].ticks);
  }
  const uint64_t crashes = world.stats().get("process.crash");
  ASSERT_TRUE(world.run_for(seconds(20)));
  EXPECT_EQ(world.stats().get("process.crash"), crashes) << "a crash after heal()";
  for (size_t i = 0; i < world.node_count(); i++) {
    EXPECT_EQ(world.incarnation(i), incarnations[i]) << "node " << i;
    EXPECT_GE(probes[i].ticks, ticks[i] + 1900) << "node " << i << " stopped after heal";
  }
}

TEST(WorldTest, InjectedPartitionsShowUpInCutHistoryAndStopAfterHeal) {
  FaultProfile profile;
  profile.network.enabled = true;
  profile.network.partition_rate_per_second = 4;
  std::vector<Probe> probes(4);
  World world(7, profile, Flaws{}, false);
  for (size_t i = 0; i < probes.size(); i++) {
    world.add_node(fmt::format("n{}", i), ticker(probes[i]));
  }

  // The faulty phase would last a minute: heal() must end it early.
  world.inject_faults_until(world.now() + seconds(60));
  ASSERT_TRUE(world.run_for(seconds(10)));
  uint64_t partitions = 0;
  for (const char* kind : {"net.partition_full", "net.partition_one_way",
                           "net.partition_isolate", "net.partition_bridge"}) {
    partitions += world.stats().get(kind);
  }
  EXPECT_GT(partitions, 0u);
  // Overlapping partitions share cuts (a link cut twice is cut once, until the last of
  // them ends), so there may be fewer cut intervals than partitions, but never none.
  EXPECT_GT(world.network().cut_history().size(), 0u) << "partitions cut nothing";
  EXPECT_EQ(world.stats().get("process.crash"), 0u);
  EXPECT_EQ(incarnations_beyond_first(world), 0u);

  world.heal();
  const size_t cuts = world.network().cut_history().size();
  const std::vector<std::string> hosts = world.hosts();
  for (const std::string& from : hosts) {
    for (const std::string& to : hosts) EXPECT_FALSE(world.network().link_cut(from, to));
  }
  for (const CutInterval& cut : world.network().cut_history()) {
    EXPECT_NE(cut.from, cut.to);
    EXPECT_LE(cut.start, cut.end);
    EXPECT_LE(cut.end, world.now()) << "a cut outlived heal()";
  }
  ASSERT_TRUE(world.run_for(seconds(20)));
  EXPECT_EQ(world.network().cut_history().size(), cuts) << "a partition after heal()";
}

// BUG (found writing these tests, not fixed here): World::inject_partition heals, when its
// drawn duration (100ms to 5s) is over, every link it meant to cut, including links
// that a later, overlapping partition cut again in the meantime. So a partition can be
// cut short by an older one's heal timer (seed 7: 74 of 532 cuts last under 100ms, the
// shortest 4ms), and a full partition can decay into an unplanned shape. The fix is to
// count cuts per link (heal a link only when its last partition ends), which is more
// than a one-liner in sim/world.cc. Remove DISABLED_ once that lands.
TEST(WorldTest, InjectedPartitionsLastAtLeastTheirDrawnMinimum) {
  FaultProfile profile;
  profile.network.enabled = true;
  profile.network.partition_rate_per_second = 4;
  World world(7, profile, Flaws{}, false);
  for (size_t i = 0; i < 4; i++) {
    world.add_node(fmt::format("n{}", i), [](NodeContext& context) {
      return std::make_unique<Idle>(context);
    });
  }
  world.inject_faults_until(world.now() + seconds(60));
  ASSERT_TRUE(world.run_for(seconds(60)));
  const Instant healed_at = world.now();
  world.heal();
  for (const CutInterval& cut : world.network().cut_history()) {
    if (cut.end == healed_at) continue;  // ended by heal(), not by its own timer
    EXPECT_GE(cut.end - cut.start, milliseconds(100))
        << cut.from << "->" << cut.to << " cut at " << fmt::format("{}s", cut.start);
  }
}

// Records each node's wall clock offset from the world's (origin plus virtual time), at
// the start and after 100 virtual seconds.
struct ClockReadings {
  std::vector<std::pair<int64_t, int64_t>> offsets;  // (at start, after 100s) per node
};

class ClockReader final : public Process {
 public:
  ClockReader(NodeContext& context, ClockReadings& readings)
      : context_(context), readings_(readings) {}
  void run() override {
    const int64_t start = offset();
    context_.env.scheduler.sleep_for(seconds(100));
    const int64_t later = offset();
    readings_.offsets.at(context_.index) = {start, later};
  }

 private:
  int64_t offset() const {
    const runtime::Clock& clock = context_.env.clock;
    return clock.wall_now().milliseconds - wall_origin_ms -
           clock.now().nanoseconds() / 1'000'000;
  }
  NodeContext& context_;
  ClockReadings& readings_;
};

ClockReadings read_clocks(bool enabled) {
  FaultProfile profile;
  profile.clock.enabled = enabled;
  profile.clock.skew_ms_max = 100'000;
  profile.clock.drift_ppm_max = 1'000;
  ClockReadings readings;
  readings.offsets.resize(2, {-1, -1});
  World world(8, profile, Flaws{}, false);
  for (size_t i = 0; i < 2; i++) {
    world.add_node(fmt::format("n{}", i), [&readings](NodeContext& context) {
      return std::make_unique<ClockReader>(context, readings);
    });
  }
  VERIFY(world.run_for(seconds(101)));
  VERIFY(world.stats().get("clock.skewed_node") == (enabled ? 2u : 0u));
  return readings;
}

TEST(WorldTest, ClockFaultsSkewAndDriftWallClocks) {
  const ClockReadings skewed = read_clocks(true);
  EXPECT_NE(skewed.offsets[0].first, skewed.offsets[1].first) << "no skew between nodes";
  const bool drifted = skewed.offsets[0].first != skewed.offsets[0].second ||
                       skewed.offsets[1].first != skewed.offsets[1].second;
  EXPECT_TRUE(drifted) << "no node's clock drifted in 100 seconds";
}

TEST(WorldTest, WithoutClockFaultsEveryWallClockAgrees) {
  const ClockReadings exact = read_clocks(false);
  for (const auto& [start, later] : exact.offsets) {
    EXPECT_EQ(start, 0);
    EXPECT_EQ(later, 0);
  }
}

// Fires the node's buggify at one site `calls` times and counts the fires.
class BuggifyCaller final : public Process {
 public:
  BuggifyCaller(NodeContext& context, uint64_t& fired) : context_(context), fired_(fired) {}
  void run() override {
    for (int i = 0; i < 100; i++) {
      if (context_.env.buggify.fire()) fired_++;
    }
  }

 private:
  NodeContext& context_;
  uint64_t& fired_;
};

uint64_t buggify_fires_in_world(bool enabled) {
  FaultProfile profile;
  profile.buggify = enabled;
  profile.buggify_site_probability = 1;
  profile.buggify_fire_probability = 1;
  uint64_t fired = 0;
  World world(9, profile, Flaws{}, false);
  world.add_node("n0", [&fired](NodeContext& context) {
    return std::make_unique<BuggifyCaller>(context, fired);
  });
  VERIFY(world.run_for(seconds(1)));
  return fired;
}

TEST(BuggifyTest, WorldHandsNodesAnEnabledBuggifyOnlyWhenSwitchedOn) {
  EXPECT_EQ(buggify_fires_in_world(true), 100u);
  EXPECT_EQ(buggify_fires_in_world(false), 0u);
}

TEST(BuggifyTest, CertainSiteAndFireAlwaysFires) {
  runtime::Buggify buggify(runtime::Random(1), 1, 1.0, 1.0);
  EXPECT_TRUE(buggify.enabled());
  for (int i = 0; i < 100; i++) EXPECT_TRUE(buggify.fire());
  EXPECT_EQ(buggify.fired_count(), 100u);
}

TEST(BuggifyTest, DefaultNeverFires) {
  runtime::Buggify buggify;
  EXPECT_FALSE(buggify.enabled());
  for (int i = 0; i < 1000; i++) EXPECT_FALSE(buggify.fire());
  EXPECT_EQ(buggify.fired_count(), 0u);
}

TEST(BuggifyTest, FireProbabilityThinsOutAnEnabledSite) {
  runtime::Buggify buggify(runtime::Random(1), 1, 1.0, 0.5);
  uint64_t fired = 0;
  for (int i = 0; i < 1000; i++) fired += buggify.fire() ? 1 : 0;
  EXPECT_GT(fired, 300u);
  EXPECT_LT(fired, 700u);
  EXPECT_EQ(buggify.fired_count(), fired);
}

// Whether one fixed site is switched on for `seed`; firing is certain once it is on.
bool site_enabled(uint64_t seed, uint64_t random_seed,
                  SourceLocation site = SourceLocation::current()) {
  runtime::Buggify buggify(runtime::Random(random_seed), seed, 0.5, 1.0);
  return buggify.fire(site);
}

TEST(BuggifyTest, SiteDecisionsAreDeterministicPerSeed) {
  const SourceLocation site = SourceLocation::current();
  size_t on = 0;
  size_t off = 0;
  for (uint64_t seed = 1; seed <= 40; seed++) {
    const bool enabled = site_enabled(seed, 1, site);
    // The decision depends on the seed and the site only, not on the node's generator.
    EXPECT_EQ(site_enabled(seed, 1, site), enabled) << "seed " << seed;
    EXPECT_EQ(site_enabled(seed, seed * 31 + 5, site), enabled) << "seed " << seed;
    (enabled ? on : off)++;
  }
  EXPECT_GT(on, 0u) << "the site is never switched on";
  EXPECT_GT(off, 0u) << "the site is never switched off";
}

// A small workload that touches every kind of event: each node listens, connects to the
// others, sends a message, reads the echo, appends to a file and sometimes syncs.
class Chatty final : public Process {
 public:
  explicit Chatty(NodeContext& context) : context_(context) {}
  void run() override {
    runtime::Env& env = context_.env;
    auto listening = env.network.listen(Address{context_.host, 9000});
    VERIFY(listening.ok());
    listener_ = std::move(listening).value();
    env.scheduler.spawn("accept", [this] { accept_loop(); });
    auto file = env.disk.open("log", OpenMode::create);
    uint64_t written = 0;
    for (uint64_t round = 0;; round++) {
      for (const std::string& peer : context_.world.hosts()) {
        if (peer == context_.host) continue;
        auto stream = env.network.connect(Address{peer, 9000}, milliseconds(300));
        if (!stream.ok()) continue;
        const std::string message = fmt::format("{} {} {}", context_.host, round,
                                                env.random.below(1000));
        if (!(*stream)->write_all(as_bytes(message)).ok()) continue;
        std::string echo(message.size(), '\0');
        (void)(*stream)->read_exactly({reinterpret_cast<std::byte*>(echo.data()), echo.size()});
      }
      if (file.ok()) {
        const std::string line = fmt::format("round {}\n", round);
        if ((*file)->write_at(written, as_bytes(line)).ok()) written += line.size();
        if (round % 4 == 0) (void)(*file)->sync();
      }
      env.scheduler.sleep_for(milliseconds(env.random.between(10, 100)));
    }
  }

 private:
  void accept_loop() {
    while (true) {
      auto accepted = listener_->accept();
      if (!accepted.ok()) return;
      std::shared_ptr<runtime::Stream> stream = std::move(accepted).value();
      context_.env.scheduler.spawn("echo", [stream] {
        std::byte buffer[256];
        while (true) {
          auto got = stream->read_some(buffer);
          if (!got.ok() || *got == 0) return;
          if (!stream->write_all({buffer, *got}).ok()) return;
        }
      });
    }
  }

  NodeContext& context_;
  std::unique_ptr<runtime::Listener> listener_;
};

struct RunSummary {
  uint64_t hash = 0;
  uint64_t events = 0;
  FaultStats stats;
};

RunSummary run_chatty(uint64_t seed) {
  FaultProfile profile;
  profile.process.enabled = true;
  profile.process.crash_rate_per_second = 0.5;
  profile.process.pause_rate_per_second = 0.5;
  profile.network.enabled = true;
  profile.network.partition_rate_per_second = 0.5;
  profile.network.clog_rate_per_second = 0.5;
  profile.network.reset_rate_per_second = 1;
  profile.network.connect_timeout = 0.05;
  profile.clock.enabled = true;
  profile.clock.skew_ms_max = 1'000;
  World world(seed, profile, Flaws{}, false);
  for (size_t i = 0; i < 3; i++) {
    world.add_node(fmt::format("n{}", i), [](NodeContext& context) {
      return std::make_unique<Chatty>(context);
    });
  }
  world.inject_faults_until(world.now() + seconds(5));
  VERIFY(world.run_for(seconds(5)));
  world.heal();
  VERIFY(world.run_for(seconds(2)));
  return RunSummary{world.trace().hash(), world.trace().events(), world.stats()};
}

TEST(DeterminismTest, SameSeedSameTraceHashDifferentSeedsDiffer) {
  const RunSummary first = run_chatty(11);
  const RunSummary again = run_chatty(11);
  EXPECT_EQ(first.hash, again.hash);
  EXPECT_EQ(first.events, again.events);
  EXPECT_EQ(first.stats.all(), again.stats.all());
  EXPECT_GT(first.events, 1000u) << "the workload did almost nothing";
  EXPECT_GT(first.stats.all().size(), 0u) << "no fault fired";
  std::set<uint64_t> hashes;
  for (uint64_t seed = 11; seed <= 14; seed++) hashes.insert(run_chatty(seed).hash);
  EXPECT_EQ(hashes.size(), 4u);
}

}  // namespace
}  // namespace weir::sim
