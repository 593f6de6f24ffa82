// DescribeConfigs: a topic's configs as the metadata image holds them, and the broker's
// static config. The keys and their descriptions are src/config's; this file maps them
// to the wire. AlterConfigs and IncrementalAlterConfigs are the controller's
// (metadata/controller.h), forwarded there.
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
      const metadata::Image& image = link_.image();
      if (image.topic(resource.resource_name) == nullptr) {
        result.error_code = error_value(ErrorCode::unknown_topic_or_partition);
        result.error_message = fmt::format("Topic {} does not exist.", resource.resource_name);
        continue;
      }
      // The controller validated what it committed; a key this build does not know (a
      // newer controller) is described as the broker's defaults.
      auto config = config::TopicConfig::make(image.topic_config(resource.resource_name));
      described = (config ? *config : config::TopicConfig{}).describe(settings_.config, keys);
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

}  // namespace weir::broker
