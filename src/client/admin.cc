#include "client/admin.h"

#include <algorithm>

namespace weir::client {

ClientResult<std::vector<TopicOutcome>> Admin::create_topics_wait(
    const std::vector<NewTopic>& topics, bool validate_only) {
  auto connection = cluster_.any_connection_wait();
  if (!connection) return unexpected(connection.error());
  protocol::CreateTopicsRequest request;
  request.timeout_ms =
      static_cast<int32_t>(std::chrono::duration_cast<runtime::milliseconds>(timeout_).count());
  request.validate_only = validate_only;
  for (const NewTopic& topic : topics) {
    protocol::CreateTopicsRequest::CreatableTopic creatable;
    creatable.name = topic.name;
    creatable.num_partitions = topic.partitions;
    creatable.replication_factor = topic.replication_factor;
    for (const auto& [key, value] : topic.configs) {
      protocol::CreateTopicsRequest::CreatableTopicConfig config;
      config.name = key;
      config.value = value;
      creatable.configs.push_back(std::move(config));
    }
    request.topics.push_back(std::move(creatable));
  }
  auto response = (*connection)->send_and_wait(std::move(request));
  if (!response) return unexpected(response.error());
  const auto& body = std::get<protocol::CreateTopicsResponse>(**response);
  std::vector<TopicOutcome> outcomes;
  for (const auto& result : body.topics) {
    TopicOutcome outcome{result.name, std::nullopt};
    if (result.error_code != 0) {
      outcome.error = Error::kafka(result.error_code, result.error_message.value_or(""));
    }
    outcomes.push_back(std::move(outcome));
  }
  cluster_.invalidate();
  return outcomes;
}

ClientResult<std::vector<TopicOutcome>> Admin::delete_topics_wait(
    const std::vector<std::string>& names) {
  auto connection = cluster_.any_connection_wait();
  if (!connection) return unexpected(connection.error());
  protocol::DeleteTopicsRequest request;
  request.timeout_ms =
      static_cast<int32_t>(std::chrono::duration_cast<runtime::milliseconds>(timeout_).count());
  const int16_t version =
      (*connection)->version(protocol::ApiKey::delete_topics).value_or(int16_t{0});
  for (const std::string& name : names) {
    if (version >= 6) {
      protocol::DeleteTopicsRequest::DeleteTopicState state;
      state.name = name;
      request.topics.push_back(std::move(state));
    } else {
      request.topic_names.push_back(name);
    }
  }
  auto response = (*connection)->send_and_wait(std::move(request));
  if (!response) return unexpected(response.error());
  const auto& body = std::get<protocol::DeleteTopicsResponse>(**response);
  std::vector<TopicOutcome> outcomes;
  for (const auto& result : body.responses) {
    TopicOutcome outcome{result.name.value_or(""), std::nullopt};
    if (result.error_code != 0) {
      outcome.error = Error::kafka(result.error_code, result.error_message.value_or(""));
    }
    outcomes.push_back(std::move(outcome));
  }
  cluster_.invalidate();
  return outcomes;
}

ClientResult<std::vector<TopicInfo>> Admin::list_topics_wait(bool include_internal) {
  auto refreshed = cluster_.refresh_metadata_wait({}, /*all_topics=*/true);
  if (!refreshed) return unexpected(refreshed.error());
  std::vector<TopicInfo> topics;
  for (const auto& [name, info] : cluster_.topics()) {
    if (info.internal && !include_internal) continue;
    topics.push_back(info);
  }
  return topics;
}

ClientResult<TopicInfo> Admin::describe_topic_wait(const std::string& name) {
  auto refreshed = cluster_.refresh_metadata_wait({name});
  if (!refreshed) return unexpected(refreshed.error());
  const TopicInfo* info = cluster_.topic(name);
  if (info == nullptr) {
    return unexpected(
        Error::kafka(protocol::error_value(protocol::ErrorCode::unknown_topic_or_partition), name));
  }
  if (info->error_code != 0) return unexpected(Error::kafka(info->error_code, name));
  return *info;
}

ClientResult<std::vector<ReassignmentOutcome>> Admin::alter_partition_reassignments_wait(
    const std::vector<Reassignment>& reassignments, bool allow_replication_factor_change) {
  auto connection = cluster_.any_connection_wait();
  if (!connection) return unexpected(connection.error());
  protocol::AlterPartitionReassignmentsRequest request;
  request.timeout_ms =
      static_cast<int32_t>(std::chrono::duration_cast<runtime::milliseconds>(timeout_).count());
  request.allow_replication_factor_change = allow_replication_factor_change;
  for (const Reassignment& wanted : reassignments) {
    auto it = std::find_if(request.topics.begin(), request.topics.end(),
                           [&](const auto& topic) { return topic.name == wanted.partition.topic; });
    if (it == request.topics.end()) {
      request.topics.emplace_back().name = wanted.partition.topic;
      it = std::prev(request.topics.end());
    }
    auto& partition = it->partitions.emplace_back();
    partition.partition_index = wanted.partition.partition;
    partition.replicas = wanted.replicas;
  }
  auto response = (*connection)->send_and_wait(std::move(request));
  if (!response) return unexpected(response.error());
  const auto& body = std::get<protocol::AlterPartitionReassignmentsResponse>(**response);
  if (body.error_code != 0) {
    return unexpected(Error::kafka(body.error_code, body.error_message.value_or("")));
  }
  std::vector<ReassignmentOutcome> outcomes;
  for (const auto& topic : body.responses) {
    for (const auto& result : topic.partitions) {
      ReassignmentOutcome outcome{{topic.name, result.partition_index}, std::nullopt};
      if (result.error_code != 0) {
        outcome.error = Error::kafka(result.error_code, result.error_message.value_or(""));
      }
      outcomes.push_back(std::move(outcome));
    }
  }
  cluster_.invalidate();
  return outcomes;
}

ClientResult<std::vector<OngoingReassignment>> Admin::list_partition_reassignments_wait(
    const std::optional<std::vector<TopicPartition>>& partitions) {
  auto connection = cluster_.any_connection_wait();
  if (!connection) return unexpected(connection.error());
  protocol::ListPartitionReassignmentsRequest request;
  request.timeout_ms =
      static_cast<int32_t>(std::chrono::duration_cast<runtime::milliseconds>(timeout_).count());
  if (partitions) {
    request.topics.emplace();
    for (const TopicPartition& partition : *partitions) {
      auto it = std::find_if(request.topics->begin(), request.topics->end(),
                             [&](const auto& topic) { return topic.name == partition.topic; });
      if (it == request.topics->end()) {
        request.topics->emplace_back().name = partition.topic;
        it = std::prev(request.topics->end());
      }
      it->partition_indexes.push_back(partition.partition);
    }
  } else {
    request.topics = std::nullopt;
  }
  auto response = (*connection)->send_and_wait(std::move(request));
  if (!response) return unexpected(response.error());
  const auto& body = std::get<protocol::ListPartitionReassignmentsResponse>(**response);
  if (body.error_code != 0) {
    return unexpected(Error::kafka(body.error_code, body.error_message.value_or("")));
  }
  std::vector<OngoingReassignment> ongoing;
  for (const auto& topic : body.topics) {
    for (const auto& partition : topic.partitions) {
      ongoing.push_back({{topic.name, partition.partition_index},
                         partition.replicas,
                         partition.adding_replicas,
                         partition.removing_replicas});
    }
  }
  return ongoing;
}

ClientResult<void> Admin::describe_elr_wait(std::vector<TopicInfo>& topics) {
  if (topics.empty()) return {};
  auto connection = cluster_.any_connection_wait();
  if (!connection) return unexpected(connection.error());
  if (!(*connection)->version(protocol::ApiKey::describe_topic_partitions)) return {};
  protocol::DescribeTopicPartitionsRequest request;
  for (const TopicInfo& topic : topics) request.topics.emplace_back().name = topic.name;
  for (;;) {
    auto response = (*connection)->send_and_wait(protocol::DescribeTopicPartitionsRequest(request));
    if (!response) return unexpected(response.error());
    const auto& body = std::get<protocol::DescribeTopicPartitionsResponse>(**response);
    for (const auto& described : body.topics) {
      for (TopicInfo& topic : topics) {
        if (!described.name || topic.name != *described.name) continue;
        for (const auto& p : described.partitions) {
          for (PartitionInfo& partition : topic.partitions) {
            if (partition.partition != p.partition_index) continue;
            partition.elr = p.eligible_leader_replicas;
            partition.last_known_elr = p.last_known_elr;
          }
        }
      }
    }
    if (!body.next_cursor) return {};
    request.cursor.emplace();
    request.cursor->topic_name = body.next_cursor->topic_name;
    request.cursor->partition_index = body.next_cursor->partition_index;
  }
}

ClientResult<std::vector<ConfigEntry>> Admin::describe_configs_wait(ConfigResource type,
                                                                    const std::string& name) {
  auto connection = cluster_.any_connection_wait();
  if (!connection) return unexpected(connection.error());
  protocol::DescribeConfigsRequest request;
  protocol::DescribeConfigsRequest::DescribeConfigsResource resource;
  resource.resource_type = static_cast<int8_t>(type);
  resource.resource_name = name;
  resource.configuration_keys = std::nullopt;
  request.resources.push_back(std::move(resource));
  auto response = (*connection)->send_and_wait(std::move(request));
  if (!response) return unexpected(response.error());
  const auto& body = std::get<protocol::DescribeConfigsResponse>(**response);
  if (body.results.empty()) {
    return unexpected(Error::of(ErrorKind::malformed_response, "no DescribeConfigs result"));
  }
  const auto& result = body.results.front();
  if (result.error_code != 0) {
    return unexpected(Error::kafka(result.error_code, result.error_message.value_or(name)));
  }
  std::vector<ConfigEntry> entries;
  for (const auto& config : result.configs) {
    ConfigEntry entry;
    entry.name = config.name;
    entry.value = config.value;
    entry.read_only = config.read_only;
    entry.sensitive = config.is_sensitive;
    entry.source = config.config_source;
    // Kafka's ConfigSource DEFAULT_CONFIG is 5.
    entry.is_default = config.config_source == 5;
    entries.push_back(std::move(entry));
  }
  std::sort(entries.begin(), entries.end(),
            [](const ConfigEntry& a, const ConfigEntry& b) { return a.name < b.name; });
  return entries;
}

ClientResult<std::vector<ElectionOutcome>> Admin::elect_leaders_wait(
    ElectionType type, const std::optional<std::vector<TopicPartition>>& partitions) {
  auto connection = cluster_.any_connection_wait();
  if (!connection) return unexpected(connection.error());
  protocol::ElectLeadersRequest request;
  request.election_type = static_cast<int8_t>(type);
  request.timeout_ms =
      static_cast<int32_t>(std::chrono::duration_cast<runtime::milliseconds>(timeout_).count());
  if (partitions) {
    std::vector<protocol::ElectLeadersRequest::TopicPartitions> topics;
    for (const TopicPartition& partition : *partitions) {
      auto it = std::find_if(topics.begin(), topics.end(),
                             [&](const auto& entry) { return entry.topic == partition.topic; });
      if (it == topics.end()) {
        topics.emplace_back().topic = partition.topic;
        it = std::prev(topics.end());
      }
      it->partitions.push_back(partition.partition);
    }
    request.topic_partitions = std::move(topics);
  } else {
    request.topic_partitions = std::nullopt;
  }
  auto response = (*connection)->send_and_wait(std::move(request));
  if (!response) return unexpected(response.error());
  const auto& body = std::get<protocol::ElectLeadersResponse>(**response);
  if (body.error_code != 0) return unexpected(Error::kafka(body.error_code, ""));
  std::vector<ElectionOutcome> outcomes;
  for (const auto& topic : body.replica_election_results) {
    for (const auto& result : topic.partition_result) {
      ElectionOutcome outcome{{topic.topic, result.partition_id}, std::nullopt};
      if (result.error_code != 0) {
        outcome.error = Error::kafka(result.error_code, result.error_message.value_or(""));
      }
      outcomes.push_back(std::move(outcome));
    }
  }
  cluster_.invalidate();
  return outcomes;
}

}  // namespace weir::client
