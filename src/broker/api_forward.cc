// Admin requests (CreateTopics, DeleteTopics, CreatePartitions, ElectLeaders,
// AlterPartitionReassignments, ListPartitionReassignments, AlterConfigs,
// IncrementalAlterConfigs) go to the active controller, which decides them; the
// broker answers once the controller has and its own image shows the change (and its
// partitions follow that image), so a client's next Metadata, DescribeConfigs or
// Produce through this broker sees what it was told happened (read-your-writes through
// the broker asked).
#include <fmt/format.h>

#include "broker/broker.h"
#include "cluster/refusal.h"

namespace weir::broker {

using protocol::ErrorCode;

namespace {

// How long a forwarded admin request may wait for the controller (elections included).
constexpr runtime::Duration kForwardTimeout = runtime::seconds(30);
// How long the answer waits for this broker's image to show the change (a later change
// by someone else may hide it for good: the answer is then REQUEST_TIMED_OUT).
constexpr runtime::Duration kCatchUpTimeout = runtime::seconds(5);
// Kafka's IncrementalAlterConfigs operations.
constexpr int8_t kSet = 0;
constexpr int8_t kDelete = 1;
constexpr int8_t kTopicResource = 2;

// Whether every topic config change `response` reports done for `wanted` holds in
// `image`, by `holds(config, entry)` for each entry asked.
template <typename Response, typename Request, typename Holds>
bool configs_show(const metadata::Image& image, const Response& response, const Request& wanted,
                  Holds holds) {
  if (wanted.validate_only) return true;
  for (size_t i = 0; i < response.responses.size() && i < wanted.resources.size(); i++) {
    const auto& resource = wanted.resources[i];
    if (response.responses[i].error_code != 0 || resource.resource_type != kTopicResource) {
      continue;
    }
    const metadata::ConfigMap& config = image.topic_config(resource.resource_name);
    for (const auto& entry : resource.configs) {
      if (!holds(config, entry)) return false;
    }
  }
  return true;
}

// Whether `image` shows every change `response` reports done for `request`.
bool image_shows(const metadata::Image& image, const protocol::RequestBody& request,
                 const protocol::ResponseBody& response) {
  if (const auto* created = std::get_if<protocol::CreateTopicsResponse>(&response)) {
    for (const auto& topic : created->topics) {
      if (topic.error_code != 0 || topic.topic_id == protocol::Uuid{}) continue;
      if (image.topic(metadata::TopicId{topic.topic_id}) == nullptr) return false;
    }
    return true;
  }
  if (const auto* deleted = std::get_if<protocol::DeleteTopicsResponse>(&response)) {
    for (const auto& topic : deleted->responses) {
      if (topic.error_code != 0) continue;
      if (topic.topic_id != protocol::Uuid{}) {
        if (image.topic(metadata::TopicId{topic.topic_id}) != nullptr) return false;
      } else if (topic.name && image.topic(*topic.name) != nullptr) {
        return false;
      }
    }
    return true;
  }
  if (const auto* grown = std::get_if<protocol::CreatePartitionsResponse>(&response)) {
    const auto& wanted = std::get<protocol::CreatePartitionsRequest>(request);
    if (wanted.validate_only) return true;
    for (size_t i = 0; i < grown->results.size() && i < wanted.topics.size(); i++) {
      if (grown->results[i].error_code != 0) continue;
      const metadata::TopicImage* topic = image.topic(wanted.topics[i].name);
      if (topic == nullptr ||
          topic->partitions.size() < static_cast<size_t>(wanted.topics[i].count)) {
        return false;
      }
    }
    return true;
  }
  if (const auto* elected = std::get_if<protocol::ElectLeadersResponse>(&response)) {
    const auto& wanted = std::get<protocol::ElectLeadersRequest>(request);
    for (const auto& topic_result : elected->replica_election_results) {
      const metadata::TopicImage* topic = image.topic(topic_result.topic);
      for (const auto& result : topic_result.partition_result) {
        if (result.error_code != 0) continue;
        if (topic == nullptr || result.partition_id < 0 ||
            static_cast<size_t>(result.partition_id) >= topic->partitions.size()) {
          return false;
        }
        const metadata::PartitionState& state =
            topic->partitions[static_cast<size_t>(result.partition_id)];
        // Preferred: the first replica leads; unclean: someone does.
        const bool shown =
            wanted.election_type == 1 ? state.has_leader() : state.leader == state.replicas.front();
        if (!shown) return false;
      }
    }
    return true;
  }
  if (const auto* moved = std::get_if<protocol::AlterPartitionReassignmentsResponse>(&response)) {
    // Started: every target replica is a replica; cancelled: nothing is in progress.
    const auto& wanted = std::get<protocol::AlterPartitionReassignmentsRequest>(request);
    for (size_t t = 0; t < moved->responses.size() && t < wanted.topics.size(); t++) {
      const metadata::TopicImage* topic = image.topic(wanted.topics[t].name);
      const auto& partitions = wanted.topics[t].partitions;
      for (size_t p = 0; p < moved->responses[t].partitions.size() && p < partitions.size(); p++) {
        if (moved->responses[t].partitions[p].error_code != 0) continue;
        const int32_t index = partitions[p].partition_index;
        if (topic == nullptr || index < 0 ||
            static_cast<size_t>(index) >= topic->partitions.size()) {
          return false;
        }
        const metadata::PartitionState& state = topic->partitions[static_cast<size_t>(index)];
        if (!partitions[p].replicas) {
          if (state.reassigning()) return false;
          continue;
        }
        for (int32_t replica : *partitions[p].replicas) {
          if (!state.is_replica(metadata::BrokerId(replica))) return false;
        }
      }
    }
    return true;
  }
  if (const auto* altered = std::get_if<protocol::IncrementalAlterConfigsResponse>(&response)) {
    return configs_show(image, *altered,
                        std::get<protocol::IncrementalAlterConfigsRequest>(request),
                        [](const metadata::ConfigMap& config, const auto& entry) {
                          auto it = config.find(entry.name);
                          if (entry.config_operation == kSet) {
                            return it != config.end() && entry.value && it->second == *entry.value;
                          }
                          return entry.config_operation != kDelete || it == config.end();
                        });
  }
  if (const auto* replaced = std::get_if<protocol::AlterConfigsResponse>(&response)) {
    return configs_show(image, *replaced, std::get<protocol::AlterConfigsRequest>(request),
                        [](const metadata::ConfigMap& config, const auto& entry) {
                          auto it = config.find(entry.name);
                          return !entry.value || (it != config.end() && it->second == *entry.value);
                        });
  }
  return true;
}

}  // namespace

Reply Broker::forward(const protocol::RequestHeader& header, protocol::RequestBody&& body) {
  // DeleteTopics v1-5 name topics in topic_names; the controller connection speaks v6+,
  // where they are entries of topics.
  if (auto* request = std::get_if<protocol::DeleteTopicsRequest>(&body);
      request != nullptr && header.api_version < 6) {
    for (std::string& name : request->topic_names) {
      protocol::DeleteTopicsRequest::DeleteTopicState topic;
      topic.name = std::move(name);
      request->topics.push_back(std::move(topic));
    }
    request->topic_names.clear();
  }
  auto promise = std::make_shared<runtime::Promise<protocol::ResponseBody>>(env_.scheduler);
  auto future = promise->future();
  spawn("forward", [this, promise, body = std::move(body)]() mutable {
    auto answer = link_.send_to_controller(body, env_.clock.now() + kForwardTimeout);
    if (!answer) {
      promise->set(cluster::refuse(body, ErrorCode::request_timed_out));
      return;
    }
    protocol::ResponseBody response(**answer);
    if (hooks_.answer_before_catch_up) {
      promise->set(std::move(response));
      return;
    }
    cluster::MetadataLoader& loader = link_.loader();
    const runtime::Instant deadline = env_.clock.now() + kCatchUpTimeout;
    while (!stopping_ && !image_shows(loader.image(), body, response) &&
           env_.clock.now() < deadline) {
      loader.wait_change(loader.applied_end(), deadline);
    }
    // A broker cut off from the log cannot show the change yet: REQUEST_TIMED_OUT, as
    // for any change whose outcome the client cannot rely on seeing, rather than an
    // acknowledgement that this broker's next Metadata would contradict.
    if (!image_shows(loader.image(), body, response)) {
      response = cluster::refuse(body, ErrorCode::request_timed_out);
    } else {
      // A new partition led here takes produce as soon as the client hears of it: its
      // log is open once this image was reconciled. (If that is slow, the client's
      // produce gets NOT_LEADER_OR_FOLLOWER meanwhile, which it retries.)
      (void)wait_reconciled(loader.applied_end(), deadline);
    }
    promise->set(std::move(response));
  });
  return Reply{std::nullopt, std::move(future)};
}

}  // namespace weir::broker
