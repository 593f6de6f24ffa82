// BrokerLink: a broker's side of the cluster. It follows the metadata log (through a
// RaftNode — an observer on a broker-only node, the node's own voter on a combined
// one — and a MetadataLoader), registers the broker with the active controller,
// keeps its session alive with heartbeats, and carries admin requests to the
// controller.
//
// Lifecycle, as Kafka's BrokerLifecycleManager:
//   registering → (BrokerRegistration answered with a broker epoch) → fenced →
//   (a heartbeat reports the broker has replayed its own registration) → unfenced →
//   (stop: heartbeats asking to shut down, until the controller has moved the
//   broker's leaderships away and says it may go) → stopped.
// A heartbeat answered STALE_BROKER_EPOCH (the controller fenced and forgot this
// incarnation) starts a new registration. NOT_CONTROLLER or a broken connection sends
// the next attempt to whichever voter the metadata log names as leader.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <absl/container/btree_map.h>

#include "rpc/connection.h"
#include "cluster/loader.h"
#include "metadata/image.h"
#include "protocol/messages/api.h"
#include "raft/node.h"
#include "runtime/env.h"
#include "runtime/sync.h"

namespace weir::cluster {

struct BrokerLinkSettings {
  int32_t node_id = 0;
  std::string cluster_id;
  std::optional<std::string> rack;
  // Where each controller (voter) listens.
  absl::btree_map<raft::ReplicaId, runtime::Address> controllers;
  runtime::Duration heartbeat_interval = runtime::milliseconds(2000);
  runtime::Duration request_timeout = runtime::milliseconds(5000);
  runtime::Duration retry_backoff = runtime::milliseconds(100);
  // The broker epoch this broker's last clean shutdown ended (-1: none recorded): the
  // controller keeps it an eligible leader replica only then (KIP-966).
  int64_t previous_broker_epoch = -1;
};

class BrokerLink {
 public:
  BrokerLink(runtime::Env& env, raft::RaftNode& node, MetadataLoader& loader,
             BrokerLinkSettings settings);
  ~BrokerLink();
  BrokerLink(const BrokerLink&) = delete;
  BrokerLink& operator=(const BrokerLink&) = delete;

  using Listener = protocol::BrokerRegistrationRequest::Listener;
  // Starts registering and heartbeating, once the broker's listeners are bound: the
  // endpoints registered are where clients reach the broker (Metadata answers from
  // the registrations).
  void start(std::vector<Listener> listeners);
  // Suspends. A controlled shutdown (bounded by `limit`), then every fiber ends.
  void stop(runtime::Duration limit);

  const metadata::Image& image() const { return loader_.image(); }
  MetadataLoader& loader() { return loader_; }
  int32_t node_id() const { return settings_.node_id; }
  const std::string& cluster_id() const { return settings_.cluster_id; }
  // The broker epoch of the current registration (nothing while unregistered).
  std::optional<int64_t> broker_epoch() const { return broker_epoch_; }
  // Unfenced by the controller in this incarnation at least once: the image has
  // caught up with everything committed before this broker registered.
  bool caught_up() const { return caught_up_; }
  runtime::WaitQueue& caught_up_changed() { return caught_up_changed_; }

  // Suspends. Sends `body` to the active controller, again to the next one while the
  // answer is NOT_CONTROLLER for everything in it or the connection fails, until the
  // deadline.
  rpc::ResponseResult send_to_controller(protocol::RequestBody body, runtime::Instant deadline);
  // Suspends. One attempt, at the controller the log names (or the next voter): its
  // NOT_CONTROLLER is the controller's own, not a retry's answer.
  rpc::ResponseResult send_to_controller_once(const protocol::RequestBody& body,
                                                 runtime::Instant deadline);

 private:
  void lifecycle_loop();
  void registration_attempt();
  void heartbeat();
  // Suspends for `duration`, or until stop() wakes it.
  void pause(runtime::Duration duration);

  runtime::Env& env_;
  raft::RaftNode& node_;
  MetadataLoader& loader_;
  BrokerLinkSettings settings_;
  std::vector<Listener> listeners_;
  protocol::Uuid incarnation_id_;
  std::optional<int64_t> broker_epoch_;
  bool caught_up_ = false;
  runtime::WaitQueue caught_up_changed_;
  bool shutting_down_ = false;
  bool may_shut_down_ = false;
  bool stopping_ = false;
  bool running_ = false;
  runtime::WaitQueue wake_;
  runtime::WaitQueue done_;
  // Round-robin through the voters while no leader is known.
  size_t next_voter_ = 0;
  std::optional<raft::ReplicaId> failed_target_;
  absl::btree_map<raft::ReplicaId, std::shared_ptr<rpc::Connection>> connections_;
};

// Whether a controller's answer refuses the whole request with NOT_CONTROLLER (the
// request should go to the new controller).
bool refused_as_not_controller(const protocol::ResponseBody& response);

}  // namespace weir::cluster
