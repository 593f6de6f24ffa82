#include "sim/workloads/partition_replication.h"

#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "sim/node_process.h"
#include "sim/workloads/log_client.h"

namespace weir::sim {

namespace {

constexpr uint16_t kControllerPort = 9093;
constexpr uint16_t kBrokerPort = 9092;
constexpr int kVoters = 3;
constexpr int kFirstBroker = 11;
constexpr int kBrokers = 3;
constexpr const char* kClientHost = "client";
constexpr const char* kTopic = "events";
constexpr int32_t kPartitions = 2;

std::string controller_host(int id) { return fmt::format("c{}", id); }
std::string broker_host(int id) { return fmt::format("b{}", id); }

std::vector<std::string> common_config() {
  std::string voters;
  for (int voter = 1; voter <= kVoters; voter++) {
    voters += fmt::format("{}{}@{}:{}", voter == 1 ? "" : ",", voter, controller_host(voter),
                          kControllerPort);
  }
  return {
      fmt::format("controller.quorum.voters={}", voters),
      "controller.listener.names=CONTROLLER",
      "controller.quorum.election.timeout.ms=500",
      "controller.quorum.fetch.timeout.ms=1000",
      "broker.session.timeout.ms=3000",
      "broker.heartbeat.interval.ms=500",
      // Replication at the simulator's pace: a follower leaves the ISR after 2 s.
      "replica.lag.time.max.ms=2000",
      "replica.fetch.wait.max.ms=200",
      "replica.fetch.backoff.ms=100",
      "default.replication.factor=3",
      "min.insync.replicas=2",
      fmt::format("num.partitions={}", kPartitions),
  };
}

class PartitionReplicationWorkload final : public Workload {
 public:
  explicit PartitionReplicationWorkload(const RunOptions& options) : flaws_(options.flaws) {}

  void setup(World& world) override {
    for (int id = 1; id <= kVoters; id++) {
      world.add_node(controller_host(id), [id](NodeContext& context) {
        std::vector<std::string> lines = common_config();
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
      world.add_node(broker_host(id), [this, id](NodeContext& context) {
        std::vector<std::string> lines = common_config();
        lines.push_back("process.roles=broker");
        lines.push_back(fmt::format("node.id={}", id));
        lines.push_back(fmt::format("listeners=PLAINTEXT://{}:{}", broker_host(id), kBrokerPort));
        server::NodeHooks hooks;
        hooks.broker.ack_on_leader = flaws_.ack_on_leader;
        hooks.broker.shrink_isr_early = flaws_.shrink_isr_early;
        hooks.broker.skip_follower_truncation = flaws_.skip_follower_truncation;
        hooks.broker.truncate_to_high_watermark = flaws_.truncate_to_high_watermark;
        // How much the partitions moved: the largest leader and partition epochs any
        // broker reconciled to (each election bumps the one, each ISR change the other).
        hooks.broker.on_reconciled = [this](const metadata::Image& image,
                                            const std::vector<std::string>&) {
          const metadata::TopicImage* topic = image.topic(kTopic);
          if (topic == nullptr) return;
          for (size_t p = 0; p < topic->partitions.size() && p < epochs_.size(); p++) {
            const metadata::PartitionState& state = topic->partitions[p];
            epochs_[p].first = std::max(epochs_[p].first, state.leader_epoch.value());
            epochs_[p].second = std::max(epochs_[p].second, state.partition_epoch.value());
          }
        };
        return std::make_unique<NodeProcess>(context, node_config(lines), std::move(hooks));
      });
    }
    world.add_node(
        kClientHost,
        [this, bootstrap](NodeContext& context) {
          return make_log_client(context, history_,
                                 LogClientOptions{bootstrap, kTopic, kPartitions});
        },
        NodeOptions{.faulty = false});
  }

  void on_heal(World& world) override { history_.healed_at = world.now(); }
  void quiesce(World&) override { history_.quiesced = true; }

  CheckResult check(World&) override {
    CheckResult result;
    result.summary = check_log_client(history_, result);
    int32_t leader_epochs = 0;
    int32_t partition_epochs = 0;
    for (const auto& [leader_epoch, partition_epoch] : epochs_) {
      leader_epochs += leader_epoch;
      partition_epochs += partition_epoch;
    }
    result.summary +=
        fmt::format(" elections={} partition_changes={}", leader_epochs, partition_epochs);
    return result;
  }

 private:
  Flaws flaws_;
  LogClientHistory history_;
  // Per partition of the topic: the largest leader and partition epochs seen.
  std::vector<std::pair<int32_t, int32_t>> epochs_ =
      std::vector<std::pair<int32_t, int32_t>>(kPartitions, {0, 0});
};

}  // namespace

std::unique_ptr<Workload> make_partition_replication_workload(const RunOptions& options) {
  return std::make_unique<PartitionReplicationWorkload>(options);
}

}  // namespace weir::sim
