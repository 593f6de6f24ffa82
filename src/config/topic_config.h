// TopicConfig: one topic's config overrides, validated against Kafka 4.x's topic-level
// keys; every key a topic does not override takes its value from the broker's matching
// key (Kafka's synonyms: retention.ms <- log.retention.ms / .minutes / .hours, ...).
//
// Invariants: every override names a known topic key and holds a value that key's
// validator accepts (trimmed); overrides are sorted by key, so serialisation and
// describe are deterministic. A TopicConfig is a value: alter operations return a new
// one, all-or-nothing.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <absl/container/btree_map.h>

#include "base/result.h"
#include "config/broker_config.h"
#include "config/types.h"
#include "storage/config.h"

namespace weir::config {

// IncrementalAlterConfigs operation codes.
enum class AlterOp : int8_t { set = 0, remove = 1 /* DELETE */, append = 2, subtract = 3 };

struct AlterOperation {
  std::string key;
  AlterOp op = AlterOp::set;
  std::optional<std::string> value;  // null for DELETE (ignored there)
};

// One entry of an AlterConfigs (legacy) request or a CreateTopics config.
struct ConfigEntry {
  std::string key;
  std::optional<std::string> value;
};

// How a partition's appends reach the disk (flush.messages, flush.ms).
struct FlushPolicy {
  // flush.messages == 1 (weir's default): an append is acknowledged only once fsynced;
  // concurrent appends share one fsync (group commit). Larger values are Kafka's "no
  // fsync on the produce path, trust replication" mode: weir then fsyncs only on segment
  // roll, on shutdown, and when flush_interval_ms elapses.
  bool fsync_before_ack = true;
  int64_t flush_interval_messages = 1;
  int64_t flush_interval_ms = 0;  // Long.MAX_VALUE: never by time
};

class TopicConfig {
 public:
  // No overrides: every value comes from the broker.
  TopicConfig() = default;

  // Unknown key or invalid value: ConfigError naming both (the broker answers
  // INVALID_CONFIG, 40, with the message).
  static Result<TopicConfig, ConfigError> make(
      const absl::btree_map<std::string, std::string>& overrides);
  // CreateTopics configs and AlterConfigs' replacement set: null values and keys given
  // twice are errors too.
  static Result<TopicConfig, ConfigError> from_entries(std::span<const ConfigEntry> entries);

  // Stored form (the topic's metadata file): .properties text, one key per line, sorted.
  std::string serialize() const;
  static Result<TopicConfig, ConfigError> parse(std::string_view serialized);

  const absl::btree_map<std::string, std::string>& overrides() const { return overrides_; }

  // The value in force for a known topic key: the override, else the broker's.
  std::string value(std::string_view key, const BrokerConfig& broker) const;

  storage::LogConfig log_config(const BrokerConfig& broker) const;
  FlushPolicy flush_policy(const BrokerConfig& broker) const;
  bool flush_each_append(const BrokerConfig& broker) const {
    return flush_policy(broker).fsync_before_ack;
  }
  int32_t min_insync_replicas(const BrokerConfig& broker) const;
  bool unclean_leader_election_enable(const BrokerConfig& broker) const;
  std::string compression_type(const BrokerConfig& broker) const;
  // cleanup.policy contains compact.
  bool compacted(const BrokerConfig& broker) const;

  // DescribeConfigs v4 for a TOPIC resource (type 2): every topic key, or only those
  // named in `keys` (unknown names skipped, as Kafka does). Synonyms: the topic override,
  // then each broker synonym set statically, then each broker synonym's default.
  std::vector<DescribedConfig> describe(const BrokerConfig& broker,
                                        std::span<const std::string> keys = {}) const;

  // IncrementalAlterConfigs: operations apply in order, then the result is validated
  // as a whole; any error leaves this config unchanged. APPEND and SUBTRACT work on
  // LIST keys only, starting from the value in force (override or broker default).
  Result<TopicConfig, ConfigError> incremental_alter(std::span<const AlterOperation> operations,
                                                     const BrokerConfig& broker) const;

  static bool is_known_key(std::string_view key);
  static std::vector<std::string_view> known_keys();
  static std::optional<ConfigType> key_type(std::string_view key);

  bool operator==(const TopicConfig&) const = default;

 private:
  absl::btree_map<std::string, std::string> overrides_;
};

}  // namespace weir::config
