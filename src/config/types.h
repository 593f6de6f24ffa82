// Vocabulary shared by broker and topic configs: Kafka's config types and sources
// (DescribeConfigs codes), the error a bad key or value gives, and a described entry.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace weir::config {

// DescribeConfigs v3+ ConfigType codes (Kafka's ConfigDef.Type).
enum class ConfigType : int8_t {
  unknown = 0,
  boolean = 1,
  string = 2,
  int32 = 3,       // INT
  int16 = 4,       // SHORT
  int64 = 5,       // LONG
  float64 = 6,     // DOUBLE
  list = 7,        // comma-separated
  class_name = 8,  // CLASS
  password = 9,
};
std::string_view config_type_name(ConfigType type);

// DescribeConfigs ConfigSource codes. weir serves no dynamic broker configs, so a
// broker key is STATIC_BROKER_CONFIG (set in server.properties or --override) or
// DEFAULT_CONFIG.
enum class ConfigSource : int8_t {
  unknown = 0,
  topic_config = 1,
  dynamic_broker_config = 2,
  dynamic_default_broker_config = 3,
  static_broker_config = 4,
  default_config = 5,
};
std::string_view config_source_name(ConfigSource source);

// A refused key or value. `message` is complete on its own and names the key and the
// value ("log.segment.bytes: 'abc' is not an integer"); the broker returns it as the
// error message of INVALID_CONFIG (40).
struct ConfigError {
  std::string key;
  std::string message;
};

struct ConfigSynonym {
  std::string name;
  std::optional<std::string> value;
  ConfigSource source = ConfigSource::unknown;
  bool operator==(const ConfigSynonym&) const = default;
};

// One entry of a DescribeConfigs v4 answer.
struct DescribedConfig {
  std::string name;
  std::optional<std::string> value;  // null: no value (Kafka's null default)
  ConfigSource source = ConfigSource::unknown;
  bool read_only = false;
  bool sensitive = false;
  ConfigType type = ConfigType::unknown;
  std::string documentation;
  // Where the value comes from, highest precedence first (DescribeConfigs'
  // include_synonyms).
  std::vector<ConfigSynonym> synonyms;
};

}  // namespace weir::config
