// Cluster mode (Broker::join_cluster): Metadata and DescribeCluster answered from the
// metadata image, admin requests forwarded to the active controller, and the node's
// partitions kept equal to the image's topics.
#include <fmt/format.h>

#include "broker/broker.h"
#include "cluster/refusal.h"

namespace weir::broker {

using protocol::error_value;
using protocol::ErrorCode;

namespace {

// How long a forwarded admin request may wait for the controller (elections included).
constexpr runtime::Duration kForwardTimeout = runtime::seconds(30);

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

bool Broker::leads(std::string_view topic, int32_t partition) const {
  if (cluster_ == nullptr) return true;
  const metadata::TopicImage* image = cluster_->image().topic(topic);
  if (image == nullptr || partition < 0 ||
      static_cast<size_t>(partition) >= image->partitions.size()) {
    return false;
  }
  return image->partitions[static_cast<size_t>(partition)].leader ==
         metadata::BrokerId(settings_.config.node_id);
}

protocol::ResponseBody Broker::cluster_metadata(const protocol::RequestHeader& header,
                                                const protocol::MetadataRequest& request) {
  // A copy: creating a topic below suspends, and the image may move meanwhile.
  const metadata::Image image = cluster_->image();
  protocol::MetadataResponse response;
  response.cluster_id = cluster_id_;
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
    if (invalid_topic_name_reason(name)) {
      response.topics.push_back(failed(name, {}, ErrorCode::invalid_topic_exception));
      continue;
    }
    if (!may_create) {
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
      cluster_->send_to_controller(std::move(request), env_.clock.now() + runtime::seconds(5));
  if (!answer) return false;
  const auto* response = std::get_if<protocol::CreateTopicsResponse>(answer->get());
  if (response == nullptr || response->topics.size() != 1) return false;
  const int16_t code = response->topics.front().error_code;
  return code == 0 || code == error_value(ErrorCode::topic_already_exists);
}

protocol::ResponseBody Broker::cluster_describe(const protocol::DescribeClusterRequest& request) {
  protocol::DescribeClusterResponse response;
  response.endpoint_type = request.endpoint_type;
  if (request.endpoint_type != 1) {
    response.error_code = error_value(ErrorCode::unsupported_endpoint_type);
    response.error_message = "weir serves DescribeCluster for broker endpoints only";
    return response;
  }
  response.cluster_id = cluster_id_;
  list_live_brokers(cluster_->image(), settings_.listener_name, settings_.config.node_id, response,
                    [](protocol::DescribeClusterResponse::DescribeClusterBroker& broker,
                       int32_t id) { broker.broker_id = id; });
  return response;
}

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
    auto answer = cluster_->send_to_controller(body, env_.clock.now() + kForwardTimeout);
    promise->set(answer ? protocol::ResponseBody(**answer)
                        : cluster::refuse(body, ErrorCode::request_timed_out));
  });
  return Reply{std::nullopt, std::move(future)};
}

std::optional<int64_t> Broker::cluster_producer_id() {
  runtime::MutexGuard guard(producer_block_mutex_);
  if (producer_block_next_ >= producer_block_end_) {
    const std::optional<int64_t> epoch = cluster_->broker_epoch();
    if (!epoch) return std::nullopt;  // not registered yet
    protocol::AllocateProducerIdsRequest request;
    request.broker_id = settings_.config.node_id;
    request.broker_epoch = *epoch;
    auto answer =
        cluster_->send_to_controller(std::move(request), env_.clock.now() + runtime::seconds(10));
    if (!answer) return std::nullopt;
    const auto* block = std::get_if<protocol::AllocateProducerIdsResponse>(answer->get());
    if (block == nullptr || block->error_code != 0 || block->producer_id_len <= 0) {
      return std::nullopt;
    }
    producer_block_next_ = block->producer_id_start;
    producer_block_end_ = block->producer_id_start + block->producer_id_len;
  }
  return producer_block_next_++;
}

void Broker::follow_image_loop() {
  record::Offset seen{-1};
  while (!stopping_) {
    cluster::MetadataLoader& loader = cluster_->loader();
    if (cluster_->caught_up() && loader.applied_end() != seen) {
      seen = loader.applied_end();
      follow_image();
      continue;
    }
    loader.wait_change(loader.applied_end(), env_.clock.now() + runtime::milliseconds(200));
  }
}

void Broker::follow_image() {
  // A copy: creating logs suspends, and the image may move meanwhile (the next pass
  // catches up).
  const metadata::Image image = cluster_->image();
  std::vector<std::string> gone;
  for (const auto& [name, topic] : topics_.all()) {
    const metadata::TopicImage* wanted = image.topic(name);
    if (wanted == nullptr || wanted->id.uuid != topic->id) gone.push_back(name);
  }
  for (const std::string& name : gone) (void)topics_.remove(name);
  for (const auto& [name, id] : image.topic_names()) {
    if (stopping_) return;
    const metadata::TopicImage& wanted = *image.topic(id);
    auto config = config::TopicConfig::make(image.topic_config(name));
    // The controller validated the configs it committed; a key this build does not
    // know (a newer controller) leaves the topic on the broker's defaults.
    config::TopicConfig topic_config = config ? std::move(*config) : config::TopicConfig{};
    const auto count = static_cast<int32_t>(wanted.partitions.size());
    Topic* local = topics_.find(name);
    if (local == nullptr) {
      if (count == 0) continue;
      if (!topics_.create(name, count, topic_config, id.uuid)) continue;
      local = topics_.find(name);
      if (local == nullptr) continue;
    } else {
      if (static_cast<int32_t>(local->partitions.size()) < count) {
        (void)topics_.add_partitions(name, count);
      }
      if (local->config.overrides() != topic_config.overrides()) {
        (void)topics_.set_config(name, topic_config);
      }
    }
    for (size_t index = 0; index < local->partitions.size() && index < wanted.partitions.size();
         index++) {
      local->partitions[index]->set_leader_epoch(
          LeaderEpoch(wanted.partitions[index].leader_epoch.value()));
    }
  }
}

}  // namespace weir::broker
