#include "server/server.h"

#include <optional>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "broker/broker.h"
#include "config/broker_config.h"
#include "config/properties.h"
#include "runtime/real/files.h"
#include "raft/node.h"
#include "raft/service.h"
#include "runtime/real/runtime.h"
#include "server/quorum.h"

namespace weir::server {

namespace {

constexpr std::string_view kUsage =
    "usage: weir server [-c|--config server.properties] [--override key=value]...\n"
    "  With no config: one node (broker and controller) on 127.0.0.1:9092, data in ./data.\n"
    "  Stops cleanly (flushing every log) on SIGTERM or SIGINT.\n";

int fail(std::string_view message) {
  runtime::real::print_stderr(fmt::format("weir server: {}\n", message));
  return 2;
}

}  // namespace

int server_main(std::span<const std::string_view> args) {
  std::optional<std::string> config_path;
  std::vector<std::string> overrides;
  for (size_t i = 0; i < args.size(); i++) {
    std::string_view arg = args[i];
    if (arg == "-h" || arg == "--help") {
      fmt::print("{}", kUsage);  // tidy: allow(the server main prints its usage)
      return 0;
    }
    if ((arg == "-c" || arg == "--config" || arg == "--override") && i + 1 >= args.size()) {
      return fail(fmt::format("{} needs a value\n{}", arg, kUsage));
    }
    if (arg == "-c" || arg == "--config") {
      config_path = std::string(args[++i]);
    } else if (arg == "--override") {
      overrides.emplace_back(args[++i]);
    } else if (!config_path && !arg.starts_with("-")) {
      config_path = std::string(arg);  // as kafka-server-start.sh takes it
    } else {
      return fail(fmt::format("unknown argument '{}'\n{}", arg, kUsage));
    }
  }

  config::BrokerConfig config = config::BrokerConfig::embedded_default();
  if (config_path) {
    auto text = runtime::real::read_text_file(*config_path);
    if (!text) {
      return fail(
          fmt::format("cannot read {}: {}", *config_path, runtime::to_string(text.error())));
    }
    auto properties = config::Properties::parse(*text);
    if (!properties) {
      return fail(fmt::format("{}: {}", *config_path, properties.error().to_string()));
    }
    auto parsed = config::BrokerConfig::parse(*properties);
    if (!parsed) return fail(fmt::format("{}: {}", *config_path, parsed.error().message));
    for (const std::string& warning : parsed->warnings) {
      runtime::real::print_stderr(fmt::format("weir server: warning: {}\n", warning));
    }
    config = std::move(parsed->config);
  }
  if (!overrides.empty()) {
    auto overridden = config.with_overrides(overrides);
    if (!overridden) return fail(fmt::format("--override {}", overridden.error().message));
    for (const std::string& warning : overridden->warnings) {
      runtime::real::print_stderr(fmt::format("weir server: warning: {}\n", warning));
    }
    config = std::move(overridden->config);
  }
  if (config.log_dirs.size() != 1) {
    return fail("log.dirs: weir serves one log directory per node for now");
  }
  const std::string data_root = config.log_dirs.front();
  std::optional<raft::RaftSettings> quorum;
  std::optional<runtime::Address> controller_address;
  if (config.controller_role) {
    auto settings = quorum_settings(config);
    if (!settings) return fail(settings.error());
    auto address = controller_listener(config);
    if (!address) return fail(address.error());
    quorum = std::move(*settings);
    controller_address = *address;
  }
  std::optional<broker::BrokerSettings> broker_settings;
  if (config.broker_role) {
    auto settings = broker::BrokerSettings::from(config);
    if (!settings) return fail(settings.error());
    broker_settings = std::move(*settings);
  }

  auto runtime = runtime::real::RealRuntime::create(data_root);
  if (!runtime) {
    return fail(fmt::format("log.dirs: cannot open {}: {}", data_root,
                            runtime::to_string(runtime.error())));
  }
  runtime::Event& terminate = (*runtime)->termination_requested();
  runtime::Env env = (*runtime)->env();
  int status = 0;
  (*runtime)->run([&] {
    // The controller first: a combined node's broker will read metadata from it.
    std::optional<raft::RaftNode> raft_node;
    std::optional<raft::RaftService> raft_service;
    auto stop_all = [&](std::optional<broker::Broker>& broker) {
      if (broker) broker->stop();
      if (raft_service) raft_service->stop();
      if (raft_node) raft_node->stop();
    };
    std::optional<broker::Broker> broker;
    if (quorum) {
      raft_node.emplace(env, *quorum);
      raft_service.emplace(env, *raft_node);
      auto started = raft_node->start();
      auto bound = started ? raft_service->listen(*controller_address)
                           : Result<runtime::Address, std::string>(unexpected(started.error()));
      if (!bound) {
        runtime::real::print_stderr(fmt::format("weir server: {}\n", bound.error()));
        status = 1;
        stop_all(broker);
        return;
      }
      const std::string serving = fmt::format(
          "weir server: controller {} of quorum {} ({} voters) on {}, data in {}\n",
          quorum->core.self, quorum->cluster_id, quorum->core.voters.size(), bound->to_string(),
          data_root);
      fmt::print("{}", serving);  // tidy: allow(the server main reports where it serves)
      std::fflush(stdout);
      env.scheduler.spawn("quorum-failure", [&] {
        raft_node->failed().wait();
        runtime::real::print_stderr(
            fmt::format("weir server: the metadata log failed: {}\n", raft_node->failure()));
        status = 1;
        terminate.set();
      });
    }
    if (broker_settings) {
      broker.emplace(env, *broker_settings);
      if (auto started = broker->start(); !started) {
        runtime::real::print_stderr(fmt::format("weir server: {}\n", started.error()));
        status = 1;
        stop_all(broker);
        return;
      }
      // Tests and scripts read this line for the bound port (listeners with port 0).
      const std::string serving =
          fmt::format("weir server: node {} of cluster {} serving on {}, data in {}\n",
                      broker_settings->config.node_id, broker->cluster_id(),
                      broker->bound_address().to_string(), data_root);
      fmt::print("{}", serving);  // tidy: allow(the server main reports where it serves)
      std::fflush(stdout);
    }
    terminate.wait();
    stop_all(broker);
    fmt::print("weir server: stopped cleanly\n");  // tidy: allow(status line)
    std::fflush(stdout);
  });
  return status;
}

}  // namespace weir::server
