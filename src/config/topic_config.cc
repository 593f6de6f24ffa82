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
      {.name = "cleanup.policy",
       .type = ConfigType::list,
       .documentation = "delete, compact or both: what happens to old data.",
       .broker_synonyms = {"log.cleanup.policy"},
       .broker_default = [](B b) { return join_list(b.log_cleanup_policy); },
       .allowed = {"delete", "compact"}},
      {.name = "compression.gzip.level",
       .type = ConfigType::int32,
       .documentation = "gzip level when the broker recompresses.",
       .broker_synonyms = {"compression.gzip.level"},
       .broker_default = [](B b) { return text(b.compression_gzip_level); },
       .min = -1,
       .max = 9,
       .special = Special::gzip_level},
      {.name = "compression.lz4.level",
       .type = ConfigType::int32,
       .documentation = "lz4 level when the broker recompresses.",
       .broker_synonyms = {"compression.lz4.level"},
       .broker_default = [](B b) { return text(b.compression_lz4_level); },
       .min = 1,
       .max = 17},
      {.name = "compression.type",
       .type = ConfigType::string,
       .documentation = "Codec of stored batches; producer keeps the producer's.",
       .broker_synonyms = {"compression.type"},
       .broker_default = [](B b) { return b.compression_type; },
       .allowed = {"uncompressed", "zstd", "lz4", "snappy", "gzip", "producer"}},
      {.name = "compression.zstd.level",
       .type = ConfigType::int32,
       .documentation = "zstd level when the broker recompresses.",
       .broker_synonyms = {"compression.zstd.level"},
       .broker_default = [](B b) { return text(b.compression_zstd_level); },
       .min = -131072,
       .max = 22},
      {.name = "delete.retention.ms",
       .type = ConfigType::int64,
       .documentation = "How long tombstones survive compaction.",
       .broker_synonyms = {"log.cleaner.delete.retention.ms"},
       .broker_default = [](B b) { return text(b.log_cleaner_delete_retention_ms); },
       .min = 0},
      {.name = "file.delete.delay.ms",
       .type = ConfigType::int64,
       .documentation = "Delay before a deleted segment's files go.",
       .broker_synonyms = {"log.segment.delete.delay.ms"},
       .broker_default = [](B b) { return text(b.log_segment_delete_delay_ms); },
       .min = 0},
      {.name = "flush.messages",
       .type = ConfigType::int64,
       .documentation =
           "1 (weir's default): fsync before acknowledging; more: no fsync on the produce path.",
       .broker_synonyms = {"log.flush.interval.messages"},
       .broker_default = [](B b) { return text(b.log_flush_interval_messages); },
       .min = 1},
      {.name = "flush.ms",
       .type = ConfigType::int64,
       .documentation = "Longest time unflushed data stays in memory.",
       .broker_synonyms = {"log.flush.interval.ms", "log.flush.scheduler.interval.ms"},
       .broker_default = [](B b) { return text(b.log_flush_interval_ms); },
       .min = 0},
      {.name = "follower.replication.throttled.replicas",
       .type = ConfigType::list,
       .documentation = "Replicas throttled on the follower side: partition:broker,... or *.",
       .broker_synonyms = {},
       .broker_default = [](B) { return std::string(); },
       .special = Special::throttled_replicas},
      {.name = "index.interval.bytes",
       .type = ConfigType::int32,
       .documentation = "Bytes of log between offset-index entries.",
       .broker_synonyms = {"log.index.interval.bytes"},
       .broker_default = [](B b) { return text(b.log_index_interval_bytes); },
       .min = 0,
       .max = int32_max},
      {.name = "leader.replication.throttled.replicas",
       .type = ConfigType::list,
       .documentation = "Replicas throttled on the leader side: partition:broker,... or *.",
       .broker_synonyms = {},
       .broker_default = [](B) { return std::string(); },
       .special = Special::throttled_replicas},
      {.name = "local.retention.bytes",
       .type = ConfigType::int64,
       .documentation = "Tiered storage's local retention (-2: retention.bytes).",
       .broker_synonyms = {"log.local.retention.bytes"},
       .broker_default = [](B b) { return text(b.log_local_retention_bytes); },
       .min = -2},
      {.name = "local.retention.ms",
       .type = ConfigType::int64,
       .documentation = "Tiered storage's local retention (-2: retention.ms).",
       .broker_synonyms = {"log.local.retention.ms"},
       .broker_default = [](B b) { return text(b.log_local_retention_ms); },
       .min = -2},
      {.name = "max.compaction.lag.ms",
       .type = ConfigType::int64,
       .documentation = "Maximum age of an uncompacted record.",
       .broker_synonyms = {"log.cleaner.max.compaction.lag.ms"},
       .broker_default = [](B b) { return text(b.log_cleaner_max_compaction_lag_ms); },
       .min = 1},
      {.name = "max.message.bytes",
       .type = ConfigType::int32,
       .documentation = "The largest record batch accepted.",
       .broker_synonyms = {"message.max.bytes"},
       .broker_default = [](B b) { return text(b.message_max_bytes); },
       .min = 0,
       .max = int32_max},
      {.name = "message.timestamp.after.max.ms",
       .type = ConfigType::int64,
       .documentation = "How far in the future a CreateTime timestamp may be.",
       .broker_synonyms = {"log.message.timestamp.after.max.ms"},
       .broker_default = [](B b) { return text(b.log_message_timestamp_after_max_ms); },
       .min = 0},
      {.name = "message.timestamp.before.max.ms",
       .type = ConfigType::int64,
       .documentation = "How far in the past a CreateTime timestamp may be.",
       .broker_synonyms = {"log.message.timestamp.before.max.ms"},
       .broker_default = [](B b) { return text(b.log_message_timestamp_before_max_ms); },
       .min = 0},
      {.name = "message.timestamp.type",
       .type = ConfigType::string,
       .documentation = "Whose timestamp a stored batch keeps: CreateTime or LogAppendTime.",
       .broker_synonyms = {"log.message.timestamp.type"},
       .broker_default = [](B b) { return b.log_message_timestamp_type; },
       .allowed = {"CreateTime", "LogAppendTime"}},
      {.name = "min.cleanable.dirty.ratio",
       .type = ConfigType::float64,
       .documentation = "Dirty ratio above which the log is compacted.",
       .broker_synonyms = {"log.cleaner.min.cleanable.ratio"},
       .broker_default = [](B b) { return format_double(b.log_cleaner_min_cleanable_ratio); }},
      {.name = "min.compaction.lag.ms",
       .type = ConfigType::int64,
       .documentation = "Minimum age of a record before compaction.",
       .broker_synonyms = {"log.cleaner.min.compaction.lag.ms"},
       .broker_default = [](B b) { return text(b.log_cleaner_min_compaction_lag_ms); },
       .min = 0},
      {.name = "min.insync.replicas",
       .type = ConfigType::int32,
       .documentation = "In-sync replicas an acks=all produce needs.",
       .broker_synonyms = {"min.insync.replicas"},
       .broker_default = [](B b) { return text(b.min_insync_replicas); },
       .min = 1,
       .max = int32_max},
      {.name = "preallocate",
       .type = ConfigType::boolean,
       .documentation = "Preallocate segment files.",
       .broker_synonyms = {"log.preallocate"},
       .broker_default = [](B b) { return text(b.log_preallocate); }},
      {.name = "remote.log.copy.disable",
       .type = ConfigType::boolean,
       .documentation = "Tiered storage: stop copying segments (weir: no tiering).",
       .broker_synonyms = {},
       .broker_default = [](B) { return text(false); }},
      {.name = "remote.log.delete.on.disable",
       .type = ConfigType::boolean,
       .documentation = "Tiered storage: delete remote data on disable (weir: no tiering).",
       .broker_synonyms = {},
       .broker_default = [](B) { return text(false); }},
      {.name = "remote.storage.enable",
       .type = ConfigType::boolean,
       .documentation = "Tiered storage; weir has none, so only false is accepted.",
       .broker_synonyms = {},
       .broker_default = [](B) { return text(false); },
       .special = Special::false_only},
      {.name = "retention.bytes",
       .type = ConfigType::int64,
       .documentation = "Size past which old segments are deleted (-1: no limit).",
       .broker_synonyms = {"log.retention.bytes"},
       .broker_default = [](B b) { return text(b.log_retention_bytes); }},
      {.name = "retention.ms",
       .type = ConfigType::int64,
       .documentation = "Age at which a segment is deleted (-1: never).",
       .broker_synonyms = {"log.retention.ms", "log.retention.minutes", "log.retention.hours"},
       .broker_default = [](B b) { return text(b.log_retention_ms); },
       .min = -1},
      {.name = "segment.bytes",
       .type = ConfigType::int32,
       .documentation = "Size at which a segment rolls.",
       .broker_synonyms = {"log.segment.bytes"},
       .broker_default = [](B b) { return text(b.log_segment_bytes); },
       .min = 1024 * 1024,
       .max = int32_max},
      {.name = "segment.index.bytes",
       .type = ConfigType::int32,
       .documentation = "Largest offset index of one segment.",
       .broker_synonyms = {"log.index.size.max.bytes"},
       .broker_default = [](B b) { return text(b.log_index_size_max_bytes); },
       .min = 4,
       .max = int32_max},
      {.name = "segment.jitter.ms",
       .type = ConfigType::int64,
       .documentation = "Random jitter subtracted from segment.ms.",
       .broker_synonyms = {"log.roll.jitter.ms", "log.roll.jitter.hours"},
       .broker_default = [](B b) { return text(b.log_roll_jitter_ms); },
       .min = 0},
      {.name = "segment.ms",
       .type = ConfigType::int64,
       .documentation = "Age at which a segment rolls.",
       .broker_synonyms = {"log.roll.ms", "log.roll.hours"},
       .broker_default = [](B b) { return text(b.log_roll_ms); },
       .min = 1},
      {.name = "unclean.leader.election.enable",
       .type = ConfigType::boolean,
       .documentation = "Elect an out-of-sync replica as a last resort, losing data.",
       .broker_synonyms = {"unclean.leader.election.enable"},
       .broker_default = [](B b) { return text(b.unclean_leader_election_enable); }},
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
        return unexpected(
            value_error(spec.name, value, "is not supported: weir has no tiered storage"));
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
          entry.key,
          fmt::format("{}: a null value is not supported for topic configs", entry.key)});
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
    return unexpected(
        ConfigError{"", fmt::format("stored topic config, {}", properties.error().to_string())});
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
  // Time and size retention delete only under cleanup.policy=delete: a compact-only
  // topic (__consumer_offsets) keeps every segment, as in Kafka, where only the cleaner
  // removes its superseded records (weir does not compact yet: such a log grows).
  const std::vector<std::string> policies = split_list(value("cleanup.policy", broker));
  if (std::find(policies.begin(), policies.end(), "delete") == policies.end()) {
    log.retention_ms = -1;
    log.retention_bytes = -1;
  }
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
        std::vector<std::string> items =
            split_list(current != result.end() ? current->second : spec->broker_default(broker));
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
        return unexpected(
            ConfigError{operation.key, fmt::format("{}: unknown alter operation {}", operation.key,
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
