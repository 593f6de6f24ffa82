#include "client/admin.h"

#include <algorithm>

#include "client/consumer_protocol.h"
#include "client/coordinator.h"

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

// --- Consumer groups ----------------------------------------------------------------

namespace {

bool coordinator_moved(int16_t code) {
  const auto error = static_cast<protocol::ErrorCode>(code);
  return error == protocol::ErrorCode::not_coordinator ||
         error == protocol::ErrorCode::coordinator_not_available ||
         error == protocol::ErrorCode::coordinator_load_in_progress;
}

// Sends a group request to the coordinator, again (after finding it anew) while the
// answer's `error_of` says the coordinator moved or is loading, until `deadline`.
template <typename Response, typename Request, typename ErrorOf>
ClientResult<Response> group_call_wait(Cluster& cluster, const std::string& group_id,
                                       const Request& request, std::optional<int16_t> version_max,
                                       runtime::Instant deadline, ErrorOf error_of) {
  runtime::Env& env = cluster.env();
  while (true) {
    Error last = Error::of(ErrorKind::timed_out, "group coordinator");
    auto coordinator = find_coordinator_wait(cluster, group_id, deadline);
    if (!coordinator) return unexpected(coordinator.error());
    auto connection = cluster.connection_wait(coordinator->node_id);
    if (!connection) {
      cluster.invalidate();
      (void)cluster.refresh_metadata_wait({});
      last = connection.error();
    } else {
      std::optional<int16_t> version;
      if (version_max) {
        auto negotiated =
            (*connection)->version(static_cast<protocol::ApiKey>(Request::info.api_key));
        if (negotiated) version = std::min(*negotiated, *version_max);
      }
      auto response = (*connection)->send_and_wait(request, version);
      if (!response) {
        last = response.error();
      } else {
        const auto& body = std::get<Response>(**response);
        const int16_t code = error_of(body);
        if (!coordinator_moved(code)) return body;
        last = Error::kafka(code, group_id);
      }
    }
    if (env.clock.now() + cluster.options().retry_backoff >= deadline) return unexpected(last);
    env.scheduler.sleep_for(cluster.options().retry_backoff);
  }
}

}  // namespace

ClientResult<std::vector<GroupListing>> Admin::list_groups_wait() {
  // Each broker knows only the groups it coordinates: ask them all.
  auto refreshed = cluster_.refresh_metadata_wait({});
  if (!refreshed) return unexpected(refreshed.error());
  std::vector<int32_t> nodes;
  for (const auto& [node, broker] : cluster_.brokers()) nodes.push_back(node);
  std::vector<GroupListing> out;
  for (int32_t node : nodes) {
    auto connection = cluster_.connection_wait(node);
    if (!connection) return unexpected(connection.error());
    auto response = (*connection)->send_and_wait(protocol::ListGroupsRequest{});
    if (!response) return unexpected(response.error());
    const auto& body = std::get<protocol::ListGroupsResponse>(**response);
    if (body.error_code != 0) {
      return unexpected(Error::kafka(body.error_code, fmt::format("ListGroups on node {}", node)));
    }
    for (const auto& group : body.groups) {
      out.push_back(GroupListing{group.group_id, group.protocol_type, group.group_state});
    }
  }
  std::sort(out.begin(), out.end());
  return out;
}

ClientResult<GroupDescription> Admin::describe_group_wait(const std::string& group_id) {
  protocol::DescribeGroupsRequest request;
  request.groups.push_back(group_id);
  auto response = group_call_wait<protocol::DescribeGroupsResponse>(
      cluster_, group_id, request, std::nullopt, cluster_.env().clock.now() + timeout_,
      [](const protocol::DescribeGroupsResponse& body) -> int16_t {
        return body.groups.size() == 1 ? body.groups[0].error_code : int16_t{0};
      });
  if (!response) return unexpected(response.error());
  if (response->groups.size() != 1 || response->groups[0].group_id != group_id) {
    return unexpected(Error::of(ErrorKind::malformed_response, "DescribeGroups: not the group"));
  }
  const auto& described = response->groups[0];
  if (described.error_code == protocol::error_value(protocol::ErrorCode::group_id_not_found)) {
    // Not a classic group: a KIP-848 group answers ConsumerGroupDescribe instead.
    if (auto consumer = describe_consumer_group_wait(group_id); consumer) return consumer;
  }
  if (described.error_code != 0) {
    return unexpected(Error::kafka(described.error_code, fmt::format("group {}", group_id)));
  }
  // Before DescribeGroups v6 an unknown group is only "Dead" with no members.
  if (described.group_state == "Dead" && described.members.empty()) {
    return unexpected(Error::kafka(protocol::error_value(protocol::ErrorCode::group_id_not_found),
                                   fmt::format("group {}", group_id)));
  }
  GroupDescription out;
  out.group_id = described.group_id;
  out.state = described.group_state;
  out.protocol_type = described.protocol_type;
  out.protocol = described.protocol_data;
  for (const auto& member : described.members) {
    GroupMemberDescription entry;
    entry.member_id = member.member_id;
    entry.group_instance_id = member.group_instance_id;
    entry.client_id = member.client_id;
    entry.client_host = member.client_host;
    if (out.protocol_type == kConsumerProtocolType && !member.member_assignment.empty()) {
      auto assignment = decode_assignment(member.member_assignment);
      if (assignment) entry.assignment = std::move(assignment->partitions);
    }
    out.members.push_back(std::move(entry));
  }
  std::sort(out.members.begin(), out.members.end(),
            [](const auto& a, const auto& b) { return a.member_id < b.member_id; });
  return out;
}

ClientResult<GroupDescription> Admin::describe_consumer_group_wait(const std::string& group_id) {
  protocol::ConsumerGroupDescribeRequest request;
  request.group_ids.push_back(group_id);
  auto response = group_call_wait<protocol::ConsumerGroupDescribeResponse>(
      cluster_, group_id, request, std::nullopt, cluster_.env().clock.now() + timeout_,
      [](const protocol::ConsumerGroupDescribeResponse& body) -> int16_t {
        return body.groups.size() == 1 ? body.groups[0].error_code : int16_t{0};
      });
  if (!response) return unexpected(response.error());
  if (response->groups.size() != 1 || response->groups[0].group_id != group_id) {
    return unexpected(
        Error::of(ErrorKind::malformed_response, "ConsumerGroupDescribe: not the group"));
  }
  const auto& described = response->groups[0];
  if (described.error_code != 0) {
    return unexpected(Error::kafka(described.error_code, fmt::format("group {}", group_id)));
  }
  GroupDescription out;
  out.group_id = described.group_id;
  out.state = described.group_state;
  out.protocol_type = std::string(kConsumerProtocolType);
  out.protocol = described.assignor_name;
  for (const auto& member : described.members) {
    GroupMemberDescription entry;
    entry.member_id = member.member_id;
    entry.group_instance_id = member.instance_id;
    entry.client_id = member.client_id;
    entry.client_host = member.client_host;
    for (const auto& topic : member.assignment.topic_partitions) {
      for (int32_t partition : topic.partitions) {
        entry.assignment.push_back(TopicPartition{topic.topic_name, partition});
      }
    }
    std::sort(entry.assignment.begin(), entry.assignment.end());
    out.members.push_back(std::move(entry));
  }
  std::sort(out.members.begin(), out.members.end(),
            [](const auto& a, const auto& b) { return a.member_id < b.member_id; });
  return out;
}

ClientResult<absl::btree_map<TopicPartition, record::Offset>> Admin::list_group_offsets_wait(
    const std::string& group_id) {
  protocol::OffsetFetchRequest request;
  request.group_id = group_id;
  request.topics.reset();  // null: every partition with a committed offset (v2+)
  auto response = group_call_wait<protocol::OffsetFetchResponse>(
      cluster_, group_id, request, int16_t{7}, cluster_.env().clock.now() + timeout_,
      [](const protocol::OffsetFetchResponse& body) { return body.error_code; });
  if (!response) return unexpected(response.error());
  if (response->error_code != 0) {
    return unexpected(Error::kafka(response->error_code, fmt::format("group {}", group_id)));
  }
  absl::btree_map<TopicPartition, record::Offset> out;
  for (const auto& topic : response->topics) {
    for (const auto& partition : topic.partitions) {
      if (partition.error_code != 0) {
        return unexpected(Error::kafka(
            partition.error_code, fmt::format("{}-{}", topic.name, partition.partition_index)));
      }
      if (partition.committed_offset < 0) continue;
      out[TopicPartition{topic.name, partition.partition_index}] =
          record::Offset{partition.committed_offset};
    }
  }
  return out;
}

ClientResult<std::vector<PartitionOutcome>> Admin::alter_group_offsets_wait(
    const std::string& group_id, const absl::btree_map<TopicPartition, record::Offset>& offsets) {
  protocol::OffsetCommitRequest request;
  request.group_id = group_id;
  request.generation_id_or_member_epoch = -1;
  request.member_id = "";
  for (const auto& [tp, offset] : offsets) {
    if (request.topics.empty() || request.topics.back().name != tp.topic) {
      request.topics.emplace_back().name = tp.topic;
    }
    auto& partition = request.topics.back().partitions.emplace_back();
    partition.partition_index = tp.partition;
    partition.committed_offset = offset.value();
    partition.committed_metadata = std::string();
  }
  auto response = group_call_wait<protocol::OffsetCommitResponse>(
      cluster_, group_id, request, std::nullopt, cluster_.env().clock.now() + timeout_,
      [](const protocol::OffsetCommitResponse& body) -> int16_t {
        for (const auto& topic : body.topics) {
          for (const auto& partition : topic.partitions) {
            if (coordinator_moved(partition.error_code)) return partition.error_code;
          }
        }
        return 0;
      });
  if (!response) return unexpected(response.error());
  std::vector<PartitionOutcome> out;
  for (const auto& topic : response->topics) {
    for (const auto& partition : topic.partitions) {
      PartitionOutcome outcome{TopicPartition{topic.name, partition.partition_index}, std::nullopt};
      if (partition.error_code != 0) outcome.error = Error::kafka(partition.error_code);
      out.push_back(std::move(outcome));
    }
  }
  return out;
}

ClientResult<std::vector<TopicOutcome>> Admin::delete_groups_wait(
    const std::vector<std::string>& ids) {
  std::vector<TopicOutcome> out;
  // Groups may live on different coordinators: one request per group.
  for (const std::string& group_id : ids) {
    protocol::DeleteGroupsRequest request;
    request.groups_names.push_back(group_id);
    auto response = group_call_wait<protocol::DeleteGroupsResponse>(
        cluster_, group_id, request, std::nullopt, cluster_.env().clock.now() + timeout_,
        [](const protocol::DeleteGroupsResponse& body) -> int16_t {
          return body.results.size() == 1 ? body.results[0].error_code : int16_t{0};
        });
    if (!response) return unexpected(response.error());
    TopicOutcome outcome{group_id, std::nullopt};
    if (response->results.size() != 1) {
      outcome.error = Error::of(ErrorKind::malformed_response, "DeleteGroups");
    } else if (response->results[0].error_code != 0) {
      outcome.error = Error::kafka(response->results[0].error_code);
    }
    out.push_back(std::move(outcome));
  }
  return out;
}

ClientResult<std::vector<PartitionOutcome>> Admin::delete_group_offsets_wait(
    const std::string& group_id, const std::vector<TopicPartition>& partitions) {
  protocol::OffsetDeleteRequest request;
  request.group_id = group_id;
  std::vector<TopicPartition> sorted = partitions;
  std::sort(sorted.begin(), sorted.end());
  for (const TopicPartition& tp : sorted) {
    if (request.topics.empty() || request.topics.back().name != tp.topic) {
      request.topics.emplace_back().name = tp.topic;
    }
    request.topics.back().partitions.emplace_back().partition_index = tp.partition;
  }
  auto response = group_call_wait<protocol::OffsetDeleteResponse>(
      cluster_, group_id, request, std::nullopt, cluster_.env().clock.now() + timeout_,
      [](const protocol::OffsetDeleteResponse& body) { return body.error_code; });
  if (!response) return unexpected(response.error());
  if (response->error_code != 0) {
    return unexpected(Error::kafka(response->error_code, fmt::format("group {}", group_id)));
  }
  std::vector<PartitionOutcome> out;
  for (const auto& topic : response->topics) {
    for (const auto& partition : topic.partitions) {
      PartitionOutcome outcome{TopicPartition{topic.name, partition.partition_index}, std::nullopt};
      if (partition.error_code != 0) outcome.error = Error::kafka(partition.error_code);
      out.push_back(std::move(outcome));
    }
  }
  return out;
}

}  // namespace weir::client
