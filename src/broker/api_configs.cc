// DescribeConfigs, AlterConfigs and IncrementalAlterConfigs for topics (and describing
// the broker's static config). The keys, their validation and their descriptions are
// src/config's; this file maps them to the wire.
#include <fmt/format.h>

#include "broker/broker.h"

namespace weir::broker {

using protocol::error_value;
using protocol::ErrorCode;

namespace {

// Kafka's ConfigResource.Type codes.
constexpr int8_t kTopicResource = 2;
constexpr int8_t kBrokerResource = 4;

}  // namespace

protocol::ResponseBody Broker::describe_configs(const protocol::RequestHeader& header,
                                                const protocol::DescribeConfigsRequest& request) {
  protocol::DescribeConfigsResponse response;
  for (const auto& resource : request.resources) {
    auto& result = response.results.emplace_back();
    result.resource_type = resource.resource_type;
    result.resource_name = resource.resource_name;
    std::vector<std::string> keys;
    if (resource.configuration_keys) keys = *resource.configuration_keys;
    std::vector<config::DescribedConfig> described;
    if (resource.resource_type == kTopicResource) {
      const Topic* topic = topics_.find(resource.resource_name);
      if (topic == nullptr) {
        result.error_code = error_value(ErrorCode::unknown_topic_or_partition);
        result.error_message = fmt::format("Topic {} does not exist.", resource.resource_name);
        continue;
      }
      described = topic->config.describe(settings_.config, keys);
    } else if (resource.resource_type == kBrokerResource) {
      if (!resource.resource_name.empty() &&
          resource.resource_name != std::to_string(settings_.config.node_id)) {
        result.error_code = error_value(ErrorCode::invalid_request);
        result.error_message = fmt::format(
            "Unexpected broker id, expected {} or empty string, "
            "but received {}",
            settings_.config.node_id, resource.resource_name);
        continue;
      }
      described = settings_.config.describe(keys);
    } else {
      result.error_code = error_value(ErrorCode::invalid_request);
      result.error_message = fmt::format(
          "weir describes TOPIC (2) and BROKER (4) resources, "
          "not type {}",
          resource.resource_type);
      continue;
    }
    for (const config::DescribedConfig& entry : described) {
      auto& out = result.configs.emplace_back();
      out.name = entry.name;
      out.value = entry.value;
      out.read_only = entry.read_only;
      out.config_source = static_cast<int8_t>(entry.source);
      out.is_sensitive = entry.sensitive;
      out.config_type = static_cast<int8_t>(entry.type);
      if (request.include_documentation) out.documentation = entry.documentation;
      if (request.include_synonyms) {
        for (const config::ConfigSynonym& synonym : entry.synonyms) {
          auto& s = out.synonyms.emplace_back();
          s.name = synonym.name;
          s.value = synonym.value;
          s.source = static_cast<int8_t>(synonym.source);
        }
      }
    }
  }
  (void)header;
  return response;
}

namespace {

// The parts of AlterConfigs and IncrementalAlterConfigs that are the same: resource
// checks, then `make` builds the topic's new config, which is stored unless only
// validating.
template <typename Resource, typename Make>
void alter_resource(Topics& topics, const config::BrokerConfig& broker_config,
                    const Resource& resource, bool validate_only, Make make,
                    protocol::AlterConfigsResponse::AlterConfigsResourceResponse& result) {
  result.resource_type = resource.resource_type;
  result.resource_name = resource.resource_name;
  auto fail = [&](ErrorCode code, std::string message) {
    result.error_code = error_value(code);
    result.error_message = std::move(message);
  };
  if (resource.resource_type == kBrokerResource) {
    fail(ErrorCode::invalid_config,
         "weir serves no dynamic broker configs: set them in server.properties");
    return;
  }
  if (resource.resource_type != kTopicResource) {
    fail(ErrorCode::invalid_request,
         fmt::format("weir alters TOPIC (2) resources, not type {}", resource.resource_type));
    return;
  }
  const Topic* topic = topics.find(resource.resource_name);
  if (topic == nullptr) {
    fail(ErrorCode::unknown_topic_or_partition,
         fmt::format("Topic {} does not exist.", resource.resource_name));
    return;
  }
  Result<config::TopicConfig, config::ConfigError> altered = make(*topic);
  if (!altered) {
    fail(ErrorCode::invalid_config, altered.error().message);
    return;
  }
  if (validate_only) return;
  if (auto stored = topics.set_config(resource.resource_name, std::move(*altered)); !stored) {
    fail(stored.error().code, stored.error().message);
  }
  (void)broker_config;
}

}  // namespace

protocol::ResponseBody Broker::alter_configs(const protocol::AlterConfigsRequest& request) {
  protocol::AlterConfigsResponse response;
  for (const auto& resource : request.resources) {
    auto& result = response.responses.emplace_back();
    alter_resource(
        topics_, settings_.config, resource, request.validate_only,
        [&](const Topic&) {
          // The legacy api replaces the whole set of overrides.
          std::vector<config::ConfigEntry> entries;
          for (const auto& c : resource.configs) entries.push_back({c.name, c.value});
          return config::TopicConfig::from_entries(entries);
        },
        result);
  }
  return response;
}

protocol::ResponseBody Broker::incremental_alter_configs(
    const protocol::IncrementalAlterConfigsRequest& request) {
  protocol::IncrementalAlterConfigsResponse response;
  for (const auto& resource : request.resources) {
    protocol::AlterConfigsResponse::AlterConfigsResourceResponse result;
    alter_resource(
        topics_, settings_.config, resource, request.validate_only,
        [&](const Topic& topic) -> Result<config::TopicConfig, config::ConfigError> {
          std::vector<config::AlterOperation> operations;
          for (const auto& c : resource.configs) {
            if (c.config_operation < 0 || c.config_operation > 3) {
              return unexpected(config::ConfigError{
                  c.name,
                  fmt::format("{}: unknown config operation {}", c.name, c.config_operation)});
            }
            operations.push_back(
                {c.name, static_cast<config::AlterOp>(c.config_operation), c.value});
          }
          return topic.config.incremental_alter(operations, settings_.config);
        },
        result);
    auto& out = response.responses.emplace_back();
    out.error_code = result.error_code;
    out.error_message = std::move(result.error_message);
    out.resource_type = result.resource_type;
    out.resource_name = std::move(result.resource_name);
  }
  return response;
}

}  // namespace weir::broker
