// NodeProcess: a simulated machine running the node `weir server` runs — the same
// server::Node, built from a server.properties-style config, with only the runtime Env
// swapped for the simulator's. Workloads that run a cluster add these and observe the
// node through server::NodeHooks; none assembles parts of a node itself.
#pragma once

#include <initializer_list>
#include <optional>
#include <string>
#include <vector>

#include "config/broker_config.h"
#include "server/node.h"
#include "sim/world.h"

namespace weir::sim {

// The embedded default config with `overrides` (key=value) applied. A bad key is a bug
// in the workload: VERIFY fails, naming it.
config::BrokerConfig node_config(const std::vector<std::string>& overrides);

class NodeProcess final : public Process {
 public:
  NodeProcess(NodeContext& context, config::BrokerConfig config, server::NodeHooks hooks = {});

  // Starts the node (a failed start ends the incarnation, as a real server exits and is
  // restarted), then serves until a part fails, which ends it too. Buggify may shut
  // the node down cleanly early (the path SIGTERM takes) and restart it, before the
  // world heals.
  void run() override;

  server::Node& node() { return node_; }

 private:
  NodeContext& context_;
  server::Node node_;
};

}  // namespace weir::sim
