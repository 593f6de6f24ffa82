#include "server/node.h"

#include <fmt/format.h>

#include "base/text.h"
#include "protocol/uuid_text.h"
#include "server/legacy_layout.h"
#include "server/quorum.h"
#include "storage/checkpoint.h"

namespace weir::server {

namespace {

// meta.properties, Kafka's format, in the data root: marks the directory as this
// node's and names the cluster it belongs to.
constexpr std::string_view kMetaProperties = "meta.properties";
// Written by this layout (the metadata log holds every topic). A meta.properties
// without it predates the layout: its cluster.id was drawn at random and meant nothing.
constexpr std::string_view kLayoutKey = "weir.layout";
constexpr std::string_view kLayout = "2";
// Kafka's clean-shutdown mark (LogManager's, in the same JSON): the broker epoch whose
// shutdown flushed and closed every log. Registration reports it, and the controller
// keeps the broker an eligible leader replica only if it names the epoch that ended
// (KIP-966). A stale mark is harmless: it names an epoch that is not the last one.
constexpr std::string_view kCleanShutdown = ".kafka_cleanshutdown";

std::optional<std::string> property(const std::string& text, std::string_view key) {
  for (std::string_view line : split_nonempty(text, '\n')) {
    if (line.size() > key.size() && line.substr(0, key.size()) == key && line[key.size()] == '=') {
      return std::string(line.substr(key.size() + 1));
    }
  }
  return std::nullopt;
}

}  // namespace

Result<void, std::string> Node::check(const config::BrokerConfig& config) {
  if (auto quorum = quorum_settings(config); !quorum) return unexpected(quorum.error());
  if (config.controller_role) {
    if (auto address = controller_listener(config); !address) return unexpected(address.error());
  }
  if (config.broker_role) {
    if (auto settings = broker::BrokerSettings::from(config); !settings) {
      return unexpected(settings.error());
    }
  }
  return {};
}

Node::Node(runtime::Env& env, config::BrokerConfig config, NodeHooks hooks)
    : env_(env), config_(std::move(config)), hooks_(std::move(hooks)), failed_(env.scheduler),
      watcher_done_(env.scheduler) {
  VERIFY(config_.broker_role || config_.controller_role, "a node has a role");
}

Node::~Node() = default;

void Node::report(const std::string& line) {
  if (hooks_.report) hooks_.report(line);
}

Result<void, std::string> Node::prepare_directory() {
  const std::string path(kMetaProperties);
  auto text = storage::read_whole_file(env_.disk, path);
  if (!text && text.error() != storage::StorageError::not_found) {
    return unexpected(fmt::format("reading {}: {}", path, storage::to_string(text.error())));
  }
  bool write = !text;
  std::optional<std::string> directory_id;
  if (text) {
    directory_id = property(*text, "directory.id");
    auto node = property(*text, "node.id");
    auto cluster = property(*text, "cluster.id");
    if (!node || !cluster) return unexpected(fmt::format("{}: no node.id or cluster.id", path));
    if (*node != std::to_string(config_.node_id)) {
      return unexpected(
          fmt::format("{} belongs to node.id {}, but node.id is {}", path, *node, config_.node_id));
    }
    const bool this_layout = property(*text, kLayoutKey) == std::string(kLayout);
    if (*cluster != cluster_id_) {
      if (this_layout) {
        return unexpected(fmt::format(
            "{}: this directory belongs to cluster {}, but controller.quorum.voters makes this "
            "cluster {}; restore the voters, or move the directory away to start afresh",
            path, *cluster, cluster_id_));
      }
      report(
          fmt::format("{}: cluster id {} (drawn at random before the metadata log named "
                      "clusters) replaced by the quorum's {}",
                      path, *cluster, cluster_id_));
    }
    write = !this_layout;  // another cluster of this layout was refused above
  }

  auto legacy = read_legacy_layout(env_.disk);
  if (!legacy) return unexpected(legacy.error());
  legacy_ = std::move(*legacy);
  if (!lone()) {
    // A cluster's brokers kept a copy of the image there (the log has them all), and
    // only a lone node kept producer ids: nothing to adopt, the files just go.
    legacy_.topics.clear();
    legacy_.next_producer_id = metadata::ProducerId(0);
  }

  if (!write) return {};
  // First start (or the first of this layout): format the directory, as
  // `kafka-storage.sh format` would.
  if (!directory_id) {
    protocol::Uuid directory;
    for (size_t i = 0; i < directory.bytes.size(); i += 8) {
      uint64_t word = env_.random.next();
      for (size_t j = 0; j < 8; j++) {
        directory.bytes[i + j] = static_cast<uint8_t>(word >> (8 * j));
      }
    }
    directory_id = protocol::uuid_to_string(directory);
  }
  const std::string contents =
      fmt::format("#\n#weir\nversion=1\ncluster.id={}\nnode.id={}\ndirectory.id={}\n{}={}\n",
                  cluster_id_, config_.node_id, *directory_id, kLayoutKey, kLayout);
  if (auto written = storage::write_file_atomically(env_.disk, "", path, contents); !written) {
    return unexpected(fmt::format("writing {}: {}", path, storage::to_string(written.error())));
  }
  return {};
}

int64_t Node::last_clean_shutdown_epoch() {
  auto text = storage::read_whole_file(env_.disk, std::string(kCleanShutdown));
  if (!text) return -1;
  // {"version":0,"brokerEpoch":N}
  constexpr std::string_view kKey = "\"brokerEpoch\":";
  const size_t at = text->find(kKey);
  if (at == std::string::npos) return -1;
  std::string_view rest = std::string_view(*text).substr(at + kKey.size());
  rest = rest.substr(0, rest.find('}'));
  auto epoch = parse_integer<int64_t>(rest);
  return epoch ? *epoch : -1;
}

void Node::record_clean_shutdown(int64_t broker_epoch) {
  const std::string contents = fmt::format("{{\"version\":0,\"brokerEpoch\":{}}}", broker_epoch);
  // A failure costs only the claim: the controller then treats the next start as unclean.
  (void)storage::write_file_atomically(env_.disk, "", std::string(kCleanShutdown), contents);
}

Result<void, std::string> Node::start() {
  VERIFY(!started_, "a node starts once");
  started_ = true;
  auto quorum = quorum_settings(config_);
  if (!quorum) return unexpected(quorum.error());
  cluster_id_ = quorum->cluster_id;
  if (auto prepared = prepare_directory(); !prepared) return prepared;

  quorum->core.flaws = hooks_.raft_flaws;
  quorum->on_leader = hooks_.on_leader;
  quorum->on_snapshot = [this](raft::SnapshotId id, bool installed) {
    // Installing a snapshot sent by the leader is rare and worth a line: this node was
    // behind the leader's log start (down, or cut off, while the log moved on).
    if (installed) {
      report(fmt::format("installed metadata snapshot {} from the leader",
                         raft::snapshot_file_name(id)));
    }
    if (hooks_.on_snapshot) hooks_.on_snapshot(id, installed);
  };
  auto voter_addresses = quorum->voter_addresses;
  raft_.emplace(env_, std::move(*quorum));
  if (auto started = raft_->start(); !started) return started;

  cluster::LoaderSettings loader_settings;
  loader_settings.snapshot_bytes = config_.metadata_log_max_record_bytes_between_snapshots;
  loader_settings.snapshot_interval =
      runtime::milliseconds(config_.metadata_log_max_snapshot_interval_ms);
  loader_settings.flaw_snapshot_without_configs = hooks_.flaw_snapshot_without_configs;
  loader_.emplace(env_, *raft_, loader_settings);
  loader_->on_applied = hooks_.on_applied;
  loader_->start();
  env_.scheduler.spawn("node-failure", [this] { watch_failures(); });

  if (config_.controller_role) {
    auto address = controller_listener(config_);
    if (!address) return unexpected(address.error());
    raft_service_.emplace(env_, *raft_);
    cluster::QuorumControllerSettings settings;
    settings.controller = metadata::ControllerSettings::from(config_, cluster_id_);
    settings.flaw_answer_before_commit = hooks_.flaw_answer_before_commit;
    settings.controller.flaw_keep_elr_on_unclean_restart = hooks_.flaw_keep_elr_on_unclean_restart;
    controller_.emplace(env_, *raft_, *loader_, std::move(settings));
    raft_service_->set_extension(&*controller_);
    controller_->start();
    auto bound = raft_service_->listen(*address);
    if (!bound) return unexpected(bound.error());
    controller_address_ = *bound;
    // This node's broker reaches its own controller where it is bound (a listener on
    // port 0, as tests start it, is not where controller.quorum.voters says).
    voter_addresses[raft::ReplicaId(config_.node_id)] = *bound;
  }

  if (legacy_.present) {
    if (!legacy_.topics.empty() || legacy_.next_producer_id > metadata::ProducerId(0)) {
      VERIFY(lone() && controller_, "only a lone node adopts an older weir's topics");
      if (!controller_->adopt_legacy_topics_wait(
              legacy_.topics, metadata::BrokerId(config_.node_id), legacy_.next_producer_id,
              env_.clock.now() + runtime::seconds(60))) {
        return unexpected(
            std::string("could not adopt the topics of weir-meta/topics into the metadata log (the "
                        "controller did not commit them within a minute)"));
      }
    }
    if (auto removed = remove_legacy_layout(env_.disk); !removed) return removed;
    if (!legacy_.topics.empty()) {
      report(fmt::format("adopted {} topic(s) from weir-meta/topics into the metadata log",
                         legacy_.topics.size()));
    }
  }

  if (config_.broker_role) {
    auto settings = broker::BrokerSettings::from(config_);
    if (!settings) return unexpected(settings.error());
    cluster::BrokerLinkSettings link;
    link.node_id = config_.node_id;
    link.cluster_id = cluster_id_;
    link.rack = config_.broker_rack;
    link.controllers = voter_addresses;
    link.heartbeat_interval = runtime::milliseconds(config_.broker_heartbeat_interval_ms);
    link.previous_broker_epoch = last_clean_shutdown_epoch();
    link_.emplace(env_, *raft_, *loader_, std::move(link));
    cluster::BrokerLink::Listener listener;
    listener.name = settings->listener_name;
    listener.host = settings->advertised_host;
    listener.security_protocol = 0;  // PLAINTEXT
    const int32_t advertised_port = settings->advertised_port;
    broker::BrokerHooks broker_hooks = hooks_.broker;
    if (!broker_hooks.report) {
      broker_hooks.report = [this](const std::string& line) { report(line); };
    }
    broker_.emplace(env_, std::move(*settings), *link_, std::move(broker_hooks));
    if (auto started = broker_->start(); !started) return started;
    listener.port = static_cast<uint16_t>(advertised_port != 0 ? advertised_port
                                                               : broker_->bound_address().port);
    link_->start({listener});
  }
  return {};
}

void Node::watch_failures() {
  runtime::Event& node_failed = raft_->failed();
  runtime::Event& loader_failed = loader_->failed();
  while (!stopping_ && !node_failed.is_set() && !loader_failed.is_set()) {
    runtime::select_until(env_.scheduler, {&node_failed, &loader_failed},
                          env_.clock.now() + runtime::milliseconds(200));
  }
  if (!stopping_) {
    failure_ = fmt::format("the metadata log failed: {}",
                           node_failed.is_set() ? raft_->failure() : loader_->failure());
    failed_.set();
  }
  watcher_done_.set();
}

void Node::stop() {
  if (stopping_) return;
  stopping_ = true;
  // A broker hands its leaderships over (controlled shutdown) while the quorum is still
  // there to record it.
  if (link_) link_->stop(runtime::seconds(10));
  if (broker_) {
    broker_->stop();
    if (broker_->closed_cleanly() && link_->broker_epoch()) {
      record_clean_shutdown(*link_->broker_epoch());
    }
  }
  if (raft_service_) raft_service_->stop();
  if (controller_) controller_->stop();
  if (loader_) {
    loader_->stop();
    watcher_done_.wait();
  }
  if (raft_) raft_->stop();
}

}  // namespace weir::server
