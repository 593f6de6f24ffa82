// TopicConfig: validation of every topic key, broker synonyms as defaults, the storage
// and flush views, DescribeConfigs, AlterConfigs / IncrementalAlterConfigs, storage.
#include "config/topic_config.h"

#include <algorithm>
#include <limits>
#include <rapidcheck.h>

#include <gtest/gtest.h>

namespace weir::config {
namespace {

BrokerConfig broker_with(std::vector<std::string> overrides = {}) {
  auto loaded = BrokerConfig::embedded_default().with_overrides(overrides);
  VERIFY(loaded.ok(), "{}", loaded.error().message);
  return std::move(loaded->config);
}

TopicConfig topic(const absl::btree_map<std::string, std::string>& overrides) {
  auto made = TopicConfig::make(overrides);
  VERIFY(made.ok(), "{}", made.error().message);
  return std::move(made.value());
}

const DescribedConfig& find(const std::vector<DescribedConfig>& described, std::string_view name) {
  const auto found = std::find_if(described.begin(), described.end(),
                                  [&](const DescribedConfig& d) { return d.name == name; });
  VERIFY(found != described.end(), "{} not described", name);
  return *found;
}

TEST(TopicConfig, KnownKeysAreKafkas) {
  const auto keys = TopicConfig::known_keys();
  EXPECT_TRUE(std::is_sorted(keys.begin(), keys.end()));
  EXPECT_EQ(std::adjacent_find(keys.begin(), keys.end()), keys.end());
  for (const std::string_view key : {"cleanup.policy",
                                     "compression.type",
                                     "compression.gzip.level",
                                     "compression.lz4.level",
                                     "compression.zstd.level",
                                     "delete.retention.ms",
                                     "file.delete.delay.ms",
                                     "flush.messages",
                                     "flush.ms",
                                     "follower.replication.throttled.replicas",
                                     "index.interval.bytes",
                                     "leader.replication.throttled.replicas",
                                     "local.retention.bytes",
                                     "local.retention.ms",
                                     "max.compaction.lag.ms",
                                     "max.message.bytes",
                                     "message.timestamp.after.max.ms",
                                     "message.timestamp.before.max.ms",
                                     "message.timestamp.type",
                                     "min.cleanable.dirty.ratio",
                                     "min.compaction.lag.ms",
                                     "min.insync.replicas",
                                     "preallocate",
                                     "remote.log.copy.disable",
                                     "remote.log.delete.on.disable",
                                     "remote.storage.enable",
                                     "retention.bytes",
                                     "retention.ms",
                                     "segment.bytes",
                                     "segment.index.bytes",
                                     "segment.jitter.ms",
                                     "segment.ms",
                                     "unclean.leader.election.enable"}) {
    EXPECT_TRUE(TopicConfig::is_known_key(key)) << key;
  }
  EXPECT_EQ(keys.size(), 33U);
  // Removed in Kafka 4.0.
  EXPECT_FALSE(TopicConfig::is_known_key("message.format.version"));
  EXPECT_FALSE(TopicConfig::is_known_key("message.downconversion.enable"));
  EXPECT_EQ(TopicConfig::key_type("retention.ms"), ConfigType::int64);
  EXPECT_EQ(TopicConfig::key_type("cleanup.policy"), ConfigType::list);
  EXPECT_EQ(TopicConfig::key_type("nope"), std::nullopt);
}

TEST(TopicConfig, DefaultsComeFromKafkasBrokerDefaults) {
  const BrokerConfig broker = broker_with();
  const storage::LogConfig log = TopicConfig().log_config(broker);
  const storage::LogConfig kafka;  // storage's defaults are Kafka's topic defaults
  EXPECT_EQ(log.segment_bytes, kafka.segment_bytes);
  EXPECT_EQ(log.segment_ms, kafka.segment_ms);
  EXPECT_EQ(log.segment_index_bytes, kafka.segment_index_bytes);
  EXPECT_EQ(log.index_interval_bytes, kafka.index_interval_bytes);
  EXPECT_EQ(log.retention_ms, kafka.retention_ms);
  EXPECT_EQ(log.retention_bytes, kafka.retention_bytes);
  EXPECT_EQ(log.max_message_bytes, kafka.max_message_bytes);
  EXPECT_EQ(log.message_timestamp_type, kafka.message_timestamp_type);
  EXPECT_EQ(TopicConfig().value("cleanup.policy", broker), "delete");
  EXPECT_EQ(TopicConfig().value("compression.type", broker), "producer");
  EXPECT_EQ(TopicConfig().value("min.cleanable.dirty.ratio", broker), "0.5");
  EXPECT_EQ(TopicConfig().value("message.timestamp.after.max.ms", broker), "3600000");
  EXPECT_EQ(TopicConfig().value("local.retention.ms", broker), "-2");
  EXPECT_EQ(TopicConfig().value("leader.replication.throttled.replicas", broker), "");
  EXPECT_EQ(TopicConfig().min_insync_replicas(broker), 1);
  EXPECT_FALSE(TopicConfig().unclean_leader_election_enable(broker));
  EXPECT_FALSE(TopicConfig().compacted(broker));
}

TEST(TopicConfig, BrokerSynonymsSetTheDefaults) {
  const BrokerConfig broker = broker_with(
      {"log.retention.hours=24", "log.segment.bytes=2097152", "log.roll.hours=1",
       "log.index.size.max.bytes=4096", "log.index.interval.bytes=100", "message.max.bytes=500",
       "log.retention.bytes=10", "log.message.timestamp.type=LogAppendTime",
       "min.insync.replicas=2", "unclean.leader.election.enable=true",
       "log.cleanup.policy=compact,delete", "compression.type=zstd"});
  const TopicConfig none;
  const storage::LogConfig log = none.log_config(broker);
  EXPECT_EQ(log.retention_ms, 24LL * 3600 * 1000);
  EXPECT_EQ(log.segment_bytes, 2097152);
  EXPECT_EQ(log.segment_ms, 3600 * 1000);
  EXPECT_EQ(log.segment_index_bytes, 4096);
  EXPECT_EQ(log.index_interval_bytes, 100);
  EXPECT_EQ(log.max_message_bytes, 500);
  EXPECT_EQ(log.retention_bytes, 10);
  EXPECT_EQ(log.message_timestamp_type, record::TimestampType::log_append_time);
  EXPECT_EQ(none.min_insync_replicas(broker), 2);
  EXPECT_TRUE(none.unclean_leader_election_enable(broker));
  EXPECT_TRUE(none.compacted(broker));
  EXPECT_EQ(none.compression_type(broker), "zstd");
}

// Kafka deletes by time and size only under cleanup.policy=delete: a compact-only
// topic (__consumer_offsets) keeps its segments, whatever retention says.
TEST(TopicConfig, CompactOnlyTopicsAreExemptFromRetention) {
  const BrokerConfig broker = broker_with({"log.retention.hours=24", "log.retention.bytes=10"});
  const storage::LogConfig compacted = topic({{"cleanup.policy", "compact"}}).log_config(broker);
  EXPECT_EQ(compacted.retention_ms, -1);
  EXPECT_EQ(compacted.retention_bytes, -1);
  const storage::LogConfig both = topic({{"cleanup.policy", "compact,delete"}}).log_config(broker);
  EXPECT_EQ(both.retention_ms, 24LL * 3600 * 1000);
  EXPECT_EQ(both.retention_bytes, 10);
}

TEST(TopicConfig, OverridesBeatTheBroker) {
  const BrokerConfig broker = broker_with({"log.retention.hours=24"});
  const TopicConfig config = topic({{"retention.ms", "-1"},
                                    {"segment.bytes", " 1048576 "},
                                    {"message.timestamp.type", "LogAppendTime"},
                                    {"min.insync.replicas", "3"},
                                    {"cleanup.policy", "compact, delete"}});
  const storage::LogConfig log = config.log_config(broker);
  EXPECT_EQ(log.retention_ms, -1);
  EXPECT_EQ(log.segment_bytes, 1048576);
  EXPECT_EQ(log.message_timestamp_type, record::TimestampType::log_append_time);
  EXPECT_EQ(config.min_insync_replicas(broker), 3);
  EXPECT_TRUE(config.compacted(broker));
  EXPECT_EQ(config.overrides().at("segment.bytes"), "1048576");  // stored trimmed
}

TEST(TopicConfig, FlushPolicy) {
  const BrokerConfig durable = broker_with();
  EXPECT_TRUE(TopicConfig().flush_each_append(durable));
  const FlushPolicy policy = TopicConfig().flush_policy(durable);
  EXPECT_EQ(policy.flush_interval_messages, 1);
  EXPECT_EQ(policy.flush_interval_ms, std::numeric_limits<int64_t>::max());

  // A topic may opt out of fsync-before-ack...
  EXPECT_FALSE(topic({{"flush.messages", "10000"}}).flush_each_append(durable));
  // ...or the whole broker may, and a topic may opt back in.
  const BrokerConfig relaxed =
      broker_with({"log.flush.interval.messages=9223372036854775807", "log.flush.interval.ms=50"});
  EXPECT_FALSE(TopicConfig().flush_each_append(relaxed));
  EXPECT_EQ(TopicConfig().flush_policy(relaxed).flush_interval_ms, 50);
  EXPECT_TRUE(topic({{"flush.messages", "1"}}).flush_each_append(relaxed));
}

struct BadTopicValue {
  std::string key;
  std::string value;
  std::string message;
};

void PrintTo(const BadTopicValue& bad, std::ostream* out) { *out << bad.message; }

class TopicConfigErrors : public testing::TestWithParam<BadTopicValue> {};

TEST_P(TopicConfigErrors, NameTheKeyAndValue) {
  auto made = TopicConfig::make({{GetParam().key, GetParam().value}});
  ASSERT_FALSE(made.ok());
  EXPECT_EQ(made.error().key, GetParam().key);
  EXPECT_EQ(made.error().message, GetParam().message);
}

INSTANTIATE_TEST_SUITE_P(
    Values, TopicConfigErrors,
    testing::Values(
        BadTopicValue{"retention.ms.typo", "1", "unknown topic config key 'retention.ms.typo'"},
        BadTopicValue{"message.format.version", "3.0",
                      "unknown topic config key 'message.format.version'"},
        BadTopicValue{"retention.ms", "forever", "retention.ms: 'forever' is not an integer"},
        BadTopicValue{"retention.ms", "-2", "retention.ms: '-2' must be at least -1"},
        BadTopicValue{"segment.bytes", "1024", "segment.bytes: '1024' must be at least 1048576"},
        BadTopicValue{"segment.bytes", "2147483648",
                      "segment.bytes: '2147483648' must be at most 2147483647"},
        BadTopicValue{"segment.ms", "0", "segment.ms: '0' must be at least 1"},
        BadTopicValue{"segment.index.bytes", "3", "segment.index.bytes: '3' must be at least 4"},
        BadTopicValue{"segment.jitter.ms", "-1", "segment.jitter.ms: '-1' must be at least 0"},
        BadTopicValue{"flush.messages", "0", "flush.messages: '0' must be at least 1"},
        BadTopicValue{"flush.ms", "-1", "flush.ms: '-1' must be at least 0"},
        BadTopicValue{"max.message.bytes", "-1", "max.message.bytes: '-1' must be at least 0"},
        BadTopicValue{"index.interval.bytes", "x", "index.interval.bytes: 'x' is not an integer"},
        BadTopicValue{"min.insync.replicas", "0", "min.insync.replicas: '0' must be at least 1"},
        BadTopicValue{"delete.retention.ms", "-1", "delete.retention.ms: '-1' must be at least 0"},
        BadTopicValue{"file.delete.delay.ms", "-1",
                      "file.delete.delay.ms: '-1' must be at least 0"},
        BadTopicValue{"max.compaction.lag.ms", "0",
                      "max.compaction.lag.ms: '0' must be at least 1"},
        BadTopicValue{"min.compaction.lag.ms", "-1",
                      "min.compaction.lag.ms: '-1' must be at least 0"},
        BadTopicValue{"message.timestamp.before.max.ms", "-1",
                      "message.timestamp.before.max.ms: '-1' must be at least 0"},
        BadTopicValue{"message.timestamp.after.max.ms", "-1",
                      "message.timestamp.after.max.ms: '-1' must be at least 0"},
        BadTopicValue{"local.retention.ms", "-3", "local.retention.ms: '-3' must be at least -2"},
        BadTopicValue{"local.retention.bytes", "-3",
                      "local.retention.bytes: '-3' must be at least -2"},
        BadTopicValue{"compression.gzip.level", "0",
                      "compression.gzip.level: '0' must be -1 or between 1 and 9"},
        BadTopicValue{"compression.gzip.level", "10",
                      "compression.gzip.level: '10' must be at most 9"},
        BadTopicValue{"compression.lz4.level", "18",
                      "compression.lz4.level: '18' must be at most 17"},
        BadTopicValue{"compression.zstd.level", "23",
                      "compression.zstd.level: '23' must be at most 22"},
        BadTopicValue{"min.cleanable.dirty.ratio", "1.5",
                      "min.cleanable.dirty.ratio: '1.5' must be between 0 and 1"},
        BadTopicValue{"min.cleanable.dirty.ratio", "nan",
                      "min.cleanable.dirty.ratio: 'nan' is not a number"},
        BadTopicValue{"preallocate", "1", "preallocate: '1' is not a boolean (true or false)"},
        BadTopicValue{"unclean.leader.election.enable", "maybe",
                      "unclean.leader.election.enable: 'maybe' is not a boolean (true or false)"},
        BadTopicValue{"remote.storage.enable", "true",
                      "remote.storage.enable: 'true' is not supported: weir has no tiered storage"},
        BadTopicValue{"cleanup.policy", "archive",
                      "cleanup.policy: 'archive' has 'archive'; allowed: delete, compact"},
        BadTopicValue{"cleanup.policy", "", "cleanup.policy: '' is empty; give delete, compact"},
        BadTopicValue{"cleanup.policy", "delete,delete",
                      "cleanup.policy: 'delete,delete' lists 'delete' twice"},
        BadTopicValue{"compression.type", "none",
                      "compression.type: 'none' is not one of uncompressed, zstd, lz4, snappy, "
                      "gzip, producer"},
        BadTopicValue{"message.timestamp.type", "BrokerTime",
                      "message.timestamp.type: 'BrokerTime' is not one of CreateTime, "
                      "LogAppendTime"},
        BadTopicValue{"leader.replication.throttled.replicas", "0:x",
                      "leader.replication.throttled.replicas: '0:x' must be * or a list of "
                      "partition:broker (e.g. 0:1,1:2)"},
        BadTopicValue{"follower.replication.throttled.replicas", "*,0:1",
                      "follower.replication.throttled.replicas: '*,0:1' must be * or a list of "
                      "partition:broker (e.g. 0:1,1:2)"}));

TEST(TopicConfig, AcceptedValues) {
  EXPECT_TRUE(TopicConfig::make({{"cleanup.policy", "compact,delete"},
                                 {"compression.type", "lz4"},
                                 {"compression.gzip.level", "-1"},
                                 {"compression.zstd.level", "-5"},
                                 {"min.cleanable.dirty.ratio", "0.01"},
                                 {"preallocate", "TRUE"},
                                 {"remote.storage.enable", "false"},
                                 {"leader.replication.throttled.replicas", "*"},
                                 {"follower.replication.throttled.replicas", "0:1, 1:2"},
                                 {"retention.bytes", "-1"}})
                  .ok());
}

TEST(TopicConfig, CompactionLagsMustNotCross) {
  auto made = TopicConfig::make({{"min.compaction.lag.ms", "10"}, {"max.compaction.lag.ms", "5"}});
  ASSERT_FALSE(made.ok());
  EXPECT_EQ(made.error().key, "min.compaction.lag.ms");
  EXPECT_EQ(made.error().message,
            "min.compaction.lag.ms: '10' is greater than max.compaction.lag.ms '5'");
  EXPECT_TRUE(
      TopicConfig::make({{"min.compaction.lag.ms", "5"}, {"max.compaction.lag.ms", "5"}}).ok());
}

TEST(TopicConfig, FromEntries) {
  const std::vector<ConfigEntry> good = {{"retention.ms", "1"}, {"segment.ms", "2"}};
  auto made = TopicConfig::from_entries(good);
  ASSERT_TRUE(made.ok());
  EXPECT_EQ(made->overrides().size(), 2U);
  const std::vector<ConfigEntry> null_value = {{"retention.ms", std::nullopt}};
  auto error = TopicConfig::from_entries(null_value);
  ASSERT_FALSE(error.ok());
  EXPECT_EQ(error.error().message, "retention.ms: a null value is not supported for topic configs");
  const std::vector<ConfigEntry> twice = {{"retention.ms", "1"}, {"retention.ms", "2"}};
  error = TopicConfig::from_entries(twice);
  ASSERT_FALSE(error.ok());
  EXPECT_EQ(error.error().message, "retention.ms: given more than once in one request");
}

TEST(TopicConfig, DescribeSourcesAndSynonyms) {
  const BrokerConfig broker = broker_with({"log.retention.hours=24", "log.retention.minutes=90"});
  const TopicConfig config = topic({{"segment.ms", "1000"}});
  const auto described = config.describe(broker);
  EXPECT_EQ(described.size(), TopicConfig::known_keys().size());
  for (const DescribedConfig& entry : described) {
    EXPECT_FALSE(entry.read_only) << entry.name;
    EXPECT_FALSE(entry.sensitive) << entry.name;
    EXPECT_TRUE(entry.value.has_value()) << entry.name;
    EXPECT_FALSE(entry.documentation.empty()) << entry.name;
  }

  const DescribedConfig& segment_ms = find(described, "segment.ms");
  EXPECT_EQ(segment_ms.value, "1000");
  EXPECT_EQ(segment_ms.source, ConfigSource::topic_config);
  EXPECT_EQ(segment_ms.type, ConfigType::int64);
  EXPECT_EQ(segment_ms.synonyms,
            (std::vector<ConfigSynonym>{{"segment.ms", "1000", ConfigSource::topic_config},
                                        {"log.roll.hours", "168", ConfigSource::default_config}}));

  const DescribedConfig& retention = find(described, "retention.ms");
  EXPECT_EQ(retention.value, "5400000");  // minutes beat hours
  EXPECT_EQ(retention.source, ConfigSource::static_broker_config);
  EXPECT_EQ(retention.synonyms,
            (std::vector<ConfigSynonym>{
                {"log.retention.minutes", "90", ConfigSource::static_broker_config},
                {"log.retention.hours", "24", ConfigSource::static_broker_config},
                {"log.retention.hours", "168", ConfigSource::default_config}}));

  const DescribedConfig& flush = find(described, "flush.messages");
  EXPECT_EQ(flush.value, "1");
  EXPECT_EQ(flush.source, ConfigSource::default_config);
  EXPECT_EQ(flush.synonyms, (std::vector<ConfigSynonym>{{"log.flush.interval.messages", "1",
                                                         ConfigSource::default_config}}));

  const DescribedConfig& remote = find(described, "remote.storage.enable");
  EXPECT_EQ(remote.value, "false");
  EXPECT_EQ(remote.source, ConfigSource::default_config);
  EXPECT_TRUE(remote.synonyms.empty());
  EXPECT_EQ(remote.type, ConfigType::boolean);

  EXPECT_EQ(find(described, "cleanup.policy").type, ConfigType::list);
  EXPECT_EQ(find(described, "min.cleanable.dirty.ratio").type, ConfigType::float64);
  EXPECT_EQ(find(described, "compression.type").type, ConfigType::string);
  EXPECT_EQ(find(described, "segment.bytes").type, ConfigType::int32);
}

TEST(TopicConfig, DescribeFilter) {
  const std::vector<std::string> keys = {"segment.bytes", "nope", "cleanup.policy"};
  const auto described = TopicConfig().describe(broker_with(), keys);
  ASSERT_EQ(described.size(), 2U);
  EXPECT_EQ(described[0].name, "cleanup.policy");  // in key order
  EXPECT_EQ(described[1].name, "segment.bytes");
  EXPECT_EQ(described[1].value, "1073741824");
}

TEST(TopicConfig, IncrementalAlter) {
  const BrokerConfig broker = broker_with();
  const TopicConfig start = topic({{"retention.ms", "1000"}, {"segment.ms", "5"}});
  const std::vector<AlterOperation> operations = {
      {"retention.ms", AlterOp::set, "2000"},
      {"segment.ms", AlterOp::remove, std::nullopt},
      {"cleanup.policy", AlterOp::append, "compact"},
  };
  auto altered = start.incremental_alter(operations, broker);
  ASSERT_TRUE(altered.ok()) << altered.error().message;
  EXPECT_EQ(altered->overrides(),
            (absl::btree_map<std::string, std::string>{{"cleanup.policy", "delete,compact"},
                                                       {"retention.ms", "2000"}}));
  // The original is a value: unchanged.
  EXPECT_EQ(start.overrides().at("retention.ms"), "1000");

  const std::vector<AlterOperation> subtract = {{"cleanup.policy", AlterOp::subtract, "delete"},
                                                {"cleanup.policy", AlterOp::append, "compact"}};
  auto subtracted = altered->incremental_alter(subtract, broker);
  ASSERT_TRUE(subtracted.ok()) << subtracted.error().message;
  EXPECT_EQ(subtracted->overrides().at("cleanup.policy"), "compact");
}

TEST(TopicConfig, IncrementalAlterIsAllOrNothing) {
  const BrokerConfig broker = broker_with();
  const TopicConfig start = topic({{"retention.ms", "1000"}});
  struct Case {
    std::vector<AlterOperation> operations;
    std::string key;
    std::string message;
  };
  const std::vector<Case> cases = {
      {{{"retention.ms", AlterOp::set, "1"}, {"segment.bytes", AlterOp::set, "1"}},
       "segment.bytes",
       "segment.bytes: '1' must be at least 1048576"},
      {{{"retention.ms", AlterOp::remove, std::nullopt}, {"bogus", AlterOp::set, "1"}},
       "bogus",
       "unknown topic config key 'bogus'"},
      {{{"bogus", AlterOp::remove, std::nullopt}}, "bogus", "unknown topic config key 'bogus'"},
      {{{"retention.ms", AlterOp::set, std::nullopt}},
       "retention.ms",
       "retention.ms: SET needs a value, got null"},
      {{{"retention.ms", AlterOp::append, "1"}},
       "retention.ms",
       "retention.ms: APPEND applies only to LIST configs; retention.ms is LONG"},
      {{{"segment.bytes", AlterOp::subtract, "1"}},
       "segment.bytes",
       "segment.bytes: SUBTRACT applies only to LIST configs; segment.bytes is INT"},
      {{{"cleanup.policy", AlterOp::append, std::nullopt}},
       "cleanup.policy",
       "cleanup.policy: APPEND needs a value, got null"},
      {{{"cleanup.policy", AlterOp::subtract, "delete"}},
       "cleanup.policy",
       "cleanup.policy: '' is empty; give delete, compact"},
      {{{"cleanup.policy", AlterOp::append, "archive"}},
       "cleanup.policy",
       "cleanup.policy: 'delete,archive' has 'archive'; allowed: delete, compact"},
      {{{"retention.ms", static_cast<AlterOp>(9), "1"}},
       "retention.ms",
       "retention.ms: unknown alter operation 9"},
  };
  for (const Case& c : cases) {
    auto altered = start.incremental_alter(c.operations, broker);
    ASSERT_FALSE(altered.ok()) << c.message;
    EXPECT_EQ(altered.error().key, c.key);
    EXPECT_EQ(altered.error().message, c.message);
  }
  EXPECT_EQ(start.overrides().size(), 1U);
}

TEST(TopicConfig, AppendStartsFromTheBrokersValue) {
  const BrokerConfig broker = broker_with({"log.cleanup.policy=compact"});
  const std::vector<AlterOperation> append = {{"cleanup.policy", AlterOp::append, "delete"}};
  auto altered = TopicConfig().incremental_alter(append, broker);
  ASSERT_TRUE(altered.ok());
  EXPECT_EQ(altered->overrides().at("cleanup.policy"), "compact,delete");
}

TEST(TopicConfig, SerializeParse) {
  const TopicConfig config = topic({{"retention.ms", "1000"},
                                    {"cleanup.policy", "compact,delete"},
                                    {"follower.replication.throttled.replicas", "0:1,1:2"}});
  const std::string text = config.serialize();
  EXPECT_EQ(text,
            "cleanup.policy=compact,delete\n"
            "follower.replication.throttled.replicas=0\\:1,1\\:2\n"
            "retention.ms=1000\n");
  auto parsed = TopicConfig::parse(text);
  ASSERT_TRUE(parsed.ok());
  EXPECT_EQ(*parsed, config);
  EXPECT_EQ(TopicConfig().serialize(), "");
  EXPECT_EQ(TopicConfig::parse("").value(), TopicConfig());
}

TEST(TopicConfig, ParseErrors) {
  auto bad_text = TopicConfig::parse("retention.ms=1\nx=\\u12\n");
  ASSERT_FALSE(bad_text.ok());
  EXPECT_EQ(bad_text.error().message, "stored topic config, line 2: malformed \\uXXXX escape");
  auto bad_value = TopicConfig::parse("retention.ms=soon\n");
  ASSERT_FALSE(bad_value.ok());
  EXPECT_EQ(bad_value.error().message, "retention.ms: 'soon' is not an integer");
}

TEST(TopicConfig, SerializeParseRoundTrip) {
  const bool passed = rc::check("parse(serialize(c)) == c", [] {
    const absl::btree_map<std::string, std::string> candidates = {
        {"cleanup.policy", *rc::gen::element<std::string>("delete", "compact", "compact,delete")},
        {"retention.ms", std::to_string(*rc::gen::inRange<int64_t>(-1, 1'000'000'000))},
        {"segment.bytes", std::to_string(*rc::gen::inRange<int64_t>(1 << 20, 1 << 30))},
        {"min.cleanable.dirty.ratio", *rc::gen::element<std::string>("0", "0.25", "1")},
        {"compression.type", *rc::gen::element<std::string>("gzip", "producer", "zstd")},
        {"flush.messages", std::to_string(*rc::gen::inRange<int64_t>(1, 1'000'000))},
        {"preallocate", *rc::gen::element<std::string>("true", "false")},
    };
    absl::btree_map<std::string, std::string> overrides;
    for (const auto& [key, value] : candidates) {
      if (*rc::gen::arbitrary<bool>()) overrides[key] = value;
    }
    auto made = TopicConfig::make(overrides);
    RC_ASSERT(made.ok());
    auto parsed = TopicConfig::parse(made->serialize());
    RC_ASSERT(parsed.ok());
    RC_ASSERT(*parsed == *made);
    RC_ASSERT(parsed->overrides() == overrides);
  });
  EXPECT_TRUE(passed);
}

}  // namespace
}  // namespace weir::config

namespace weir::config {
namespace {

// Writing a broker key's documented default explicitly changes no topic value: the
// default text in key_specs() and the typed default in read_keys agree.
TEST(TopicConfig, ExplicitBrokerDefaultsChangeNothing) {
  const BrokerConfig baseline = broker_with();
  const auto expected = TopicConfig().describe(baseline);
  const storage::LogConfig expected_log = TopicConfig().log_config(baseline);
  int checked = 0;
  for (const BrokerConfig::KeySpec& spec : BrokerConfig::key_specs()) {
    // Keys embedded_default() sets, and the map whose explicit form drops the implied
    // CONTROLLER:PLAINTEXT entry (as in Kafka).
    if (!spec.default_value || baseline.static_values().contains(spec.name) ||
        spec.name == "listener.security.protocol.map") {
      continue;
    }
    auto loaded = baseline.with_overrides(
        std::vector<std::string>{fmt::format("{}={}", spec.name, *spec.default_value)});
    ASSERT_TRUE(loaded.ok()) << spec.name << ": " << loaded.error().message;
    const auto actual = TopicConfig().describe(loaded->config);
    ASSERT_EQ(actual.size(), expected.size());
    for (size_t k = 0; k < actual.size(); k++) {
      EXPECT_EQ(actual[k].value, expected[k].value) << spec.name << " -> " << actual[k].name;
    }
    const storage::LogConfig log = TopicConfig().log_config(loaded->config);
    EXPECT_EQ(log.retention_ms, expected_log.retention_ms) << spec.name;
    EXPECT_EQ(log.segment_ms, expected_log.segment_ms) << spec.name;
    checked++;
  }
  EXPECT_GT(checked, 60);
}

}  // namespace
}  // namespace weir::config
