#include "sim/world.h"

#include <algorithm>
#include <utility>

#include <fmt/format.h>

#include "base/assert.h"
#include "sim/log.h"

namespace weir::sim {

using runtime::Duration;
using runtime::Instant;
using runtime::milliseconds;
using runtime::seconds;

namespace {
// How often the injector considers starting a fault; rates are per second.
constexpr Duration fault_tick_interval = milliseconds(50);
constexpr double fault_ticks_per_second = 20.0;
}  // namespace

struct World::Node {
  std::string host;
  size_t index = 0;
  NodeOptions options;
  ProcessFactory factory;
  runtime::Random random{0};  // forks a fresh generator for every incarnation
  std::unique_ptr<NodeClock> clock;
  std::unique_ptr<SimDisk> disk;
  std::unique_ptr<runtime::Network> network;
  std::unique_ptr<TraceLog> log;

  // Per incarnation.
  bool up = false;
  uint64_t incarnation = 0;
  runtime::GroupId group;
  std::unique_ptr<runtime::Random> incarnation_random;
  std::unique_ptr<runtime::Buggify> buggify;
  std::unique_ptr<runtime::Env> env;
  std::unique_ptr<NodeContext> context;
  std::unique_ptr<Process> process;
  bool restart_pending = false;
};

void NodeContext::panic(std::string_view reason) {
  world.trace().note("panic", fmt::format("{}: {}", host, reason));
  world.stats().count("process.panic");
  const size_t node = index;
  const uint64_t dying = incarnation;
  World* w = &world;
  // The kill must happen outside the node's fibers; a timer callback runs on the
  // scheduler's own stack.
  world.scheduler().schedule_at(world.now(), [w, node, dying] {
    if (w->is_up(node) && w->incarnation(node) == dying) {
      w->kill(node);
      w->restart(node);
    }
  });
  throw runtime::Cancelled{};
}

World::World(uint64_t seed, const FaultProfile& profile, const Flaws& flaws, bool keep_trace)
    : seed_(seed), profile_(profile), flaws_(flaws), random_(seed), reactor_(clock_),
      trace_(clock_), schedule_random_(random_.fork()) {
  trace_.keep_lines(keep_trace);
  scheduler_ = std::make_unique<runtime::Scheduler>(clock_, reactor_, &schedule_random_, &trace_);
  NetworkTiming timing;
  timing.latency = Duration(random_.between(50'000, 2'000'000));
  timing.jitter = Duration(random_.between(0, timing.latency.count()));
  timing.bytes_per_second = static_cast<uint64_t>(random_.between(10'000'000, 1'000'000'000));
  network_ = std::make_unique<SimNetwork>(*scheduler_, random_.fork(), timing, stats_, trace_);
  network_->set_flaw_partition_leak(flaws.partition_leak);
}

World::~World() {
  // Unwind every node while the network and disks still exist.
  for (size_t i = 0; i < nodes_.size(); i++) {
    if (nodes_[i]->up) end_process(i);
  }
  scheduler_.reset();
}

size_t World::add_node(std::string host, ProcessFactory factory, NodeOptions options) {
  auto node = std::make_unique<Node>();
  node->host = std::move(host);
  node->index = nodes_.size();
  node->options = options;
  node->factory = std::move(factory);
  node->random = random_.fork();
  int64_t skew_ms = 0;
  double drift_ppm = 0;
  // Drawn for every node so the clock switch does not shift other draws.
  const int64_t skew_draw = node->random.between(-profile_.clock.skew_ms_max,
                                                 profile_.clock.skew_ms_max);
  const double drift_draw = (node->random.unit() * 2 - 1) * profile_.clock.drift_ppm_max;
  if (profile_.clock.enabled) {
    skew_ms = skew_draw;
    drift_ppm = drift_draw;
    stats_.count("clock.skewed_node");
  }
  node->clock = std::make_unique<NodeClock>(clock_, skew_ms, drift_ppm);
  node->disk = std::make_unique<SimDisk>(*scheduler_, node->random.fork(), profile_.disk, stats_,
                                         options.disk, &trace_);
  node->disk->set_on_unsynced_loss([this, index = nodes_.size()] {
    if (on_unsynced_loss) on_unsynced_loss(index);
  });
  node->network = network_->view(node->host);
  node->log = std::make_unique<TraceLog>(trace_, node->host);
  trace_.note("node.add", node->host);
  nodes_.push_back(std::move(node));
  start(nodes_.size() - 1);
  return nodes_.size() - 1;
}

void World::start(size_t index) {
  Node& node = *nodes_.at(index);
  VERIFY(!node.up, "start of a running node {}", node.host);
  node.incarnation++;
  node.restart_pending = false;
  node.incarnation_random = std::make_unique<runtime::Random>(node.random.fork());
  if (profile_.buggify) {
    node.buggify = std::make_unique<runtime::Buggify>(node.random.fork(), seed_,
                                                      profile_.buggify_site_probability,
                                                      profile_.buggify_fire_probability);
  } else {
    node.buggify = std::make_unique<runtime::Buggify>();
  }
  node.env = std::make_unique<runtime::Env>(runtime::Env{*scheduler_, *node.clock,
                                                         *node.incarnation_random, *node.network,
                                                         *node.disk, *node.buggify, *node.log});
  node.context = std::make_unique<NodeContext>(
      NodeContext{*this, *node.env, node.host, index, node.incarnation});
  node.group = scheduler_->new_group(fmt::format("{}#{}", node.host, node.incarnation));
  node.process = node.factory(*node.context);
  VERIFY(node.process != nullptr);
  Process* process = node.process.get();
  scheduler_->spawn(node.group, node.host + "/main", [process] { process->run(); });
  node.up = true;
  trace_.note("node.start", fmt::format("{}#{}", node.host, node.incarnation));
}

void World::kill(size_t index) {
  if (!nodes_.at(index)->up) return;
  trace_.note("node.kill", nodes_.at(index)->host);
  end_process(index);
  if (on_down) on_down(index, /*power_loss=*/false);
}

void World::end_process(size_t index) {
  Node& node = *nodes_.at(index);
  scheduler_->kill_group(node.group);
  node.process.reset();
  node.context.reset();
  node.env.reset();
  network_->crash_host(node.host);
  node.up = false;
  VERIFY(scheduler_->fiber_count(node.group) == 0);
}

void World::crash(size_t index) {
  Node& node = *nodes_.at(index);
  if (!node.up) return;
  trace_.note("node.kill", node.host);
  end_process(index);
  node.disk->crash();
  trace_.note("node.crash", node.host);
  if (on_down) on_down(index, /*power_loss=*/true);
}

void World::restart(size_t index) {
  if (nodes_.at(index)->up) return;
  start(index);
}

void World::pause(size_t index, Duration duration) {
  Node& node = *nodes_.at(index);
  if (!node.up) return;
  scheduler_->pause_group(node.group, now() + duration);
  trace_.note("node.pause", node.host);
}

bool World::is_up(size_t index) const { return nodes_.at(index)->up; }
size_t World::node_count() const { return nodes_.size(); }
const std::string& World::host(size_t index) const { return nodes_.at(index)->host; }
SimDisk& World::disk(size_t index) { return *nodes_.at(index)->disk; }
uint64_t World::incarnation(size_t index) const { return nodes_.at(index)->incarnation; }

std::vector<std::string> World::hosts() const {
  std::vector<std::string> out;
  for (const auto& node : nodes_) out.push_back(node->host);
  return out;
}

void World::inject_faults_until(Instant until) {
  injecting_ = true;
  for (auto& node : nodes_) node->disk->set_faults_active(profile_.disk.enabled);
  if (profile_.network.enabled) {
    network_->set_connect_timeout_probability(profile_.network.connect_timeout);
    network_->set_too_many_open_files_probability(profile_.network.too_many_open_files);
  }
  scheduler_->schedule_at(now() + fault_tick_interval, [this, until] { fault_tick(until); });
}

std::optional<size_t> World::pick_faulty_up_node() {
  std::vector<size_t> candidates;
  for (const auto& node : nodes_) {
    if (node->up && node->options.faulty) candidates.push_back(node->index);
  }
  if (candidates.empty()) return std::nullopt;
  return candidates[random_.below(candidates.size())];
}

void World::schedule_restart(size_t index, Duration delay) {
  Node& node = *nodes_.at(index);
  node.restart_pending = true;
  scheduler_->schedule_at(now() + delay, [this, index] {
    if (!nodes_.at(index)->up) restart(index);
  });
}

void World::inject_partition() {
  std::vector<std::string> all = hosts();
  if (all.size() < 2) return;
  std::vector<std::pair<std::string, std::string>> links;
  const uint64_t kind = random_.below(4);
  if (kind == 0) {
    // Full partition: a random split into two non-empty sides.
    std::vector<std::string> side_a;
    std::vector<std::string> side_b;
    for (const auto& host : all) (random_.chance(0.5) ? side_a : side_b).push_back(host);
    if (side_a.empty()) { side_a.push_back(side_b.back()); side_b.pop_back(); }
    if (side_b.empty()) { side_b.push_back(side_a.back()); side_a.pop_back(); }
    for (const auto& a : side_a) {
      for (const auto& b : side_b) { links.emplace_back(a, b); links.emplace_back(b, a); }
    }
    stats_.count("net.partition_full");
  } else if (kind == 1) {
    // One-way: a single direction of one link.
    const size_t from = random_.below(all.size());
    size_t to = random_.below(all.size() - 1);
    if (to >= from) to++;
    links.emplace_back(all[from], all[to]);
    stats_.count("net.partition_one_way");
  } else if (kind == 2 || all.size() < 3) {
    // Isolate one node from everyone.
    const std::string& lonely = all[random_.below(all.size())];
    for (const auto& other : all) {
      if (other == lonely) continue;
      links.emplace_back(lonely, other);
      links.emplace_back(other, lonely);
    }
    stats_.count("net.partition_isolate");
  } else {
    // Bridge: two sides that cannot talk to each other, one node that talks to both.
    std::vector<std::string> shuffled = all;
    for (size_t i = shuffled.size() - 1; i > 0; i--) {
      std::swap(shuffled[i], shuffled[random_.below(i + 1)]);
    }
    const size_t split = 1 + random_.below(shuffled.size() - 2);
    for (size_t i = 1; i <= split; i++) {
      for (size_t j = split + 1; j < shuffled.size(); j++) {
        links.emplace_back(shuffled[i], shuffled[j]);
        links.emplace_back(shuffled[j], shuffled[i]);
      }
    }
    stats_.count("net.partition_bridge");
  }
  // Partitions overlap; a link heals only when the last partition that cut it ends, so
  // an older partition's end cannot shorten a newer one.
  for (const auto& link : links) {
    if (partition_cuts_[link]++ == 0) network_->cut(link.first, link.second);
  }
  const Duration lasting = milliseconds(random_.between(100, 5'000));
  const uint64_t epoch = heal_epoch_;
  scheduler_->schedule_at(now() + lasting, [this, links, epoch] {
    if (epoch != heal_epoch_) return;  // heal() already ended every partition
    for (const auto& link : links) {
      auto it = partition_cuts_.find(link);
      VERIFY(it != partition_cuts_.end() && it->second > 0);
      if (--it->second == 0) {
        partition_cuts_.erase(it);
        network_->heal(link.first, link.second);
      }
    }
  });
}

void World::fault_tick(Instant until) {
  if (!injecting_ || now() >= until) return;
  auto roll = [&](double rate_per_second) {
    return random_.chance(rate_per_second / fault_ticks_per_second);
  };
  if (profile_.process.enabled) {
    if (roll(profile_.process.crash_rate_per_second)) {
      if (auto node = pick_faulty_up_node()) {
        stats_.count("process.crash");
        crash(*node);
        schedule_restart(*node, milliseconds(random_.between(10, 3'000)));
      }
    }
    if (roll(profile_.process.shutdown_rate_per_second)) {
      if (auto node = pick_faulty_up_node()) {
        stats_.count("process.kill");
        kill(*node);
        schedule_restart(*node, milliseconds(random_.between(10, 2'000)));
      }
    }
    if (roll(profile_.process.pause_rate_per_second)) {
      if (auto node = pick_faulty_up_node()) {
        stats_.count("process.pause");
        pause(*node, milliseconds(random_.between(10, 2'000)));
      }
    }
  }
  if (profile_.network.enabled) {
    if (roll(profile_.network.partition_rate_per_second)) inject_partition();
    if (roll(profile_.network.clog_rate_per_second)) {
      const std::vector<std::string> all = hosts();
      if (all.size() >= 2) {
        const size_t from = random_.below(all.size());
        size_t to = random_.below(all.size() - 1);
        if (to >= from) to++;
        stats_.count("net.clog");
        network_->clog(all[from], all[to], now() + milliseconds(random_.between(10, 1'000)));
      }
    }
    if (roll(profile_.network.reset_rate_per_second)) {
      if (network_->reset_random_connection()) stats_.count("net.reset");
    }
  }
  scheduler_->schedule_at(now() + fault_tick_interval, [this, until] { fault_tick(until); });
}

void World::heal() {
  injecting_ = false;
  healed_ = true;
  trace_.note("heal", "all");
  network_->heal_all();
  partition_cuts_.clear();
  heal_epoch_++;
  network_->set_connect_timeout_probability(0);
  network_->set_too_many_open_files_probability(0);
  for (auto& node : nodes_) {
    node->disk->set_faults_active(false);
    if (!node->up) start(node->index);
  }
}

bool World::run_until(Instant deadline) {
  // An event at the deadline, so that time reaches it even when all is quiet.
  scheduler_->schedule_at(deadline, [] {});
  const bool reached = scheduler_->run_until([&] { return now() >= deadline; });
  return reached && !scheduler_->failure();
}

}  // namespace weir::sim
