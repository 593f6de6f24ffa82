#include "server/server.h"

#include <optional>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "config/broker_config.h"
#include "config/properties.h"
#include "runtime/real/files.h"
#include "runtime/real/runtime.h"
#include "server/node.h"

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
  if (auto checked = Node::check(config); !checked) return fail(checked.error());
  const std::string data_root = config.log_dirs.front();

  auto runtime = runtime::real::RealRuntime::create(data_root);
  if (!runtime) {
    return fail(fmt::format("log.dirs: cannot open {}: {}", data_root,
                            runtime::to_string(runtime.error())));
  }
  runtime::Event& terminate = (*runtime)->termination_requested();
  runtime::Env env = (*runtime)->env();
  int status = 0;
  (*runtime)->run([&] {
    auto print = [](const std::string& line) {
      fmt::print("{}", line);  // tidy: allow(the server main reports where it serves)
      std::fflush(stdout);
    };
    NodeHooks hooks;
    hooks.report = [](const std::string& line) {
      runtime::real::print_stderr(fmt::format("weir server: {}\n", line));
    };
    Node node(env, config, std::move(hooks));
    if (auto started = node.start(); !started) {
      runtime::real::print_stderr(fmt::format("weir server: {}\n", started.error()));
      status = 1;
      node.stop();
      return;
    }
    if (auto address = node.controller_address()) {
      print(fmt::format("weir server: controller {} of quorum {} ({} voters) on {}, data in {}\n",
                        config.node_id, node.cluster_id(), config.controller_quorum_voters.size(),
                        address->to_string(), data_root));
    }
    runtime::Event announced(env.scheduler);
    if (broker::Broker* broker = node.broker()) {
      // Tests and scripts read this line for the bound port (listeners with port 0): it
      // comes once the broker serves (its image caught up, its partitions open).
      env.scheduler.spawn("ready", [&, broker] {
        const bool ready = broker->wait_ready(runtime::Instant::max());
        if (ready) {
          print(fmt::format("weir server: node {} of cluster {} serving on {}, data in {}\n",
                            config.node_id, node.cluster_id(), broker->bound_address().to_string(),
                            data_root));
        }
        announced.set();
      });
    } else {
      announced.set();
    }
    runtime::select_until(env.scheduler, {&terminate, &node.failed()}, std::nullopt);
    if (node.failed().is_set()) {
      runtime::real::print_stderr(fmt::format("weir server: {}\n", node.failure()));
      status = 1;
    }
    node.stop();
    announced.wait();  // the broker's stop ended the wait
    print("weir server: stopped cleanly\n");
  });
  return status;
}

}  // namespace weir::server
