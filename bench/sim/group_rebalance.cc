// Rebalance time of a classic consumer group, in virtual milliseconds, for groups of
// 10 and 100 members: the shipped nodes (three controllers, three brokers) in the
// simulator with no faults, the members running weir's GroupConsumer with Kafka's
// client defaults (session.timeout.ms 45 s, heartbeat.interval.ms 3 s, range assignor)
// and the broker's defaults (group.initial.rebalance.delay.ms 3 s). The topic has as many
// partitions as the group has members.
//
// Four events, each timed from the moment it happens until every live member reports
// the same generation and their assignments split the partitions exactly:
//   form   — all members start at once (includes the initial rebalance delay);
//   join   — one more member joins a stable group (the others notice at their next
//            heartbeat);
//   leave  — a member closes (LeaveGroup);
//   crash  — a member's process dies (noticed when its session expires).
//
//   build/bench/sim/bench_group_rebalance [members...]     (default: 10 100)
//
// Virtual time does not depend on the machine: the figures are the protocol's, and a
// run is deterministic (seed 1). The wall time of each run is printed for scale.
#include <chrono>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include <absl/container/btree_set.h>
#include <fmt/format.h>

#include "client/admin.h"
#include "client/cluster.h"
#include "client/group_consumer.h"
#include "sim/node_process.h"
#include "sim/workloads/kraft_cluster.h"
#include "sim/world.h"

namespace weir::sim {
namespace {

using kraft::broker_host;
using kraft::controller_host;
using kraft::kBrokerPort;
using kraft::kControllerPort;
using runtime::milliseconds;
using runtime::seconds;

constexpr int kVoters = 3;
constexpr int kBrokers = 3;
constexpr int kFirstBroker = 11;
constexpr const char* kTopic = "work";
constexpr const char* kGroup = "bench";

struct MemberView {
  int32_t generation = -1;
  std::vector<int32_t> partitions;
  bool live = true;
  bool stop = false;  // asks the member to close (LeaveGroup)
};

struct Shared {
  bool topic_ready = false;
  std::vector<MemberView> members;
};

client::ClusterOptions options(const std::vector<runtime::Address>& bootstrap) {
  client::ClusterOptions out;
  out.bootstrap_servers = bootstrap;
  return out;
}

class Member final : public Process {
 public:
  Member(NodeContext& context, Shared& shared, size_t index,
         std::vector<runtime::Address> bootstrap)
      : env_(context.env), shared_(shared), index_(index), bootstrap_(std::move(bootstrap)) {}

  void run() override {
    client::Cluster cluster(env_, options(bootstrap_));
    client::GroupConsumerConfig config;  // Kafka's client defaults
    config.group_id = kGroup;
    config.consumer.auto_offset_reset = client::OffsetReset::earliest;
    client::GroupConsumer consumer(cluster, config);
    consumer.subscribe({kTopic});
    while (!shared_.members[index_].stop) {
      if (!consumer.poll(milliseconds(100))) env_.scheduler.sleep_for(milliseconds(100));
      MemberView& view = shared_.members[index_];
      view.generation = consumer.membership().generation();
      view.partitions.clear();
      for (const client::TopicPartition& tp : consumer.assignment()) {
        view.partitions.push_back(tp.partition);
      }
    }
    (void)consumer.close();
  }

 private:
  runtime::Env& env_;
  Shared& shared_;
  size_t index_;
  std::vector<runtime::Address> bootstrap_;
};

class TopicMaker final : public Process {
 public:
  TopicMaker(NodeContext& context, Shared& shared, std::vector<runtime::Address> bootstrap,
             int32_t partitions)
      : env_(context.env), shared_(shared), bootstrap_(std::move(bootstrap)),
        partitions_(partitions) {}

  void run() override {
    client::Cluster cluster(env_, options(bootstrap_));
    client::Admin admin(cluster);
    while (true) {
      auto made = admin.create_topics_wait({{kTopic, partitions_, 3, {}}});
      if (made && !made->empty() && !made->front().error) break;
      env_.scheduler.sleep_for(milliseconds(200));
    }
    shared_.topic_ready = true;
  }

 private:
  runtime::Env& env_;
  Shared& shared_;
  std::vector<runtime::Address> bootstrap_;
  int32_t partitions_;
};

// Every live member in one generation, their assignments an exact split.
bool settled(const Shared& shared, int32_t partitions) {
  int32_t generation = -1;
  absl::btree_set<int32_t> seen;
  size_t owned = 0;
  for (const MemberView& view : shared.members) {
    if (!view.live) continue;
    if (view.generation < 0) return false;
    if (generation >= 0 && view.generation != generation) return false;
    generation = view.generation;
    seen.insert(view.partitions.begin(), view.partitions.end());
    owned += view.partitions.size();
  }
  return static_cast<int32_t>(seen.size()) == partitions &&
         owned == static_cast<size_t>(partitions);
}

struct Timing {
  double form_ms = -1, join_ms = -1, leave_ms = -1, crash_ms = -1;
};

Timing run(int members) {
  World world(1, FaultProfile{}, Flaws{}, false);
  Shared shared;
  std::vector<std::string> common = kraft::quorum_config(kVoters);
  common.insert(common.end(), {"default.replication.factor=3", "offsets.topic.num.partitions=3",
                               "offsets.topic.replication.factor=3"});
  for (int id = 1; id <= kVoters; id++) {
    world.add_node(controller_host(id), [id, common](NodeContext& context) {
      std::vector<std::string> lines = common;
      lines.push_back("process.roles=controller");
      lines.push_back(fmt::format("node.id={}", id));
      lines.push_back(
          fmt::format("listeners=CONTROLLER://{}:{}", controller_host(id), kControllerPort));
      return std::make_unique<NodeProcess>(context, node_config(lines));
    });
  }
  std::vector<runtime::Address> bootstrap;
  for (int id = kFirstBroker; id < kFirstBroker + kBrokers; id++) {
    bootstrap.push_back(runtime::Address{broker_host(id), kBrokerPort});
    world.add_node(broker_host(id), [id, common](NodeContext& context) {
      std::vector<std::string> lines = common;
      lines.push_back("process.roles=broker");
      lines.push_back(fmt::format("node.id={}", id));
      lines.push_back(fmt::format("listeners=PLAINTEXT://{}:{}", broker_host(id), kBrokerPort));
      return std::make_unique<NodeProcess>(context, node_config(lines));
    });
  }
  world.add_node("admin", [&shared, bootstrap, members](NodeContext& context) {
    return std::make_unique<TopicMaker>(context, shared, bootstrap, members);
  });
  const auto step = milliseconds(10);
  const auto wait = [&](auto&& done, runtime::Duration limit) -> double {
    const runtime::Instant start = world.now();
    while (!done()) {
      if (world.now() - start > limit || !world.run_for(step)) return -1;
    }
    return std::chrono::duration<double, std::milli>(world.now() - start).count();
  };
  if (wait([&] { return shared.topic_ready; }, seconds(60)) < 0) return {};

  std::vector<size_t> nodes;
  shared.members.reserve(static_cast<size_t>(members) + 1);
  const auto add_member = [&] {
    const size_t index = shared.members.size();
    shared.members.emplace_back();
    nodes.push_back(world.add_node(
        fmt::format("m{}", index), [&shared, index, bootstrap](NodeContext& context) {
          return std::make_unique<Member>(context, shared, index, bootstrap);
        }));
  };
  const auto limit = seconds(300);
  const auto settled_now = [&] { return settled(shared, members); };
  Timing timing;
  for (int m = 0; m < members; m++) add_member();
  timing.form_ms = wait(settled_now, limit);
  world.run_for(seconds(5));  // a quiet moment: heartbeats in phase

  add_member();
  timing.join_ms = wait(settled_now, limit);
  world.run_for(seconds(5));

  shared.members[0].stop = true;
  shared.members[0].live = false;  // the rest must settle without it
  timing.leave_ms = wait(settled_now, limit);
  world.run_for(seconds(5));

  world.kill(nodes[1]);
  shared.members[1].live = false;
  timing.crash_ms = wait(settled_now, limit);
  return timing;
}

}  // namespace
}  // namespace weir::sim

int main(int argc, char** argv) {
  std::vector<int> sizes;
  for (int i = 1; i < argc; i++) sizes.push_back(std::atoi(argv[i]));
  if (sizes.empty()) sizes = {10, 100};
  fmt::print("{:>8} {:>10} {:>10} {:>10} {:>10} {:>8}\n", "members", "form_ms", "join_ms",
             "leave_ms", "crash_ms", "wall_s");
  for (int members : sizes) {
    const auto start = std::chrono::steady_clock::now();
    const weir::sim::Timing t = weir::sim::run(members);
    const double wall =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    fmt::print("{:>8} {:>10.0f} {:>10.0f} {:>10.0f} {:>10.0f} {:>8.1f}\n", members, t.form_ms,
               t.join_ms, t.leave_ms, t.crash_ms, wall);
  }
  return 0;
}
