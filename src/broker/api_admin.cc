// ApiVersions, Metadata, DescribeCluster, CreateTopics, DeleteTopics, CreatePartitions,
// DeleteRecords and InitProducerId.
#include <set>

#include <fmt/format.h>

#include "broker/broker.h"

namespace weir::broker {

using protocol::error_value;
using protocol::ErrorCode;

namespace {

// A cap on partitions per request: Kafka has none, but one hostile CreateTopics must not
// make a node open a million logs.
constexpr int32_t kMaxPartitionsPerTopic = 10000;

}  // namespace

protocol::MetadataResponse::MetadataResponseTopic metadata_topic_error(
    std::optional<std::string> name, protocol::Uuid id, ErrorCode code) {
  protocol::MetadataResponse::MetadataResponseTopic entry;
  entry.error_code = error_value(code);
  entry.name = std::move(name);
  entry.topic_id = id;
  return entry;
}

protocol::ResponseBody Broker::api_versions(const protocol::RequestHeader& header,
                                            const protocol::ApiVersionsRequest& request) {
  protocol::ApiVersionsResponse response;
  for (const protocol::ApiInfo& api : protocol::supported_apis()) {
    if (!serves(static_cast<int16_t>(api.key))) continue;
    protocol::ApiVersionsResponse::ApiVersion entry;
    entry.api_key = static_cast<int16_t>(api.key);
    entry.min_version = api.advertised_version_min;
    entry.max_version = api.version_max;
    response.api_keys.push_back(entry);
  }
  return response;
}

protocol::ResponseBody Broker::metadata(const protocol::RequestHeader& header,
                                        const protocol::MetadataRequest& request) {
  protocol::MetadataResponse response;
  const runtime::Address bound = bound_address();
  protocol::MetadataResponse::MetadataResponseBroker self;
  self.node_id = settings_.config.node_id;
  self.host = settings_.advertised_host;
  self.port = settings_.advertised_port != 0 ? settings_.advertised_port : bound.port;
  self.rack = settings_.config.broker_rack;
  response.brokers.push_back(self);
  response.cluster_id = cluster_id_;
  response.controller_id = settings_.config.node_id;

  auto describe = [&](const Topic& topic) {
    protocol::MetadataResponse::MetadataResponseTopic entry;
    entry.name = topic.name;
    entry.topic_id = topic.id;
    entry.is_internal = topic.internal();
    for (const auto& partition : topic.partitions) {
      protocol::MetadataResponse::MetadataResponsePartition p;
      p.partition_index = partition->index();
      p.leader_id = settings_.config.node_id;
      p.leader_epoch = partition->leader_epoch().value();
      p.replica_nodes = {settings_.config.node_id};
      p.isr_nodes = {settings_.config.node_id};
      entry.partitions.push_back(std::move(p));
    }
    return entry;
  };
  const auto failed = metadata_topic_error;

  // v0: an empty list means every topic; v1+: null means every topic.
  const bool all =
      !request.topics.has_value() || (header.api_version == 0 && request.topics->empty());
  if (all) {
    for (const auto& [name, topic] : topics_.all()) response.topics.push_back(describe(*topic));
    return response;
  }
  const bool may_create =
      settings_.config.auto_create_topics_enable && request.allow_auto_topic_creation;
  for (const auto& wanted : *request.topics) {
    if (!wanted.name) {
      const Topic* topic = topics_.find(wanted.topic_id);
      response.topics.push_back(
          topic ? describe(*topic)
                : failed(std::nullopt, wanted.topic_id, ErrorCode::unknown_topic_id));
      continue;
    }
    const std::string& name = *wanted.name;
    if (const Topic* topic = topics_.find(name)) {
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
    auto created = auto_create(name);
    // Another connection may have created it while this one waited its turn.
    const Topic* topic = created ? *created : topics_.find(name);
    response.topics.push_back(topic ? describe(*topic) : failed(name, {}, created.error().code));
  }
  return response;
}

Result<Topic*, ApiError> Broker::auto_create(const std::string& name) {
  if (settings_.config.default_replication_factor > 1) {
    return unexpected(ApiError{ErrorCode::invalid_replication_factor,
                               "default.replication.factor exceeds the brokers available"});
  }
  return topics_.create(name, settings_.config.num_partitions, config::TopicConfig{});
}

protocol::ResponseBody Broker::describe_cluster(const protocol::DescribeClusterRequest& request) {
  protocol::DescribeClusterResponse response;
  response.endpoint_type = request.endpoint_type;
  if (request.endpoint_type != 1) {
    // Only broker endpoints are served here (KIP-919's controller endpoints come with
    // the quorum).
    response.error_code = error_value(ErrorCode::unsupported_endpoint_type);
    response.error_message = "weir serves DescribeCluster for broker endpoints only";
    return response;
  }
  response.cluster_id = cluster_id_;
  response.controller_id = settings_.config.node_id;
  protocol::DescribeClusterResponse::DescribeClusterBroker self;
  self.broker_id = settings_.config.node_id;
  self.host = settings_.advertised_host;
  self.port = settings_.advertised_port != 0 ? settings_.advertised_port : bound_address().port;
  self.rack = settings_.config.broker_rack;
  response.brokers.push_back(self);
  return response;
}

protocol::ResponseBody Broker::create_topics(const protocol::RequestHeader& header,
                                             const protocol::CreateTopicsRequest& request) {
  protocol::CreateTopicsResponse response;
  std::multiset<std::string> names;
  for (const auto& topic : request.topics) names.insert(topic.name);
  for (const auto& wanted : request.topics) {
    protocol::CreateTopicsResponse::CreatableTopicResult result;
    result.name = wanted.name;
    auto fail = [&](ErrorCode code, std::string message) {
      result.error_code = error_value(code);
      result.error_message = std::move(message);
      response.topics.push_back(result);
    };
    if (names.count(wanted.name) > 1) {
      fail(ErrorCode::invalid_request,
           fmt::format("Create topics request from client contains a duplicate topic: {}",
                       wanted.name));
      continue;
    }
    if (auto reason = invalid_topic_name_reason(wanted.name)) {
      fail(ErrorCode::invalid_topic_exception, *reason);
      continue;
    }
    if (topics_.find(wanted.name) != nullptr) {
      fail(ErrorCode::topic_already_exists, fmt::format("Topic '{}' already exists.", wanted.name));
      continue;
    }
    int32_t partitions = wanted.num_partitions;
    int32_t replication = wanted.replication_factor;
    if (!wanted.assignments.empty()) {
      if (partitions != -1 || replication != -1) {
        fail(ErrorCode::invalid_request,
             "Both numPartitions or replicationFactor and replicasAssignments were set. "
             "Both cannot be used at the same time.");
        continue;
      }
      bool bad = false;
      for (size_t i = 0; i < wanted.assignments.size(); i++) {
        const auto& assignment = wanted.assignments[i];
        if (assignment.partition_index != static_cast<int32_t>(i) ||
            assignment.broker_ids != std::vector<int32_t>{settings_.config.node_id}) {
          bad = true;
        }
      }
      if (bad) {
        fail(ErrorCode::invalid_replica_assignment,
             fmt::format("Replica assignments must name partitions 0..n-1 in order, each "
                         "on broker {} (the only broker)",
                         settings_.config.node_id));
        continue;
      }
      partitions = static_cast<int32_t>(wanted.assignments.size());
      replication = 1;
    }
    if (partitions == -1) partitions = settings_.config.num_partitions;
    if (replication == -1) replication = settings_.config.default_replication_factor;
    if (partitions <= 0) {
      fail(ErrorCode::invalid_partitions,
           "Number of partitions was set to an invalid non-positive value.");
      continue;
    }
    if (partitions > kMaxPartitionsPerTopic) {
      fail(ErrorCode::invalid_partitions,
           fmt::format("Number of partitions {} is above weir's limit of {} per topic.", partitions,
                       kMaxPartitionsPerTopic));
      continue;
    }
    if (replication <= 0) {
      fail(ErrorCode::invalid_replication_factor,
           "Replication factor must be larger than 0, or -1 to use the default value.");
      continue;
    }
    if (replication > 1) {
      fail(ErrorCode::invalid_replication_factor,
           fmt::format("Unable to replicate the partition {} time(s): The target replication "
                       "factor of {} cannot be reached because only 1 broker(s) are "
                       "registered.",
                       replication, replication));
      continue;
    }
    std::vector<config::ConfigEntry> entries;
    for (const auto& entry : wanted.configs) entries.push_back({entry.name, entry.value});
    auto config = config::TopicConfig::from_entries(entries);
    if (!config) {
      fail(ErrorCode::invalid_config, config.error().message);
      continue;
    }
    result.num_partitions = partitions;
    result.replication_factor = static_cast<int16_t>(replication);
    if (header.api_version >= 5) {
      auto& described = result.configs.emplace();
      for (const config::DescribedConfig& entry : config->describe(settings_.config)) {
        auto& out = described.emplace_back();
        out.name = entry.name;
        out.value = entry.value;
        out.read_only = entry.read_only;
        out.config_source = static_cast<int8_t>(entry.source);
        out.is_sensitive = entry.sensitive;
      }
    }
    if (request.validate_only) {
      response.topics.push_back(result);
      continue;
    }
    auto created = topics_.create(wanted.name, partitions, std::move(*config));
    if (!created) {
      fail(created.error().code, created.error().message);
      continue;
    }
    result.topic_id = (*created)->id;
    response.topics.push_back(result);
  }
  return response;
}

protocol::ResponseBody Broker::delete_topics(const protocol::RequestHeader& header,
                                             const protocol::DeleteTopicsRequest& request) {
  protocol::DeleteTopicsResponse response;
  auto remove = [&](std::optional<std::string> name, protocol::Uuid id) {
    protocol::DeleteTopicsResponse::DeletableTopicResult result;
    result.name = name;
    result.topic_id = id;
    Topic* topic = name ? topics_.find(*name) : topics_.find(id);
    if (!settings_.config.delete_topic_enable) {
      result.error_code = error_value(ErrorCode::topic_deletion_disabled);
      result.error_message = "Topic deletion is disabled (delete.topic.enable=false).";
    } else if (topic == nullptr) {
      result.error_code =
          error_value(name ? ErrorCode::unknown_topic_or_partition : ErrorCode::unknown_topic_id);
    } else {
      result.name = topic->name;
      result.topic_id = topic->id;
      auto removed = topics_.remove(topic->name);
      if (!removed) {
        result.error_code = error_value(removed.error().code);
        result.error_message = removed.error().message;
      }
    }
    response.responses.push_back(std::move(result));
  };
  if (header.api_version >= 6) {
    for (const auto& topic : request.topics) remove(topic.name, topic.topic_id);
  } else {
    for (const auto& name : request.topic_names) remove(name, {});
  }
  return response;
}

protocol::ResponseBody Broker::create_partitions(const protocol::CreatePartitionsRequest& request) {
  protocol::CreatePartitionsResponse response;
  for (const auto& wanted : request.topics) {
    protocol::CreatePartitionsResponse::CreatePartitionsTopicResult result;
    result.name = wanted.name;
    auto fail = [&](ErrorCode code, std::string message) {
      result.error_code = error_value(code);
      result.error_message = std::move(message);
    };
    const Topic* topic = topics_.find(wanted.name);
    if (topic == nullptr) {
      fail(ErrorCode::unknown_topic_or_partition,
           fmt::format("The topic '{}' does not exist.", wanted.name));
    } else if (wanted.count <= static_cast<int32_t>(topic->partitions.size())) {
      fail(ErrorCode::invalid_partitions,
           fmt::format("Topic currently has {} partitions, which is higher than the requested "
                       "{}.",
                       topic->partitions.size(), wanted.count));
    } else if (wanted.count > kMaxPartitionsPerTopic) {
      fail(ErrorCode::invalid_partitions,
           fmt::format("Number of partitions {} is above weir's limit of {} per topic.",
                       wanted.count, kMaxPartitionsPerTopic));
    } else if (wanted.assignments &&
               (wanted.assignments->size() !=
                    static_cast<size_t>(wanted.count) - topic->partitions.size() ||
                std::any_of(wanted.assignments->begin(), wanted.assignments->end(),
                            [&](const auto& a) {
                              return a.broker_ids != std::vector<int32_t>{settings_.config.node_id};
                            }))) {
      fail(ErrorCode::invalid_replica_assignment,
           fmt::format("Each new partition must be assigned to broker {} alone.",
                       settings_.config.node_id));
    } else if (!request.validate_only) {
      if (auto added = topics_.add_partitions(wanted.name, wanted.count); !added) {
        fail(added.error().code, added.error().message);
      }
    }
    response.results.push_back(std::move(result));
  }
  return response;
}

protocol::ResponseBody Broker::delete_records(const protocol::DeleteRecordsRequest& request) {
  protocol::DeleteRecordsResponse response;
  for (const auto& wanted : request.topics) {
    protocol::DeleteRecordsResponse::DeleteRecordsTopicResult topic_result;
    topic_result.name = wanted.name;
    for (const auto& p : wanted.partitions) {
      protocol::DeleteRecordsResponse::DeleteRecordsPartitionResult result;
      result.partition_index = p.partition_index;
      result.low_watermark = -1;
      auto partition = topics_.partition(wanted.name, p.partition_index);
      if (!partition) {
        result.error_code = error_value(ErrorCode::unknown_topic_or_partition);
      } else if (partition->recovering) {
        result.error_code = error_value(ErrorCode::kafka_storage_error);
      } else {
        // -1 means "up to the high watermark" (Kafka's DeleteRecordsRequest.HIGH_WATERMARK).
        const Offset target = p.offset == -1 ? partition->high_watermark() : Offset{p.offset};
        auto log = partition->log_handle();
        if (target < Offset{0} || target > partition->high_watermark()) {
          result.error_code = error_value(ErrorCode::offset_out_of_range);
        } else if (auto deleted = log->delete_records(target); !deleted) {
          result.error_code = error_value(storage_error(*partition, deleted.error()));
        } else {
          result.low_watermark = log->log_start_offset().value();
        }
      }
      topic_result.partitions.push_back(result);
    }
    response.topics.push_back(std::move(topic_result));
  }
  return response;
}

protocol::ResponseBody Broker::find_coordinator(const protocol::RequestHeader& header,
                                                const protocol::FindCoordinatorRequest& request) {
  // Group and transaction coordinators come with their issues. Until then the answer
  // is COORDINATOR_NOT_AVAILABLE, which clients retry; serving the api at all matters
  // now: librdkafka enables lz4 only for a broker that lists FindCoordinator.
  protocol::FindCoordinatorResponse response;
  const auto code = error_value(ErrorCode::coordinator_not_available);
  const std::string message = "weir serves no group or transaction coordinator yet";
  response.node_id = -1;
  if (header.api_version < 4) {
    response.error_code = code;
    if (header.api_version >= 1) response.error_message = message;
    return response;
  }
  for (const std::string& key : request.coordinator_keys) {
    auto& coordinator = response.coordinators.emplace_back();
    coordinator.key = key;
    coordinator.node_id = -1;
    coordinator.error_code = code;
    coordinator.error_message = message;
  }
  return response;
}

protocol::ResponseBody Broker::init_producer_id(const protocol::InitProducerIdRequest& request) {
  protocol::InitProducerIdResponse response;
  if (request.transactional_id) {
    // Transactions come with the transaction coordinator (a later issue); weir does not
    // advertise FindCoordinator yet, so a transactional client stops before this.
    response.error_code = error_value(ErrorCode::invalid_request);
    return response;
  }
  // An idempotent producer gets a fresh id at epoch 0 every time, also when it asks to
  // bump the epoch of the id it has (KIP-360): as in Kafka, only transactional ids keep
  // their producer id across epochs.
  if (cluster_ != nullptr) {
    // In a cluster ids come from the controller's blocks: another broker's producer may
    // write to the same partitions, so a node's own counter would not do.
    auto id = cluster_producer_id();
    if (!id) {
      response.error_code = error_value(ErrorCode::coordinator_not_available);
      return response;
    }
    response.producer_id = *id;
    response.producer_epoch = 0;
    return response;
  }
  auto allocated = producer_ids_->init_producer_id();
  if (!allocated) {
    // The block reservation could not be made durable: a retriable answer.
    response.error_code = error_value(ErrorCode::coordinator_not_available);
    return response;
  }
  response.producer_id = allocated->producer_id.value();
  response.producer_epoch = allocated->producer_epoch.value();
  return response;
}

}  // namespace weir::broker
