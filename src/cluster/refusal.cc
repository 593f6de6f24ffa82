#include "cluster/refusal.h"

#include <string>
#include <utility>

#include "base/assert.h"

namespace weir::cluster {

using protocol::error_value;
using protocol::ErrorCode;

namespace {

constexpr std::string_view kNotController = "This node is not the active controller.";
constexpr std::string_view kTimedOut =
    "The controller did not see the change committed in time; it may still take effect.";

std::string_view message_of(ErrorCode code) {
  return code == ErrorCode::not_controller ? kNotController : kTimedOut;
}

// The answers a request gets when the controller cannot decide it or cannot commit
// the decision: every entry of the request, with `code`.
protocol::CreateTopicsResponse refuse(const protocol::CreateTopicsRequest& request,
                                      ErrorCode code) {
  protocol::CreateTopicsResponse response;
  for (const auto& topic : request.topics) {
    protocol::CreateTopicsResponse::CreatableTopicResult result;
    result.name = topic.name;
    result.error_code = error_value(code);
    result.error_message = std::string(message_of(code));
    response.topics.push_back(std::move(result));
  }
  return response;
}

protocol::DeleteTopicsResponse refuse(const protocol::DeleteTopicsRequest& request,
                                      ErrorCode code) {
  protocol::DeleteTopicsResponse response;
  auto add = [&](std::optional<std::string> name, protocol::Uuid id) {
    protocol::DeleteTopicsResponse::DeletableTopicResult result;
    result.name = std::move(name);
    result.topic_id = id;
    result.error_code = error_value(code);
    result.error_message = std::string(message_of(code));
    response.responses.push_back(std::move(result));
  };
  for (const auto& name : request.topic_names) add(name, {});
  for (const auto& topic : request.topics) add(topic.name, topic.topic_id);
  return response;
}

protocol::CreatePartitionsResponse refuse(const protocol::CreatePartitionsRequest& request,
                                          ErrorCode code) {
  protocol::CreatePartitionsResponse response;
  for (const auto& topic : request.topics) {
    protocol::CreatePartitionsResponse::CreatePartitionsTopicResult result;
    result.name = topic.name;
    result.error_code = error_value(code);
    result.error_message = std::string(message_of(code));
    response.results.push_back(std::move(result));
  }
  return response;
}

template <typename Response, typename Request>
Response refuse_resources(const Request& request, ErrorCode code) {
  Response response;
  for (const auto& resource : request.resources) {
    typename decltype(response.responses)::value_type result;
    result.resource_type = resource.resource_type;
    result.resource_name = resource.resource_name;
    result.error_code = error_value(code);
    result.error_message = std::string(message_of(code));
    response.responses.push_back(std::move(result));
  }
  return response;
}

// The responses with one top-level error code.
template <typename Response>
Response refuse_whole(ErrorCode code) {
  Response response;
  response.error_code = error_value(code);
  return response;
}

}  // namespace

protocol::ResponseBody refuse(const protocol::RequestBody& body, ErrorCode code) {
  using namespace protocol;
  if (auto* request = std::get_if<CreateTopicsRequest>(&body)) return refuse(*request, code);
  if (auto* request = std::get_if<DeleteTopicsRequest>(&body)) return refuse(*request, code);
  if (auto* request = std::get_if<CreatePartitionsRequest>(&body)) return refuse(*request, code);
  if (auto* request = std::get_if<ElectLeadersRequest>(&body)) {
    // The top-level code (v1+) and each partition's (all versions).
    ElectLeadersResponse response;
    response.error_code = error_value(code);
    for (const auto& topic :
         request->topic_partitions.value_or(std::vector<ElectLeadersRequest::TopicPartitions>{})) {
      auto& result = response.replica_election_results.emplace_back();
      result.topic = topic.topic;
      for (int32_t partition : topic.partitions) {
        auto& entry = result.partition_result.emplace_back();
        entry.partition_id = partition;
        entry.error_code = error_value(code);
        entry.error_message = std::string(message_of(code));
      }
    }
    return response;
  }
  if (auto* request = std::get_if<AlterConfigsRequest>(&body)) {
    return refuse_resources<AlterConfigsResponse>(*request, code);
  }
  if (auto* request = std::get_if<IncrementalAlterConfigsRequest>(&body)) {
    return refuse_resources<IncrementalAlterConfigsResponse>(*request, code);
  }
  if (std::holds_alternative<BrokerRegistrationRequest>(body)) {
    return refuse_whole<BrokerRegistrationResponse>(code);
  }
  if (std::holds_alternative<BrokerHeartbeatRequest>(body)) {
    return refuse_whole<BrokerHeartbeatResponse>(code);
  }
  if (std::holds_alternative<UnregisterBrokerRequest>(body)) {
    return refuse_whole<UnregisterBrokerResponse>(code);
  }
  if (std::holds_alternative<AllocateProducerIdsRequest>(body)) {
    return refuse_whole<AllocateProducerIdsResponse>(code);
  }
  if (std::holds_alternative<AlterPartitionRequest>(body)) {
    return refuse_whole<AlterPartitionResponse>(code);
  }
  if (auto* request = std::get_if<AlterPartitionReassignmentsRequest>(&body)) {
    AlterPartitionReassignmentsResponse response;
    response.error_code = error_value(code);
    response.error_message = std::string(message_of(code));
    response.allow_replication_factor_change = request->allow_replication_factor_change;
    return response;
  }
  if (std::holds_alternative<ListPartitionReassignmentsRequest>(body)) {
    ListPartitionReassignmentsResponse response;
    response.error_code = error_value(code);
    response.error_message = std::string(message_of(code));
    return response;
  }
  VERIFY(false, "refuse() for a request the controller does not serve");
  return ApiVersionsResponse{};
}

}  // namespace weir::cluster
