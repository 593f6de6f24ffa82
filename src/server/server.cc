#include "server/server.h"

#include <optional>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "broker/broker.h"
#include "cluster/broker_link.h"
#include "cluster/loader.h"
#include "cluster/quorum_controller.h"
#include "config/broker_config.h"
#include "config/properties.h"
#include "raft/node.h"
#include "raft/service.h"
#include "runtime/real/files.h"
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
  // Every node holds the metadata log: voters as controllers, broker-only nodes as
  // observers.
  auto quorum = quorum_settings(config);
  if (!quorum) return fail(quorum.error());
  // Installing a snapshot sent by the leader is rare and worth a line: this node was
  // behind the leader's log start (down, or cut off, while the log moved on).
  quorum->on_snapshot = [](raft::SnapshotId id, bool installed) {
    if (!installed) return;
    runtime::real::print_stderr(
        fmt::format("weir server: installed metadata snapshot {} from the leader\n",
                    raft::snapshot_file_name(id)));
  };
  std::optional<runtime::Address> controller_address;
  if (config.controller_role) {
    auto address = controller_listener(config);
    if (!address) return fail(address.error());
    controller_address = *address;
  }
  std::optional<broker::BrokerSettings> broker_settings;
  if (config.broker_role) {
    auto settings = broker::BrokerSettings::from(config);
    if (!settings) return fail(settings.error());
    broker_settings = std::move(*settings);
  }
  // A node alone (combined, the only voter) keeps its topics itself, as before the
  // quorum existed; a broker with other nodes takes its metadata from the log.
  const bool alone = config.controller_role && quorum->core.voters.size() == 1;
  const bool broker_in_cluster = broker_settings && !alone;

  auto runtime = runtime::real::RealRuntime::create(data_root);
  if (!runtime) {
    return fail(fmt::format("log.dirs: cannot open {}: {}", data_root,
                            runtime::to_string(runtime.error())));
  }
  runtime::Event& terminate = (*runtime)->termination_requested();
  runtime::Env env = (*runtime)->env();
  int status = 0;
  (*runtime)->run([&] {
    std::optional<raft::RaftNode> raft_node;
    std::optional<raft::RaftService> raft_service;
    std::optional<cluster::MetadataLoader> loader;
    std::optional<cluster::QuorumController> controller;
    std::optional<cluster::BrokerLink> link;
    std::optional<broker::Broker> broker;
    auto stop_all = [&] {
      // A broker hands its leaderships over (controlled shutdown) while the quorum is
      // still there to record it.
      if (link) link->stop(runtime::seconds(10));
      if (broker) broker->stop();
      if (raft_service) raft_service->stop();
      if (controller) controller->stop();
      if (loader) loader->stop();
      if (raft_node) raft_node->stop();
    };
    auto abort = [&](const std::string& message) {
      runtime::real::print_stderr(fmt::format("weir server: {}\n", message));
      status = 1;
      stop_all();
    };
    auto print = [](const std::string& line) {
      fmt::print("{}", line);  // tidy: allow(the server main reports where it serves)
      std::fflush(stdout);
    };

    if (config.controller_role || broker_in_cluster) {
      raft_node.emplace(env, *quorum);
      if (auto started = raft_node->start(); !started) return abort(started.error());
      cluster::LoaderSettings loader_settings;
      loader_settings.snapshot_bytes = config.metadata_log_max_record_bytes_between_snapshots;
      loader_settings.snapshot_interval =
          runtime::milliseconds(config.metadata_log_max_snapshot_interval_ms);
      loader.emplace(env, *raft_node, loader_settings);
      loader->start();
      env.scheduler.spawn("quorum-failure", [&] {
        runtime::Event& node_failed = raft_node->failed();
        runtime::Event& loader_failed = loader->failed();
        while (!node_failed.is_set() && !loader_failed.is_set()) {
          env.scheduler.sleep_for(runtime::milliseconds(100));
        }
        const std::string& why = node_failed.is_set() ? raft_node->failure() : loader->failure();
        runtime::real::print_stderr(fmt::format("weir server: the metadata log failed: {}\n", why));
        status = 1;
        terminate.set();
      });
    }
    if (config.controller_role) {
      raft_service.emplace(env, *raft_node);
      cluster::QuorumControllerSettings settings;
      settings.controller = metadata::ControllerSettings::from(config, quorum->cluster_id);
      controller.emplace(env, *raft_node, *loader, std::move(settings));
      raft_service->set_extension(&*controller);
      controller->start();
      auto bound = raft_service->listen(*controller_address);
      if (!bound) return abort(bound.error());
      print(fmt::format("weir server: controller {} of quorum {} ({} voters) on {}, data in {}\n",
                        quorum->core.self, quorum->cluster_id, quorum->core.voters.size(),
                        bound->to_string(), data_root));
    }
    if (broker_settings) {
      broker.emplace(env, *broker_settings);
      if (broker_in_cluster) {
        cluster::BrokerLinkSettings settings;
        settings.node_id = config.node_id;
        settings.cluster_id = quorum->cluster_id;
        settings.rack = config.broker_rack;
        settings.controllers = quorum->voter_addresses;
        settings.heartbeat_interval = runtime::milliseconds(config.broker_heartbeat_interval_ms);
        link.emplace(env, *raft_node, *loader, std::move(settings));
        broker->join_cluster(*link);
      }
      if (auto started = broker->start(); !started) return abort(started.error());
      if (link) {
        cluster::BrokerLink::Listener listener;
        listener.name = broker_settings->listener_name;
        listener.host = broker_settings->advertised_host;
        listener.port = static_cast<uint16_t>(broker_settings->advertised_port != 0
                                                  ? broker_settings->advertised_port
                                                  : broker->bound_address().port);
        listener.security_protocol = 0;  // PLAINTEXT
        link->start({listener});
      }
      // Tests and scripts read this line for the bound port (listeners with port 0).
      print(fmt::format("weir server: node {} of cluster {} serving on {}, data in {}\n",
                        broker_settings->config.node_id, broker->cluster_id(),
                        broker->bound_address().to_string(), data_root));
    }
    terminate.wait();
    stop_all();
    print("weir server: stopped cleanly\n");
  });
  return status;
}

}  // namespace weir::server
