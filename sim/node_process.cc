#include "sim/node_process.h"

#include <fmt/format.h>

#include "base/assert.h"

namespace weir::sim {

config::BrokerConfig node_config(const std::vector<std::string>& overrides) {
  auto loaded = config::BrokerConfig::embedded_default().with_overrides(overrides);
  VERIFY(loaded.ok(), "a simulated node's config: {}", loaded.error().message);
  VERIFY(loaded->warnings.empty(), "a simulated node's config warns: {}", loaded->warnings.front());
  return std::move(loaded->config);
}

NodeProcess::NodeProcess(NodeContext& context, config::BrokerConfig config, server::NodeHooks hooks)
    : context_(context), node_(context.env, std::move(config), std::move(hooks)) {}

void NodeProcess::run() {
  runtime::Env& env = context_.env;
  if (auto started = node_.start(); !started) {
    // What a real server does when its disk fails at start: exit, and be restarted.
    context_.panic(fmt::format("start failed: {}", started.error()));
  }
  std::optional<runtime::Instant> early_shutdown;
  // Not once healed: the healed phase and the final checks measure convergence.
  if (!context_.world.healed() && env.buggify.fire()) {
    early_shutdown = env.clock.now() + runtime::milliseconds(env.random.between(0, 3000));
  }
  runtime::select_until(env.scheduler, {&node_.failed()}, early_shutdown);
  if (node_.failed().is_set()) context_.panic(node_.failure());
  // The clean path `weir server` takes on SIGTERM: controlled shutdown, logs closed.
  node_.stop();
  context_.panic("stopped cleanly (buggify: an early shutdown)");
}

}  // namespace weir::sim
