#include "config/topic_config.h"

#include <algorithm>
#include <limits>

#include <fmt/format.h>

#include "config/properties.h"
#include "config/value.h"

namespace weir::config {

namespace {

constexpr int64_t int32_max = std::numeric_limits<int32_t>::max();
constexpr int64_t int64_min = std::numeric_limits<int64_t>::min();
constexpr int64_t int64_max = std::numeric_limits<int64_t>::max();

enum class Special : uint8_t {
  none,
  gzip_level,          // -1 or 1..9
  throttled_replicas,  // "*" or partition:broker,...
  false_only,          // weir has no tiered storage
};

struct TopicKeySpec {
  std::string_view name;
  ConfigType type;
  std::string_view documentation;
  // Kafka's broker synonyms, highest precedence first (ServerTopicConfigSynonyms).
  std::vector<std::string_view> broker_synonyms;
  // The value when the topic does not override it, from the broker's effective config.
  std::string (*broker_default)(const BrokerConfig&);
  int64_t min = int64_min;  // for INT and LONG; DOUBLE uses [0, 1]
  int64_t max = int64_max;
  std::vector<std::string_view> allowed = {};  // STRING enums and LIST elements
  Special special = Special::none;
};

std::string text(int64_t value) { return std::to_string(value); }
std::string text(int32_t value) { return std::to_string(value); }
std::string text(bool value) { return value ? "true" : "false"; }

const std::vector<TopicKeySpec>& specs() {
  using B = const BrokerConfig&;
  // Sorted by name, as Kafka lists them.
  static const std::vector<TopicKeySpec> table = {
      {"cleanup.policy", ConfigType::list, "delete, compact or both: what happens to old data.",
       {"log.cleanup.policy"}, [](B b) { return join_list(b.log_cleanup_policy); },
       0, 0, {"delete", "compact"}},
      {"compression.gzip.level", ConfigType::int32, "gzip level when the broker recompresses.",
       {"compression.gzip.level"}, [](B b) { return text(b.compression_gzip_level); },
       -1, 9, {}, Special::gzip_level},
      {"compression.lz4.level", ConfigType::int32, "lz4 level when the broker recompresses.",
       {"compression.lz4.level"}, [](B b) { return text(b.compression_lz4_level); }, 1, 17},
      {"compression.type", ConfigType::string,
       "Codec of stored batches; producer keeps the producer's.", {"compression.type"},
       [](B b) { return b.compression_type; }, 0, 0,
       {"uncompressed", "zstd", "lz4", "snappy", "gzip", "producer"}},
      {"compression.zstd.level", ConfigType::int32, "zstd level when the broker recompresses.",
       {"compression.zstd.level"}, [](B b) { return text(b.compression_zstd_level); },
       -131072, 22},
      {"delete.retention.ms", ConfigType::int64, "How long tombstones survive compaction.",
       {"log.cleaner.delete.retention.ms"},
       [](B b) { return text(b.log_cleaner_delete_retention_ms); }, 0},
      {"file.delete.delay.ms", ConfigType::int64, "Delay before a deleted segment's files go.",
       {"log.segment.delete.delay.ms"}, [](B b) { return text(b.log_segment_delete_delay_ms); },
       0},
      {"flush.messages", ConfigType::int64,
       "1 (weir's default): fsync before acknowledging; more: no fsync on the produce path.",
       {"log.flush.interval.messages"}, [](B b) { return text(b.log_flush_interval_messages); },
       1},
      {"flush.ms", ConfigType::int64, "Longest time unflushed data stays in memory.",
       {"log.flush.interval.ms", "log.flush.scheduler.interval.ms"},
       [](B b) { return text(b.log_flush_interval_ms); }, 0},
      {"follower.replication.throttled.replicas", ConfigType::list,
       "Replicas throttled on the follower side: partition:broker,... or *.", {},
       [](B) { return std::string(); }, 0, 0, {}, Special::throttled_replicas},
      {"index.interval.bytes", ConfigType::int32, "Bytes of log between offset-index entries.",
       {"log.index.interval.bytes"}, [](B b) { return text(b.log_index_interval_bytes); }, 0,
       int32_max},
      {"leader.replication.throttled.replicas", ConfigType::list,
       "Replicas throttled on the leader side: partition:broker,... or *.", {},
       [](B) { return std::string(); }, 0, 0, {}, Special::throttled_replicas},
      {"local.retention.bytes", ConfigType::int64,
       "Tiered storage's local retention (-2: retention.bytes).", {"log.local.retention.bytes"},
       [](B b) { return text(b.log_local_retention_bytes); }, -2},
      {"local.retention.ms", ConfigType::int64,
       "Tiered storage's local retention (-2: retention.ms).", {"log.local.retention.ms"},
       [](B b) { return text(b.log_local_retention_ms); }, -2},
      {"max.compaction.lag.ms", ConfigType::int64, "Maximum age of an uncompacted record.",
       {"log.cleaner.max.compaction.lag.ms"},
       [](B b) { return text(b.log_cleaner_max_compaction_lag_ms); }, 1},
      {"max.message.bytes", ConfigType::int32, "The largest record batch accepted.",
       {"message.max.bytes"}, [](B b) { return text(b.message_max_bytes); }, 0, int32_max},
      {"message.timestamp.after.max.ms", ConfigType::int64,
       "How far in the future a CreateTime timestamp may be.",
       {"log.message.timestamp.after.max.ms"},
       [](B b) { return text(b.log_message_timestamp_after_max_ms); }, 0},
      {"message.timestamp.before.max.ms", ConfigType::int64,
       "How far in the past a CreateTime timestamp may be.",
       {"log.message.timestamp.before.max.ms"},
       [](B b) { return text(b.log_message_timestamp_before_max_ms); }, 0},
      {"message.timestamp.type", ConfigType::string,
       "Whose timestamp a stored batch keeps: CreateTime or LogAppendTime.",
       {"log.message.timestamp.type"}, [](B b) { return b.log_message_timestamp_type; }, 0, 0,
       {"CreateTime", "LogAppendTime"}},
      {"min.cleanable.dirty.ratio", ConfigType::float64,
       "Dirty ratio above which the log is compacted.", {"log.cleaner.min.cleanable.ratio"},
       [](B b) { return format_double(b.log_cleaner_min_cleanable_ratio); }},
      {"min.compaction.lag.ms", ConfigType::int64, "Minimum age of a record before compaction.",
       {"log.cleaner.min.compaction.lag.ms"},
       [](B b) { return text(b.log_cleaner_min_compaction_lag_ms); }, 0},
      {"min.insync.replicas", ConfigType::int32, "In-sync replicas an acks=all produce needs.",
       {"min.insync.replicas"}, [](B b) { return text(b.min_insync_replicas); }, 1, int32_max},
      {"preallocate", ConfigType::boolean, "Preallocate segment files.", {"log.preallocate"},
       [](B b) { return text(b.log_preallocate); }},
      {"remote.log.copy.disable", ConfigType::boolean,
       "Tiered storage: stop copying segments (weir: no tiering).", {},
       [](B) { return text(false); }},
      {"remote.log.delete.on.disable", ConfigType::boolean,
       "Tiered storage: delete remote data on disable (weir: no tiering).", {},
       [](B) { return text(false); }},
      {"remote.storage.enable", ConfigType::boolean,
       "Tiered storage; weir has none, so only false is accepted.", {},
       [](B) { return text(false); }, 0, 0, {}, Special::false_only},
      {"retention.bytes", ConfigType::int64,
       "Size past which old segments are deleted (-1: no limit).", {"log.retention.bytes"},
       [](B b) { return text(b.log_retention_bytes); }},
      {"retention.ms", ConfigType::int64, "Age at which a segment is deleted (-1: never).",
       {"log.retention.ms", "log.retention.minutes", "log.retention.hours"},
       [](B b) { return text(b.log_retention_ms); }, -1},
      {"segment.bytes", ConfigType::int32, "Size at which a segment rolls.",
       {"log.segment.bytes"}, [](B b) { return text(b.log_segment_bytes); }, 1024 * 1024,
       int32_max},
      {"segment.index.bytes", ConfigType::int32, "Largest offset index of one segment.",
       {"log.index.size.max.bytes"}, [](B b) { return text(b.log_index_size_max_bytes); }, 4,
       int32_max},
      {"segment.jitter.ms", ConfigType::int64, "Random jitter subtracted from segment.ms.",
       {"log.roll.jitter.ms", "log.roll.jitter.hours"},
       [](B b) { return text(b.log_roll_jitter_ms); }, 0},
      {"segment.ms", ConfigType::int64, "Age at which a segment rolls.",
       {"log.roll.ms", "log.roll.hours"}, [](B b) { return text(b.log_roll_ms); }, 1},
      {"unclean.leader.election.enable", ConfigType::boolean,
       "Elect an out-of-sync replica as a last resort, losing data.",
       {"unclean.leader.election.enable"},
       [](B b) { return text(b.unclean_leader_election_enable); }},
  };
  return table;
}

const TopicKeySpec* find_spec(std::string_view key) {
  const auto& table = specs();
  const auto found = std::lower_bound(
      table.begin(), table.end(), key,
      [](const TopicKeySpec& spec, std::string_view name) { return spec.name < name; });
  if (found == table.end() || found->name != key) return nullptr;
  return &*found;
}

ConfigError unknown_key(std::string_view key) {
  return ConfigError{std::string(key), fmt::format("unknown topic config key '{}'", key)};
}

Result<void, ConfigError> validate_list(const TopicKeySpec& spec, std::string_view value) {
  const std::vector<std::string> items = split_list(value);
  if (spec.special == Special::throttled_replicas) {
    if (items.size() == 1 && items.front() == "*") return {};
    for (const std::string& item : items) {
      const size_t colon = item.find(':');
      const bool ok = colon != std::string::npos &&
                      parse_int("", std::string_view(item).substr(0, colon), 0, int32_max).ok() &&
                      parse_int("", std::string_view(item).substr(colon + 1), 0, int32_max).ok();
      if (!ok) {
        return unexpected(value_error(spec.name, value,
                                      "must be * or a list of partition:broker (e.g. 0:1,1:2)"));
      }
    }
    return {};
  }
  if (items.empty()) {
    return unexpected(value_error(spec.name, value,
                                  fmt::format("is empty; give {}", fmt::join(spec.allowed, ", "))));
  }
  for (size_t k = 0; k < items.size(); k++) {
    if (std::find(spec.allowed.begin(), spec.allowed.end(), items[k]) == spec.allowed.end()) {
      return unexpected(value_error(
          spec.name, value,
          fmt::format("has '{}'; allowed: {}", items[k], fmt::join(spec.allowed, ", "))));
    }
    for (size_t j = 0; j < k; j++) {
      if (items[j] == items[k]) {
        return unexpected(value_error(spec.name, value, fmt::format("lists '{}' twice", items[k])));
      }
    }
  }
  return {};
}

Result<void, ConfigError> validate(const TopicKeySpec& spec, std::string_view value) {
  switch (spec.type) {
    case ConfigType::boolean: {
      auto parsed = parse_bool(spec.name, value);
      if (!parsed.ok()) return unexpected(parsed.error());
      if (spec.special == Special::false_only && parsed.value()) {
        return unexpected(value_error(spec.name, value,
                                      "is not supported: weir has no tiered storage"));
      }
      return {};
    }
    case ConfigType::int32:
    case ConfigType::int64: {
      auto parsed = parse_int(spec.name, value, spec.min, spec.max);
      if (!parsed.ok()) return unexpected(parsed.error());
      if (spec.special == Special::gzip_level && parsed.value() == 0) {
        return unexpected(value_error(spec.name, value, "must be -1 or between 1 and 9"));
      }
      return {};
    }
    case ConfigType::float64: {
      auto parsed = parse_double(spec.name, value, 0, 1);
      if (!parsed.ok()) return unexpected(parsed.error());
      return {};
    }
    case ConfigType::string: {
      auto parsed = parse_one_of(spec.name, value, spec.allowed);
      if (!parsed.ok()) return unexpected(parsed.error());
      return {};
    }
    case ConfigType::list: return validate_list(spec, value);
    default: UNREACHABLE("topic key {} has type {}", spec.name, config_type_name(spec.type));
  }
}

int64_t effective_int(const TopicConfig& config, std::string_view key, const BrokerConfig& broker) {
  const std::string value = config.value(key, broker);
  auto parsed = parse_int(key, value, int64_min, int64_max);
  VERIFY(parsed.ok(), "{} holds '{}', which validation should have refused", key, value);
  return parsed.value();
}

}  // namespace

Result<TopicConfig, ConfigError> TopicConfig::make(
    const absl::btree_map<std::string, std::string>& overrides) {
  TopicConfig config;
  for (const auto& [key, value] : overrides) {
    const TopicKeySpec* spec = find_spec(key);
    if (spec == nullptr) return unexpected(unknown_key(key));
    if (auto valid = validate(*spec, value); !valid.ok()) return unexpected(valid.error());
    config.overrides_[key] = std::string(trim(value));
  }
  // Kafka's LogConfig#validateValues: the compaction lags must not cross.
  const auto min_lag = config.overrides_.find("min.compaction.lag.ms");
  const auto max_lag = config.overrides_.find("max.compaction.lag.ms");
  if (min_lag != config.overrides_.end() && max_lag != config.overrides_.end()) {
    const int64_t min_value = parse_int(min_lag->first, min_lag->second, 0, int64_max).value();
    const int64_t max_value = parse_int(max_lag->first, max_lag->second, 1, int64_max).value();
    if (min_value > max_value) {
      return unexpected(ConfigError{
          "min.compaction.lag.ms",
          fmt::format("min.compaction.lag.ms: '{}' is greater than max.compaction.lag.ms '{}'",
                      min_lag->second, max_lag->second)});
    }
  }
  VERIFY(config.overrides_.size() == overrides.size(), "every override kept");
  return config;
}

Result<TopicConfig, ConfigError> TopicConfig::from_entries(std::span<const ConfigEntry> entries) {
  absl::btree_map<std::string, std::string> overrides;
  for (const ConfigEntry& entry : entries) {
    if (!entry.value) {
      return unexpected(ConfigError{
          entry.key, fmt::format("{}: a null value is not supported for topic configs", entry.key)});
    }
    if (!overrides.emplace(entry.key, *entry.value).second) {
      return unexpected(ConfigError{
          entry.key, fmt::format("{}: given more than once in one request", entry.key)});
    }
  }
  return make(overrides);
}

std::string TopicConfig::serialize() const {
  Properties properties;
  for (const auto& [key, value] : overrides_) properties.add(key, value);
  return properties.format();
}

Result<TopicConfig, ConfigError> TopicConfig::parse(std::string_view serialized) {
  auto properties = Properties::parse(serialized);
  if (!properties.ok()) {
    return unexpected(ConfigError{
        "", fmt::format("stored topic config, {}", properties.error().to_string())});
  }
  return make(properties->values());
}

std::string TopicConfig::value(std::string_view key, const BrokerConfig& broker) const {
  const TopicKeySpec* spec = find_spec(key);
  VERIFY(spec != nullptr, "'{}' is not a topic config key", key);
  if (const auto found = overrides_.find(std::string(key)); found != overrides_.end()) {
    return found->second;
  }
  return spec->broker_default(broker);
}

storage::LogConfig TopicConfig::log_config(const BrokerConfig& broker) const {
  storage::LogConfig log;
  log.segment_bytes = effective_int(*this, "segment.bytes", broker);
  log.segment_ms = effective_int(*this, "segment.ms", broker);
  log.segment_index_bytes = effective_int(*this, "segment.index.bytes", broker);
  log.index_interval_bytes = effective_int(*this, "index.interval.bytes", broker);
  log.retention_ms = effective_int(*this, "retention.ms", broker);
  log.retention_bytes = effective_int(*this, "retention.bytes", broker);
  log.max_message_bytes = effective_int(*this, "max.message.bytes", broker);
  log.message_timestamp_type = value("message.timestamp.type", broker) == "LogAppendTime"
                                   ? record::TimestampType::log_append_time
                                   : record::TimestampType::create_time;
  VERIFY(log.segment_bytes >= 1024 * 1024, "segment.bytes below Kafka's minimum");
  VERIFY(log.retention_ms >= -1, "retention.ms below -1");
  return log;
}

FlushPolicy TopicConfig::flush_policy(const BrokerConfig& broker) const {
  FlushPolicy policy;
  policy.flush_interval_messages = effective_int(*this, "flush.messages", broker);
  policy.flush_interval_ms = effective_int(*this, "flush.ms", broker);
  VERIFY(policy.flush_interval_messages >= 1, "flush.messages below 1");
  policy.fsync_before_ack = policy.flush_interval_messages == 1;
  return policy;
}

int32_t TopicConfig::min_insync_replicas(const BrokerConfig& broker) const {
  return static_cast<int32_t>(effective_int(*this, "min.insync.replicas", broker));
}

bool TopicConfig::unclean_leader_election_enable(const BrokerConfig& broker) const {
  return parse_bool("unclean.leader.election.enable",
                    value("unclean.leader.election.enable", broker))
      .value();
}

std::string TopicConfig::compression_type(const BrokerConfig& broker) const {
  return value("compression.type", broker);
}

bool TopicConfig::compacted(const BrokerConfig& broker) const {
  const std::vector<std::string> policies = split_list(value("cleanup.policy", broker));
  return std::find(policies.begin(), policies.end(), "compact") != policies.end();
}

std::vector<DescribedConfig> TopicConfig::describe(const BrokerConfig& broker,
                                                   std::span<const std::string> keys) const {
  std::vector<DescribedConfig> described;
  for (const TopicKeySpec& spec : specs()) {
    if (!keys.empty() && std::find(keys.begin(), keys.end(), spec.name) == keys.end()) continue;
    DescribedConfig entry;
    entry.name = std::string(spec.name);
    entry.value = value(spec.name, broker);
    entry.type = spec.type;
    entry.documentation = std::string(spec.documentation);
    entry.read_only = false;
    entry.sensitive = false;
    entry.source = ConfigSource::default_config;
    if (const auto found = overrides_.find(std::string(spec.name)); found != overrides_.end()) {
      entry.source = ConfigSource::topic_config;
      entry.synonyms.push_back(
          ConfigSynonym{entry.name, found->second, ConfigSource::topic_config});
    }
    for (const std::string_view name : spec.broker_synonyms) {
      const auto set = broker.static_values().find(std::string(name));
      if (set != broker.static_values().end()) {
        if (entry.source == ConfigSource::default_config) {
          entry.source = ConfigSource::static_broker_config;
        }
        entry.synonyms.push_back(
            ConfigSynonym{std::string(name), set->second, ConfigSource::static_broker_config});
      }
      const BrokerConfig::KeySpec* broker_key = BrokerConfig::find_key(name);
      VERIFY(broker_key != nullptr, "{}'s synonym {} is not a broker key", spec.name, name);
      if (broker_key->default_value) {
        entry.synonyms.push_back(ConfigSynonym{std::string(name), broker_key->default_value,
                                               ConfigSource::default_config});
      }
    }
    described.push_back(std::move(entry));
  }
  return described;
}

Result<TopicConfig, ConfigError> TopicConfig::incremental_alter(
    std::span<const AlterOperation> operations, const BrokerConfig& broker) const {
  absl::btree_map<std::string, std::string> result = overrides_;
  for (const AlterOperation& operation : operations) {
    const TopicKeySpec* spec = find_spec(operation.key);
    if (spec == nullptr) return unexpected(unknown_key(operation.key));
    switch (operation.op) {
      case AlterOp::set:
        if (!operation.value) {
          return unexpected(ConfigError{
              operation.key, fmt::format("{}: SET needs a value, got null", operation.key)});
        }
        result[operation.key] = *operation.value;
        break;
      case AlterOp::remove: result.erase(operation.key); break;
      case AlterOp::append:
      case AlterOp::subtract: {
        const std::string_view name = operation.op == AlterOp::append ? "APPEND" : "SUBTRACT";
        if (spec->type != ConfigType::list) {
          return unexpected(ConfigError{
              operation.key,
              fmt::format("{}: {} applies only to LIST configs; {} is {}", operation.key, name,
                          operation.key, config_type_name(spec->type))});
        }
        if (!operation.value) {
          return unexpected(ConfigError{
              operation.key, fmt::format("{}: {} needs a value, got null", operation.key, name)});
        }
        const auto current = result.find(operation.key);
        std::vector<std::string> items = split_list(
            current != result.end() ? current->second : spec->broker_default(broker));
        for (const std::string& item : split_list(*operation.value)) {
          if (operation.op == AlterOp::append) {
            if (std::find(items.begin(), items.end(), item) == items.end()) items.push_back(item);
          } else {
            items.erase(std::remove(items.begin(), items.end(), item), items.end());
          }
        }
        result[operation.key] = join_list(items);
        break;
      }
      default:
        return unexpected(ConfigError{
            operation.key, fmt::format("{}: unknown alter operation {}", operation.key,
                                       static_cast<int>(operation.op))});
    }
  }
  return make(result);
}

bool TopicConfig::is_known_key(std::string_view key) { return find_spec(key) != nullptr; }

std::vector<std::string_view> TopicConfig::known_keys() {
  std::vector<std::string_view> keys;
  for (const TopicKeySpec& spec : specs()) keys.push_back(spec.name);
  return keys;
}

std::optional<ConfigType> TopicConfig::key_type(std::string_view key) {
  const TopicKeySpec* spec = find_spec(key);
  if (spec == nullptr) return std::nullopt;
  return spec->type;
}

}  // namespace weir::config
