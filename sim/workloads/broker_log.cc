#include "sim/workloads/broker_log.h"

#include <string>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "sim/node_process.h"
#include "sim/workloads/log_client.h"

namespace weir::sim {

namespace {

constexpr const char* broker_host = "weir0";
constexpr const char* client_host = "client";
constexpr uint16_t broker_port = 9092;
constexpr uint16_t controller_port = 9093;
constexpr const char* topic = "events";
constexpr int32_t partition_count = 2;

class BrokerLogWorkload final : public Workload {
 public:
  explicit BrokerLogWorkload(const RunOptions& options) : flaws_(options.flaws) {}

  void setup(World& world) override {
    // A one-node cluster: the node `weir server` runs with no config (a lone voter,
    // broker and controller), on the simulated host.
    world.add_node(broker_host, [this](NodeContext& context) {
      server::NodeHooks hooks;
      hooks.broker.ack_before_fsync = flaws_.ack_before_fsync;
      return std::make_unique<NodeProcess>(
          context,
          node_config(
              {fmt::format("listeners=PLAINTEXT://{0}:{1},CONTROLLER://{0}:{2}", broker_host,
                           broker_port, controller_port),
               fmt::format("controller.quorum.voters=1@{}:{}", broker_host, controller_port),
               fmt::format("num.partitions={}", partition_count)}),
          std::move(hooks));
    });
    world.add_node(
        client_host,
        [this](NodeContext& context) {
          return make_log_client(
              context, history_,
              LogClientOptions{{runtime::Address{broker_host, broker_port}},
                               {LogStream{.topic = topic, .partitions = partition_count}}});
        },
        NodeOptions{.faulty = false});
  }

  void on_heal(World& world) override { history_.healed_at = world.now(); }
  void quiesce(World&) override { history_.quiesced = true; }

  CheckResult check(World&) override {
    CheckResult result;
    result.summary = check_log_client(history_, result);
    return result;
  }

 private:
  Flaws flaws_;
  LogClientHistory history_;
};

}  // namespace

std::unique_ptr<Workload> make_broker_log_workload(const RunOptions& options) {
  return std::make_unique<BrokerLogWorkload>(options);
}

}  // namespace weir::sim
