// FindCoordinator: where a group's coordinator is — the leader of the
// __consumer_offsets partition the group id hashes to (group/coordinator_key.h). The
// first request for a group coordinator creates __consumer_offsets through the
// controller, as Kafka's does; until it has leaders the answer is
// COORDINATOR_NOT_AVAILABLE, which clients retry. Transaction coordinators: not yet.
#include <algorithm>
#include <string>

#include <fmt/format.h>

#include "broker/broker.h"
#include "group/coordinator_key.h"

namespace weir::broker {

using protocol::error_value;
using protocol::ErrorCode;

void Broker::request_offsets_topic() {
  if (offsets_topic_requested_) return;
  offsets_topic_requested_ = true;
  spawn("create-offsets-topic", [this] {
    const config::BrokerConfig& config = settings_.config;
    const metadata::Image image = link_.image();
    int16_t replication_factor = config.offsets_topic_replication_factor;
    if (!config.static_values().contains("offsets.topic.replication.factor")) {
      // Kafka's default of 3 fails on a smaller cluster; weir takes what there is.
      int16_t active = 0;
      for (const auto& [id, registration] : image.brokers()) {
        if (registration.is_active()) active++;
      }
      replication_factor = std::clamp<int16_t>(active, 1, replication_factor);
    }
    protocol::CreateTopicsRequest request;
    auto& topic = request.topics.emplace_back();
    topic.name = std::string(kOffsetsTopic);
    topic.num_partitions = config.offsets_topic_num_partitions;
    topic.replication_factor = replication_factor;
    auto add_config = [&](std::string name, std::string value) {
      auto& entry = topic.configs.emplace_back();
      entry.name = std::move(name);
      entry.value = std::move(value);
    };
    add_config("cleanup.policy", "compact");
    add_config("segment.bytes", std::to_string(config.offsets_topic_segment_bytes));
    request.timeout_ms = 5000;
    auto answer =
        link_.send_to_controller(std::move(request), env_.clock.now() + runtime::seconds(5));
    if (answer && hooks_.report) {
      const auto* response = std::get_if<protocol::CreateTopicsResponse>(answer->get());
      if (response != nullptr && response->topics.size() == 1 &&
          response->topics[0].error_code != 0 &&
          response->topics[0].error_code != error_value(ErrorCode::topic_already_exists)) {
        hooks_.report(fmt::format("creating {} failed: {} {}", kOffsetsTopic,
                                  protocol::error_name(response->topics[0].error_code),
                                  response->topics[0].error_message.value_or("")));
      }
    }
    // The next FindCoordinator asks again if the topic still does not exist.
    offsets_topic_requested_ = false;
  });
}

protocol::ResponseBody Broker::find_coordinator(const protocol::RequestHeader& header,
                                                const protocol::FindCoordinatorRequest& request) {
  const metadata::Image& image = link_.image();
  struct Found {
    int32_t node_id = -1;
    std::string host;
    int32_t port = -1;
    ErrorCode error = ErrorCode::none;
    std::optional<std::string> message;
  };
  auto locate = [&](const std::string& key) {
    Found found;
    auto fail = [&](ErrorCode code, std::string message) {
      found.error = code;
      found.message = std::move(message);
      return found;
    };
    constexpr int8_t kGroupKey = 0;
    if (request.key_type != kGroupKey) {
      return fail(ErrorCode::coordinator_not_available,
                  "weir serves no transaction coordinator yet");
    }
    if (key.empty()) return fail(ErrorCode::invalid_group_id, "the group id is empty");
    const metadata::TopicImage* topic = image.topic(kOffsetsTopic);
    if (topic == nullptr || topic->partitions.empty()) {
      request_offsets_topic();
      return fail(ErrorCode::coordinator_not_available,
                  fmt::format("{} is being created", kOffsetsTopic));
    }
    const int32_t index =
        group::partition_for_group(key, static_cast<int32_t>(topic->partitions.size()));
    const metadata::PartitionState& state = topic->partitions[static_cast<size_t>(index)];
    const metadata::BrokerRegistration* leader =
        state.has_leader() ? image.broker(state.leader) : nullptr;
    const metadata::BrokerEndpoint* endpoint =
        leader == nullptr ? nullptr : leader->endpoint(settings_.listener_name);
    if (endpoint == nullptr) {
      return fail(ErrorCode::coordinator_not_available,
                  fmt::format("{}-{} has no leader", kOffsetsTopic, index));
    }
    found.node_id = state.leader.value();
    found.host = endpoint->host;
    found.port = endpoint->port;
    return found;
  };
  protocol::FindCoordinatorResponse response;
  if (header.api_version < 4) {
    const Found found = locate(request.key);
    response.error_code = error_value(found.error);
    if (header.api_version >= 1) response.error_message = found.message;
    response.node_id = found.node_id;
    response.host = found.host;
    response.port = found.port;
    return response;
  }
  for (const std::string& key : request.coordinator_keys) {
    const Found found = locate(key);
    auto& coordinator = response.coordinators.emplace_back();
    coordinator.key = key;
    coordinator.node_id = found.node_id;
    coordinator.host = found.host;
    coordinator.port = found.port;
    coordinator.error_code = error_value(found.error);
    coordinator.error_message = found.message;
  }
  return response;
}

}  // namespace weir::broker
