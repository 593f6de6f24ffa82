// Metadata and DescribeCluster, answered from the metadata image, and the topic
// auto-creation Metadata may ask the controller for.
#include <algorithm>

#include <fmt/format.h>

#include "broker/broker.h"

namespace weir::broker {

using protocol::error_value;
using protocol::ErrorCode;

namespace {

bool is_internal(std::string_view name) { return !name.empty() && name[0] == '_'; }

// Metadata's and DescribeCluster's broker lists: the unfenced brokers with an endpoint
// on `listener`. Clients send admin requests to "the controller"; in KRaft any broker
// takes them and forwards, so the answer names this broker once it is live.
template <typename Response, typename SetId>
void list_live_brokers(const metadata::Image& image, std::string_view listener, int32_t self,
                       Response& response, SetId set_id) {
  response.controller_id = -1;
  for (const auto& [id, registration] : image.brokers()) {
    if (registration.fenced) continue;
    const metadata::BrokerEndpoint* endpoint = registration.endpoint(listener);
    if (endpoint == nullptr) continue;
    auto& broker = response.brokers.emplace_back();
    set_id(broker, id.value());
    broker.host = endpoint->host;
    broker.port = endpoint->port;
    broker.rack = registration.rack;
    if (id.value() == self || response.controller_id == -1) response.controller_id = id.value();
  }
}

}  // namespace

protocol::MetadataResponse::MetadataResponseTopic metadata_topic_error(
    std::optional<std::string> name, protocol::Uuid id, ErrorCode code) {
  protocol::MetadataResponse::MetadataResponseTopic entry;
  entry.error_code = error_value(code);
  entry.name = std::move(name);
  entry.topic_id = id;
  return entry;
}

protocol::ResponseBody Broker::metadata(const protocol::RequestHeader& header,
                                        const protocol::MetadataRequest& request) {
  // A copy: creating a topic below suspends, and the image may move meanwhile.
  const metadata::Image image = link_.image();
  protocol::MetadataResponse response;
  response.cluster_id = link_.cluster_id();
  list_live_brokers(image, settings_.listener_name, settings_.config.node_id, response,
                    [](protocol::MetadataResponse::MetadataResponseBroker& broker, int32_t id) {
                      broker.node_id = id;
                    });

  auto describe = [&](const metadata::TopicImage& topic) {
    protocol::MetadataResponse::MetadataResponseTopic entry;
    entry.name = topic.name;
    entry.topic_id = topic.id.uuid;
    entry.is_internal = is_internal(topic.name);
    for (size_t index = 0; index < topic.partitions.size(); index++) {
      const metadata::PartitionState& state = topic.partitions[index];
      protocol::MetadataResponse::MetadataResponsePartition p;
      p.partition_index = static_cast<int32_t>(index);
      p.leader_id = state.leader.value();
      p.leader_epoch = state.leader_epoch.value();
      if (!state.has_leader()) p.error_code = error_value(ErrorCode::leader_not_available);
      for (metadata::BrokerId replica : state.replicas) {
        p.replica_nodes.push_back(replica.value());
        const metadata::BrokerRegistration* broker = image.broker(replica);
        if (broker == nullptr || broker->fenced) p.offline_replicas.push_back(replica.value());
      }
      for (metadata::BrokerId member : state.isr) p.isr_nodes.push_back(member.value());
      entry.partitions.push_back(std::move(p));
    }
    return entry;
  };
  const auto failed = metadata_topic_error;

  const bool all =
      !request.topics.has_value() || (header.api_version == 0 && request.topics->empty());
  if (all) {
    for (const auto& [name, id] : image.topic_names()) {
      response.topics.push_back(describe(*image.topic(id)));
    }
    return response;
  }
  const bool may_create =
      settings_.config.auto_create_topics_enable && request.allow_auto_topic_creation;
  for (const auto& wanted : *request.topics) {
    if (!wanted.name) {
      const metadata::TopicImage* topic = image.topic(metadata::TopicId{wanted.topic_id});
      response.topics.push_back(
          topic ? describe(*topic)
                : failed(std::nullopt, wanted.topic_id, ErrorCode::unknown_topic_id));
      continue;
    }
    const std::string& name = *wanted.name;
    if (const metadata::TopicImage* topic = image.topic(name)) {
      response.topics.push_back(describe(*topic));
      continue;
    }
    if (metadata::invalid_topic_name_reason(name)) {
      response.topics.push_back(failed(name, {}, ErrorCode::invalid_topic_exception));
      continue;
    }
    // Internal topics (`__` names: __consumer_offsets, __transaction_state) are created
    // by their coordinators, with their own settings, never by a Metadata request.
    if (!may_create || name.starts_with("__")) {
      response.topics.push_back(failed(name, {}, ErrorCode::unknown_topic_or_partition));
      continue;
    }
    // As Kafka: ask the controller, and tell the client to come back for the leader.
    const bool asked = request_creation(name);
    response.topics.push_back(failed(
        name, {}, asked ? ErrorCode::leader_not_available : ErrorCode::unknown_topic_or_partition));
  }
  return response;
}

bool Broker::request_creation(const std::string& name) {
  protocol::CreateTopicsRequest request;
  protocol::CreateTopicsRequest::CreatableTopic topic;
  topic.name = name;
  topic.num_partitions = -1;
  topic.replication_factor = -1;
  request.topics.push_back(std::move(topic));
  request.timeout_ms = 5000;
  auto answer =
      link_.send_to_controller(std::move(request), env_.clock.now() + runtime::seconds(5));
  if (!answer) return false;
  const auto* response = std::get_if<protocol::CreateTopicsResponse>(answer->get());
  if (response == nullptr || response->topics.size() != 1) return false;
  const int16_t code = response->topics.front().error_code;
  return code == 0 || code == error_value(ErrorCode::topic_already_exists);
}

protocol::ResponseBody Broker::describe_topic_partitions(
    const protocol::DescribeTopicPartitionsRequest& request) {
  using Response = protocol::DescribeTopicPartitionsResponse;
  const metadata::Image& image = link_.image();
  Response response;
  // Kafka's paging: topics in name order from the cursor's, partitions from its index,
  // at most response_partition_limit partitions; the next cursor names where to go on.
  const int32_t limit = request.response_partition_limit > 0
                            ? std::min(request.response_partition_limit, int32_t{2000})
                            : int32_t{2000};
  std::vector<std::string> names;
  if (request.topics.empty()) {
    for (const auto& [name, id] : image.topic_names()) names.push_back(name);
  } else {
    for (const auto& wanted : request.topics) names.push_back(wanted.name);
    std::sort(names.begin(), names.end());
    names.erase(std::unique(names.begin(), names.end()), names.end());
  }
  int32_t budget = limit;
  for (const std::string& name : names) {
    int32_t first = 0;
    if (request.cursor) {
      if (name < request.cursor->topic_name) continue;
      if (name == request.cursor->topic_name) first = std::max(request.cursor->partition_index, 0);
    }
    Response::DescribeTopicPartitionsResponseTopic entry;
    entry.name = name;
    const metadata::TopicImage* topic = image.topic(name);
    if (topic == nullptr) {
      entry.error_code = error_value(ErrorCode::unknown_topic_or_partition);
      response.topics.push_back(std::move(entry));
      continue;
    }
    entry.topic_id = topic->id.uuid;
    entry.is_internal = is_internal(name);
    const auto count = static_cast<int32_t>(topic->partitions.size());
    for (int32_t index = first; index < count; index++) {
      if (budget == 0) {
        response.next_cursor.emplace();
        response.next_cursor->topic_name = name;
        response.next_cursor->partition_index = index;
        break;
      }
      budget--;
      const metadata::PartitionState& state = topic->partitions[static_cast<size_t>(index)];
      auto& p = entry.partitions.emplace_back();
      p.partition_index = index;
      p.leader_id = state.leader.value();
      p.leader_epoch = state.leader_epoch.value();
      for (metadata::BrokerId replica : state.replicas) {
        p.replica_nodes.push_back(replica.value());
        const metadata::BrokerRegistration* broker = image.broker(replica);
        if (broker == nullptr || broker->fenced) p.offline_replicas.push_back(replica.value());
      }
      for (metadata::BrokerId member : state.isr) p.isr_nodes.push_back(member.value());
      p.eligible_leader_replicas.emplace();
      for (metadata::BrokerId member : state.elr)
        p.eligible_leader_replicas->push_back(member.value());
      p.last_known_elr.emplace();
      for (metadata::BrokerId member : state.last_known_elr) {
        p.last_known_elr->push_back(member.value());
      }
    }
    response.topics.push_back(std::move(entry));
    if (response.next_cursor) break;
  }
  return response;
}

protocol::ResponseBody Broker::describe_cluster(const protocol::DescribeClusterRequest& request) {
  protocol::DescribeClusterResponse response;
  response.endpoint_type = request.endpoint_type;
  if (request.endpoint_type != 1) {
    response.error_code = error_value(ErrorCode::unsupported_endpoint_type);
    response.error_message = "weir serves DescribeCluster for broker endpoints only";
    return response;
  }
  response.cluster_id = link_.cluster_id();
  list_live_brokers(link_.image(), settings_.listener_name, settings_.config.node_id, response,
                    [](protocol::DescribeClusterResponse::DescribeClusterBroker& broker,
                       int32_t id) { broker.broker_id = id; });
  return response;
}

}  // namespace weir::broker
