#include "cluster/broker_link.h"

#include <algorithm>
#include <utility>

#include "base/assert.h"
#include "metadata/types.h"

namespace weir::cluster {

using protocol::error_value;
using protocol::ErrorCode;

namespace {

// Heartbeats come faster while fenced, so a starting broker is unfenced soon after it
// has caught up (Kafka does the same while it waits to be unfenced).
constexpr runtime::Duration kFencedHeartbeatInterval = runtime::milliseconds(250);

bool is_not_controller(int16_t code) { return code == error_value(ErrorCode::not_controller); }

}  // namespace

bool refused_as_not_controller(const protocol::ResponseBody& response) {
  return std::visit(
      [](const auto& body) -> bool {
        using T = std::decay_t<decltype(body)>;
        auto all_refused = [](const auto& entries) {
          return !entries.empty() && std::all_of(entries.begin(), entries.end(), [](const auto& e) {
            return is_not_controller(e.error_code);
          });
        };
        if constexpr (std::is_same_v<T, protocol::CreateTopicsResponse>) {
          return all_refused(body.topics);
        } else if constexpr (std::is_same_v<T, protocol::DeleteTopicsResponse> ||
                             std::is_same_v<T, protocol::AlterConfigsResponse> ||
                             std::is_same_v<T, protocol::IncrementalAlterConfigsResponse>) {
          return all_refused(body.responses);
        } else if constexpr (std::is_same_v<T, protocol::CreatePartitionsResponse>) {
          return all_refused(body.results);
        } else if constexpr (requires { body.error_code; }) {
          return is_not_controller(body.error_code);
        } else {
          return false;
        }
      },
      response);
}

BrokerLink::BrokerLink(runtime::Env& env, raft::RaftNode& node, MetadataLoader& loader,
                       BrokerLinkSettings settings)
    : env_(env), node_(node), loader_(loader), settings_(std::move(settings)) {
  VERIFY(!settings_.controllers.empty(), "a broker needs the controllers' addresses");
  // A fresh incarnation id per process start: the controller tells a restarted broker
  // from a retried registration of the same one.
  for (size_t i = 0; i < incarnation_id_.bytes.size(); i += 8) {
    const uint64_t word = env_.random.next();
    for (size_t j = 0; j < 8; j++) {
      incarnation_id_.bytes[i + j] = static_cast<uint8_t>(word >> (8 * j));
    }
  }
}

BrokerLink::~BrokerLink() { VERIFY(!running_, "the broker link outlives stop()"); }

void BrokerLink::start(std::vector<Listener> listeners) {
  VERIFY(!running_);
  listeners_ = std::move(listeners);
  running_ = true;
  env_.scheduler.spawn("broker-lifecycle", [this] {
    // Also when the fiber is unwound (the simulator crashes the node).
    struct Done {
      BrokerLink* link;
      ~Done() {
        link->running_ = false;
        link->done_.notify_all();
      }
    } done{this};
    lifecycle_loop();
  });
}

void BrokerLink::stop(runtime::Duration limit) {
  const runtime::Instant deadline = env_.clock.now() + limit;
  shutting_down_ = true;
  wake_.notify_all();
  while (running_ && !may_shut_down_ && broker_epoch_ && env_.clock.now() < deadline) {
    done_.add(env_.scheduler.prepare_wait());
    env_.scheduler.suspend(std::min(deadline, env_.clock.now() + runtime::milliseconds(100)));
  }
  stopping_ = true;
  wake_.notify_all();
  for (auto& [id, connection] : connections_) {
    if (connection) connection->close();
  }
  while (running_) {
    done_.add(env_.scheduler.prepare_wait());
    env_.scheduler.suspend();
  }
}

void BrokerLink::pause(runtime::Duration duration) {
  if (stopping_) return;
  wake_.add(env_.scheduler.prepare_wait());
  env_.scheduler.suspend(env_.clock.now() + duration);
}

void BrokerLink::lifecycle_loop() {
  while (!stopping_ && !may_shut_down_) {
    if (!broker_epoch_) {
      if (shutting_down_) break;  // never registered: nothing to hand over
      registration_attempt();
      if (!broker_epoch_) pause(settings_.retry_backoff);
      continue;
    }
    heartbeat();
    if (may_shut_down_) break;
    pause(caught_up_ && !shutting_down_ ? settings_.heartbeat_interval : kFencedHeartbeatInterval);
  }
}

void BrokerLink::registration_attempt() {
  protocol::BrokerRegistrationRequest request;
  request.broker_id = settings_.node_id;
  request.cluster_id = settings_.cluster_id;
  request.incarnation_id = incarnation_id_;
  request.listeners = listeners_;
  protocol::BrokerRegistrationRequest::Feature version;
  version.name = std::string(metadata::kMetadataVersionFeature);
  version.min_supported_version = 1;
  version.max_supported_version = metadata::kMetadataVersionLevel;
  request.features.push_back(std::move(version));
  protocol::BrokerRegistrationRequest::Feature elr;
  elr.name = std::string(metadata::kEligibleLeaderReplicasFeature);
  elr.min_supported_version = 0;
  elr.max_supported_version = metadata::kEligibleLeaderReplicasLevel;
  request.features.push_back(std::move(elr));
  request.rack = settings_.rack;
  request.previous_broker_epoch = settings_.previous_broker_epoch;
  auto answer = send_to_controller_once(request, env_.clock.now() + settings_.request_timeout);
  if (!answer) return;
  const auto* response = std::get_if<protocol::BrokerRegistrationResponse>(answer->get());
  if (response == nullptr || response->error_code != 0) return;
  broker_epoch_ = response->broker_epoch;
  caught_up_ = false;
}

void BrokerLink::heartbeat() {
  protocol::BrokerHeartbeatRequest request;
  request.broker_id = settings_.node_id;
  request.broker_epoch = *broker_epoch_;
  // The offset of the last record applied (Kafka's "current metadata offset").
  request.current_metadata_offset = loader_.applied_end().value() - 1;
  request.want_fence = false;
  request.want_shut_down = shutting_down_;
  auto answer = send_to_controller_once(request, env_.clock.now() + settings_.request_timeout);
  if (!answer) return;
  const auto* response = std::get_if<protocol::BrokerHeartbeatResponse>(answer->get());
  if (response == nullptr) return;
  if (response->error_code == error_value(ErrorCode::stale_broker_epoch)) {
    broker_epoch_.reset();  // fenced and forgotten: register again
    return;
  }
  if (response->error_code != 0) return;
  if (!response->is_fenced && !caught_up_) {
    caught_up_ = true;
    caught_up_changed_.notify_all();
  }
  if (shutting_down_ && response->should_shut_down) may_shut_down_ = true;
}

rpc::ResponseResult BrokerLink::send_to_controller_once(const protocol::RequestBody& body,
                                                           runtime::Instant deadline) {
  raft::ReplicaId target = settings_.controllers.begin()->first;
  const auto leader = node_.core().leader();
  // The log may still name a leader that just failed to answer: then try the others.
  if (leader && settings_.controllers.contains(*leader) && failed_target_ != leader) {
    target = *leader;
  } else {
    auto it = settings_.controllers.begin();
    std::advance(it, static_cast<std::ptrdiff_t>(next_voter_++ % settings_.controllers.size()));
    target = it->first;
  }
  // A copy, not a reference into the map: connecting suspends, and another fiber may
  // insert meanwhile (btree_map moves its values).
  std::shared_ptr<rpc::Connection> connection;
  if (auto it = connections_.find(target); it != connections_.end()) connection = it->second;
  if (!connection || !connection->is_open()) {
    rpc::ConnectionOptions options;
    options.client_id = "weir-broker-" + std::to_string(settings_.node_id);
    options.connect_timeout = std::max(deadline - env_.clock.now(), runtime::Duration(1));
    options.request_timeout = settings_.request_timeout;
    auto connected = rpc::Connection::connect(env_, settings_.controllers.at(target), options);
    if (!connected) {
      // The log may name a leader that is gone: try the next voter next time.
      failed_target_ = target;
      return unexpected(connected.error());
    }
    connection = std::move(*connected);
    connections_[target] = connection;
  }
  auto answer = connection->send_and_wait(body);
  if (!answer) connection->close();
  if (!answer || refused_as_not_controller(**answer)) {
    failed_target_ = target;
  } else {
    failed_target_.reset();
  }
  return answer;
}

rpc::ResponseResult BrokerLink::send_to_controller(protocol::RequestBody body,
                                                      runtime::Instant deadline) {
  while (true) {
    auto answer = send_to_controller_once(body, deadline);
    const bool retry = !answer || refused_as_not_controller(**answer);
    if (!retry || stopping_ || env_.clock.now() + settings_.retry_backoff >= deadline) {
      return answer;
    }
    env_.scheduler.sleep_for(settings_.retry_backoff);
  }
}

}  // namespace weir::cluster
