// Node: one weir node, assembled from its config — the only assembly there is. `weir
// server` builds it on the real runtime; every simulator workload that runs a cluster
// builds the same object on a simulated node, so a wiring bug is reachable by a seed.
//
// Parts, by role (Kafka's process.roles):
//   every node   raft::RaftNode (a voter on a controller, an observer on a broker-only
//                node) and cluster::MetadataLoader replaying the metadata log;
//   controller   cluster::QuorumController behind raft::RaftService on the controller
//                listener;
//   broker       cluster::BrokerLink (registration, heartbeats, forwarding) and
//                broker::Broker on the broker listeners.
// A lone node is a one-voter cluster of this same shape: there is no other path.
//
// Start order: the data directory (meta.properties, the old layout's leftovers), the
// raft node, the loader, the controller and its listener (and, the first time, the
// adoption of an older weir's topics), the broker's listeners, then its registration;
// start() returns once everything is started — the broker serves once it is ready
// (Broker::wait_ready: its image caught up and its partitions reconciled). Stop order is
// the reverse, with the broker's controlled
// shutdown first while the quorum can still record it. A failure of the metadata log
// or the loader sets failed(): the node must end this incarnation (a real server exits,
// a simulated node panics) rather than serve a wrong image.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "base/result.h"
#include "broker/broker.h"
#include "cluster/broker_link.h"
#include "cluster/loader.h"
#include "cluster/quorum_controller.h"
#include "config/broker_config.h"
#include "metadata/image.h"
#include "raft/node.h"
#include "raft/service.h"
#include "runtime/env.h"
#include "runtime/sync.h"
#include "server/legacy_layout.h"

namespace weir::server {

// What the simulator plants and observes; nothing here is set by `weir server`.
struct NodeHooks {
  raft::RaftFlaws raft_flaws;
  broker::BrokerHooks broker;
  bool flaw_answer_before_commit = false;
  // metadata: the controller keeps a broker restarted uncleanly in the ELR.
  bool flaw_keep_elr_on_unclean_restart = false;
  bool flaw_snapshot_without_configs = false;
  std::function<void(raft::Epoch)> on_leader;
  std::function<void(raft::SnapshotId id, bool installed)> on_snapshot;
  std::function<void(record::Offset applied_end, const metadata::Image&)> on_applied;
  // Called (without suspending) with each line the node reports: where it serves,
  // what it migrated, why it stops.
  std::function<void(const std::string& line)> report;
};

class Node {
 public:
  // Checks what start() would refuse in `config` (roles, listeners, voters); the error
  // names the key.
  static Result<void, std::string> check(const config::BrokerConfig& config);

  Node(runtime::Env& env, config::BrokerConfig config, NodeHooks hooks = {});
  ~Node();
  Node(const Node&) = delete;
  Node& operator=(const Node&) = delete;

  // Suspends. Starts every part in order (above). The error says what failed; the
  // caller then stops the parts started (stop()) or ends the incarnation.
  Result<void, std::string> start();
  // Suspends. Stops every part in reverse order: a clean shutdown.
  void stop();

  // Set when the metadata log or the loader failed (failure() says why).
  runtime::Event& failed() { return failed_; }
  const std::string& failure() const { return failure_; }

  const std::string& cluster_id() const { return cluster_id_; }
  bool is_broker() const { return config_.broker_role; }
  bool is_controller() const { return config_.controller_role; }
  broker::Broker* broker() { return broker_ ? &*broker_ : nullptr; }
  cluster::QuorumController* controller() { return controller_ ? &*controller_ : nullptr; }
  raft::RaftNode& raft() { return *raft_; }
  cluster::MetadataLoader& loader() { return *loader_; }
  // Where the controller listener is bound (controllers only).
  std::optional<runtime::Address> controller_address() const { return controller_address_; }

 private:
  // Suspends. Reads or writes meta.properties and settles the old layout's files.
  Result<void, std::string> prepare_directory();
  // Suspends. The broker epoch of the last clean shutdown's mark (-1: none), and
  // writing the mark.
  int64_t last_clean_shutdown_epoch();
  void record_clean_shutdown(int64_t broker_epoch);
  void watch_failures();
  // The only voter, broker and controller: what `weir server` runs with no config.
  bool lone() const {
    return config_.controller_role && config_.broker_role &&
           config_.controller_quorum_voters.size() == 1;
  }
  void report(const std::string& line);

  runtime::Env& env_;
  config::BrokerConfig config_;
  NodeHooks hooks_;
  std::string cluster_id_;
  LegacyLayout legacy_;
  std::optional<runtime::Address> controller_address_;
  std::optional<raft::RaftNode> raft_;
  std::optional<raft::RaftService> raft_service_;
  std::optional<cluster::MetadataLoader> loader_;
  std::optional<cluster::QuorumController> controller_;
  std::optional<cluster::BrokerLink> link_;
  std::optional<broker::Broker> broker_;
  runtime::Event failed_;
  std::string failure_;
  bool started_ = false;
  bool stopping_ = false;
  runtime::Event watcher_done_;
};

}  // namespace weir::server
