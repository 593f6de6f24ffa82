// BrokerConfig: Kafka's KRaft keys, defaults, precedence, validation messages, the
// embedded default, overrides, listener helpers and describe for the BROKER resource.
#include "config/broker_config.h"

#include <algorithm>
#include <limits>

#include <gtest/gtest.h>

namespace weir::config {
namespace {

// The smallest valid combined node, as a map the tests extend.
absl::btree_map<std::string, std::string> combined() {
  return {
      {"process.roles", "broker,controller"},
      {"node.id", "1"},
      {"controller.quorum.voters", "1@localhost:9093"},
      {"controller.listener.names", "CONTROLLER"},
      {"listeners", "PLAINTEXT://:9092,CONTROLLER://:9093"},
  };
}

BrokerConfigLoad load(const absl::btree_map<std::string, std::string>& values) {
  auto loaded = BrokerConfig::from_values(values);
  EXPECT_TRUE(loaded.ok()) << loaded.error().message;
  if (!loaded.ok()) return BrokerConfigLoad{BrokerConfig::embedded_default(), {}};
  return std::move(loaded.value());
}

BrokerConfig config_with(std::initializer_list<std::pair<const std::string, std::string>> extra) {
  auto values = combined();
  for (const auto& [key, value] : extra) values[key] = value;
  return load(values).config;
}

ConfigError error_with(const absl::btree_map<std::string, std::string>& values) {
  auto loaded = BrokerConfig::from_values(values);
  EXPECT_FALSE(loaded.ok());
  return loaded.ok() ? ConfigError{} : loaded.error();
}

TEST(BrokerConfig, KafkaDefaults) {
  const BrokerConfigLoad loaded = load(combined());
  EXPECT_TRUE(loaded.warnings.empty());
  const BrokerConfig& c = loaded.config;
  EXPECT_TRUE(c.broker_role);
  EXPECT_TRUE(c.controller_role);
  EXPECT_EQ(c.node_id, 1);
  EXPECT_EQ(c.num_partitions, 1);
  EXPECT_EQ(c.default_replication_factor, 1);
  EXPECT_EQ(c.min_insync_replicas, 1);
  EXPECT_FALSE(c.unclean_leader_election_enable);
  EXPECT_TRUE(c.auto_create_topics_enable);
  EXPECT_TRUE(c.delete_topic_enable);
  EXPECT_EQ(c.message_max_bytes, 1048588);
  EXPECT_EQ(c.socket_request_max_bytes, 104857600);
  EXPECT_EQ(c.log_segment_bytes, 1073741824);
  EXPECT_EQ(c.log_roll_ms, 168LL * 3600 * 1000);
  EXPECT_EQ(c.log_retention_ms, 168LL * 3600 * 1000);
  EXPECT_EQ(c.log_retention_bytes, -1);
  EXPECT_EQ(c.log_retention_check_interval_ms, 300000);
  EXPECT_EQ(c.log_index_interval_bytes, 4096);
  EXPECT_EQ(c.log_index_size_max_bytes, 10485760);
  EXPECT_EQ(c.log_message_timestamp_type, "CreateTime");
  EXPECT_EQ(c.log_message_timestamp_after_max_ms, 3600000);
  EXPECT_EQ(c.log_message_timestamp_before_max_ms, std::numeric_limits<int64_t>::max());
  EXPECT_EQ(c.log_flush_interval_messages, 1);  // weir's default, not Kafka's
  EXPECT_EQ(c.log_flush_interval_ms, std::numeric_limits<int64_t>::max());
  EXPECT_EQ(c.log_dirs, std::vector<std::string>{"/tmp/kafka-logs"});
  EXPECT_EQ(c.metadata_log_dir, "/tmp/kafka-logs");
  EXPECT_EQ(c.offsets_topic_replication_factor, 3);
  EXPECT_EQ(c.offsets_topic_num_partitions, 50);
  EXPECT_EQ(c.transaction_state_log_replication_factor, 3);
  EXPECT_EQ(c.transaction_state_log_min_isr, 2);
  EXPECT_EQ(c.group_initial_rebalance_delay_ms, 3000);
  EXPECT_EQ(c.compression_type, "producer");
  EXPECT_EQ(c.log_cleanup_policy, std::vector<std::string>{"delete"});
  EXPECT_EQ(c.inter_broker_listener_name, "PLAINTEXT");
  EXPECT_FALSE(c.broker_rack.has_value());
}

TEST(BrokerConfig, KafkaSampleServerProperties) {
  // Kafka 4's config/server.properties, comments dropped.
  auto properties = Properties::parse(R"(
process.roles=broker,controller
node.id=1
controller.quorum.bootstrap.servers=localhost:9093
listeners=PLAINTEXT://:9092,CONTROLLER://:9093
inter.broker.listener.name=PLAINTEXT
advertised.listeners=PLAINTEXT://localhost:9092,CONTROLLER://localhost:9093
controller.listener.names=CONTROLLER
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT,SSL:SSL,\
    SASL_PLAINTEXT:SASL_PLAINTEXT,SASL_SSL:SASL_SSL
num.network.threads=3
num.io.threads=8
socket.send.buffer.bytes=102400
socket.receive.buffer.bytes=102400
socket.request.max.bytes=104857600
log.dirs=/tmp/kraft-combined-logs
num.partitions=1
num.recovery.threads.per.data.dir=1
offsets.topic.replication.factor=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
log.retention.hours=168
log.segment.bytes=1073741824
log.retention.check.interval.ms=300000
)");
  ASSERT_TRUE(properties.ok());
  auto loaded = BrokerConfig::parse(*properties);
  ASSERT_TRUE(loaded.ok()) << loaded.error().message;
  EXPECT_TRUE(loaded->warnings.empty()) << loaded->warnings.front();
  const BrokerConfig& c = loaded->config;
  ASSERT_EQ(c.controller_quorum_bootstrap_servers.size(), 1U);
  EXPECT_EQ(c.controller_quorum_bootstrap_servers[0], (HostPort{"localhost", 9093}));
  EXPECT_EQ(c.log_dirs, std::vector<std::string>{"/tmp/kraft-combined-logs"});
  EXPECT_EQ(c.offsets_topic_replication_factor, 1);
  EXPECT_EQ(c.advertised_listener("PLAINTEXT")->host, "localhost");
}

TEST(BrokerConfig, ParseText) {
  auto loaded = BrokerConfig::parse_text(
      "process.roles=controller\nnode.id=3\ncontroller.quorum.voters=3@h:1\n"
      "controller.listener.names=C\nlisteners=C://:1\n");
  ASSERT_TRUE(loaded.ok()) << loaded.error().message;
  EXPECT_EQ(loaded->config.node_id, 3);
  auto bad = BrokerConfig::parse_text("node.id=1\nlisteners=\\u00zz\n");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().message, "server.properties line 2: malformed \\uXXXX escape");
}

TEST(BrokerConfig, EmbeddedDefault) {
  const BrokerConfig c = BrokerConfig::embedded_default();
  EXPECT_TRUE(c.broker_role);
  EXPECT_TRUE(c.controller_role);
  EXPECT_EQ(c.node_id, 1);
  EXPECT_EQ(c.listener("PLAINTEXT"), (Endpoint{"PLAINTEXT", "127.0.0.1", 9092}));
  EXPECT_EQ(c.listener("CONTROLLER"), (Endpoint{"CONTROLLER", "127.0.0.1", 9093}));
  ASSERT_EQ(c.controller_quorum_voters.size(), 1U);
  EXPECT_EQ(c.controller_quorum_voters[0], (QuorumVoter{1, HostPort{"127.0.0.1", 9093}}));
  EXPECT_EQ(c.log_dirs, std::vector<std::string>{"./data"});
  EXPECT_EQ(c.offsets_topic_replication_factor, 1);
  EXPECT_EQ(c.transaction_state_log_replication_factor, 1);
  EXPECT_EQ(c.transaction_state_log_min_isr, 1);
  EXPECT_EQ(c.log_flush_interval_messages, 1);
}

TEST(BrokerConfig, RetentionPrecedence) {
  EXPECT_EQ(config_with({{"log.retention.hours", "2"}}).log_retention_ms, 2 * 3600 * 1000);
  EXPECT_EQ(
      config_with({{"log.retention.hours", "2"}, {"log.retention.minutes", "3"}}).log_retention_ms,
      3 * 60 * 1000);
  EXPECT_EQ(
      config_with(
          {{"log.retention.hours", "2"}, {"log.retention.minutes", "3"}, {"log.retention.ms", "4"}})
          .log_retention_ms,
      4);
  EXPECT_EQ(config_with({{"log.retention.ms", "-1"}}).log_retention_ms, -1);
  EXPECT_EQ(config_with({{"log.retention.minutes", "-5"}}).log_retention_ms, -1);
  EXPECT_EQ(config_with({{"log.retention.hours", "-1"}}).log_retention_ms, -1);
}

TEST(BrokerConfig, RollAndFlushPrecedence) {
  EXPECT_EQ(config_with({{"log.roll.hours", "1"}}).log_roll_ms, 3600 * 1000);
  EXPECT_EQ(config_with({{"log.roll.hours", "1"}, {"log.roll.ms", "5"}}).log_roll_ms, 5);
  EXPECT_EQ(config_with({{"log.roll.jitter.hours", "1"}}).log_roll_jitter_ms, 3600 * 1000);
  EXPECT_EQ(
      config_with({{"log.roll.jitter.hours", "1"}, {"log.roll.jitter.ms", "7"}}).log_roll_jitter_ms,
      7);
  EXPECT_EQ(config_with({{"log.flush.scheduler.interval.ms", "9"}}).log_flush_interval_ms, 9);
  EXPECT_EQ(config_with({{"log.flush.scheduler.interval.ms", "9"}, {"log.flush.interval.ms", "8"}})
                .log_flush_interval_ms,
            8);
}

TEST(BrokerConfig, LogDirsBeatLogDir) {
  const BrokerConfig c = config_with({{"log.dir", "/a"}, {"log.dirs", "/b, /c"}});
  EXPECT_EQ(c.log_dirs, (std::vector<std::string>{"/b", "/c"}));
  EXPECT_EQ(c.metadata_log_dir, "/b");
  EXPECT_EQ(config_with({{"log.dir", "/a"}}).log_dirs, std::vector<std::string>{"/a"});
  EXPECT_EQ(config_with({{"metadata.log.dir", "/m"}}).metadata_log_dir, "/m");
}

TEST(BrokerConfig, MetadataLogSegmentsAndSnapshots) {
  const BrokerConfig defaults = config_with({});
  EXPECT_EQ(defaults.metadata_log_segment_bytes, 1 << 30);
  EXPECT_EQ(defaults.metadata_log_max_record_bytes_between_snapshots, 20 << 20);
  EXPECT_EQ(defaults.metadata_log_max_snapshot_interval_ms, 3600000);
  EXPECT_EQ(config_with({{"metadata.log.max.snapshot.interval.ms", "0"}})
                .metadata_log_max_snapshot_interval_ms,
            0);
  const BrokerConfig c = config_with({{"metadata.log.segment.bytes", "65536"},
                                      {"metadata.log.max.record.bytes.between.snapshots", "4096"}});
  EXPECT_EQ(c.metadata_log_segment_bytes, 65536);
  EXPECT_EQ(c.metadata_log_max_record_bytes_between_snapshots, 4096);
}

TEST(BrokerConfig, ValuesAreTrimmedAndBooleansIgnoreCase) {
  const BrokerConfig c = config_with({{"num.partitions", "  12 "},
                                      {"unclean.leader.election.enable", " TRUE"},
                                      {"auto.create.topics.enable", "False"},
                                      {"broker.rack", " r1 "}});
  EXPECT_EQ(c.num_partitions, 12);
  EXPECT_TRUE(c.unclean_leader_election_enable);
  EXPECT_FALSE(c.auto_create_topics_enable);
  EXPECT_EQ(c.broker_rack, "r1");
}

TEST(BrokerConfig, UnknownAndRepeatedKeysAreWarnings) {
  auto properties = Properties::parse(
      "process.roles=broker,controller\nnode.id=1\ncontroller.quorum.voters=1@h:9093\n"
      "controller.listener.names=CONTROLLER\nlisteners=PLAINTEXT://:9092,CONTROLLER://:9093\n"
      "num.partitions=2\nnum.partitions=3\nzookeeper.connect=localhost:2181\n");
  ASSERT_TRUE(properties.ok());
  auto loaded = BrokerConfig::parse(*properties);
  ASSERT_TRUE(loaded.ok()) << loaded.error().message;
  EXPECT_EQ(loaded->config.num_partitions, 3);
  ASSERT_EQ(loaded->warnings.size(), 2U);
  EXPECT_EQ(loaded->warnings[0],
            "config key 'num.partitions' is set more than once; the value on line 6 is replaced "
            "by a later one");
  EXPECT_EQ(loaded->warnings[1], "unknown config key 'zookeeper.connect' ignored");
  EXPECT_EQ(loaded->config.raw_values().at("zookeeper.connect"), "localhost:2181");
  EXPECT_FALSE(loaded->config.static_values().contains("zookeeper.connect"));
}

TEST(BrokerConfig, RelaxedFlushWarns) {
  auto values = combined();
  values["log.flush.interval.messages"] = "9223372036854775807";
  const BrokerConfigLoad loaded = load(values);
  ASSERT_EQ(loaded.warnings.size(), 1U);
  EXPECT_NE(loaded.warnings[0].find("not fsynced"), std::string::npos);
}

struct BadValue {
  std::vector<std::pair<std::string, std::string>> set;
  std::string key;
  std::string message;
};

void PrintTo(const BadValue& bad, std::ostream* out) { *out << bad.message; }

class BrokerConfigErrors : public testing::TestWithParam<BadValue> {};

TEST_P(BrokerConfigErrors, NameTheKeyAndValue) {
  auto values = combined();
  for (const auto& [key, value] : GetParam().set) {
    if (value == "<unset>") {
      values.erase(key);
    } else {
      values[key] = value;
    }
  }
  const ConfigError error = error_with(values);
  EXPECT_EQ(error.key, GetParam().key);
  EXPECT_EQ(error.message, GetParam().message);
}

INSTANTIATE_TEST_SUITE_P(
    Values, BrokerConfigErrors,
    testing::Values(
        BadValue{{{"log.segment.bytes", "abc"}},
                 "log.segment.bytes",
                 "log.segment.bytes: 'abc' is not an integer"},
        BadValue{{{"log.segment.bytes", "1000"}},
                 "log.segment.bytes",
                 "log.segment.bytes: '1000' must be at least 1048576"},
        BadValue{{{"offsets.topic.segment.bytes", "1000"}},
                 "offsets.topic.segment.bytes",
                 "offsets.topic.segment.bytes: '1000' must be at least 1048576"},
        BadValue{{{"offsets.topic.num.partitions", "0"}},
                 "offsets.topic.num.partitions",
                 "offsets.topic.num.partitions: '0' must be at least 1"},
        BadValue{{{"offsets.topic.replication.factor", "0"}},
                 "offsets.topic.replication.factor",
                 "offsets.topic.replication.factor: '0' must be at least 1"},
        BadValue{{{"log.segment.bytes", "3000000000"}},
                 "log.segment.bytes",
                 "log.segment.bytes: '3000000000' must be at most 2147483647"},
        BadValue{{{"log.retention.bytes", "99999999999999999999"}},
                 "log.retention.bytes",
                 "log.retention.bytes: '99999999999999999999' is out of range "
                 "[-9223372036854775808, 9223372036854775807]"},
        BadValue{{{"metadata.log.segment.bytes", "100"}},
                 "metadata.log.segment.bytes",
                 "metadata.log.segment.bytes: '100' must be at least 4096"},
        BadValue{{{"metadata.log.max.record.bytes.between.snapshots", "0"}},
                 "metadata.log.max.record.bytes.between.snapshots",
                 "metadata.log.max.record.bytes.between.snapshots: '0' must be at least 1"},
        BadValue{{{"metadata.log.max.snapshot.interval.ms", "-5"}},
                 "metadata.log.max.snapshot.interval.ms",
                 "metadata.log.max.snapshot.interval.ms: '-5' must be at least 0"},
        BadValue{{{"num.partitions", "1.5"}},
                 "num.partitions",
                 "num.partitions: '1.5' is not an integer"},
        BadValue{
            {{"num.partitions", ""}}, "num.partitions", "num.partitions: '' is not an integer"},
        BadValue{
            {{"num.partitions", "0"}}, "num.partitions", "num.partitions: '0' must be at least 1"},
        BadValue{{{"min.insync.replicas", "0"}},
                 "min.insync.replicas",
                 "min.insync.replicas: '0' must be at least 1"},
        BadValue{{{"offsets.topic.replication.factor", "40000"}},
                 "offsets.topic.replication.factor",
                 "offsets.topic.replication.factor: '40000' must be at most 32767"},
        BadValue{{{"unclean.leader.election.enable", "yes"}},
                 "unclean.leader.election.enable",
                 "unclean.leader.election.enable: 'yes' is not a boolean (true or false)"},
        BadValue{{{"log.cleaner.min.cleanable.ratio", "1.5"}},
                 "log.cleaner.min.cleanable.ratio",
                 "log.cleaner.min.cleanable.ratio: '1.5' must be between 0 and 1"},
        BadValue{{{"log.cleaner.min.cleanable.ratio", "half"}},
                 "log.cleaner.min.cleanable.ratio",
                 "log.cleaner.min.cleanable.ratio: 'half' is not a number"},
        BadValue{{{"log.message.timestamp.type", "createtime"}},
                 "log.message.timestamp.type",
                 "log.message.timestamp.type: 'createtime' is not one of CreateTime, "
                 "LogAppendTime"},
        BadValue{{{"compression.type", "brotli"}},
                 "compression.type",
                 "compression.type: 'brotli' is not one of uncompressed, zstd, lz4, snappy, "
                 "gzip, producer"},
        BadValue{{{"compression.gzip.level", "0"}},
                 "compression.gzip.level",
                 "compression.gzip.level: '0' must be -1 or between 1 and 9"},
        BadValue{{{"log.cleanup.policy", "delete,archive"}},
                 "log.cleanup.policy",
                 "log.cleanup.policy: 'delete,archive' has 'archive'; policies are delete and "
                 "compact"},
        BadValue{{{"log.retention.ms", "0"}},
                 "log.retention.ms",
                 "log.retention.ms: '0' must be unlimited (-1) or give at least 1 ms"},
        BadValue{{{"log.retention.hours", "0"}},
                 "log.retention.hours",
                 "log.retention.hours: '0' must be unlimited (-1) or give at least 1 ms"},
        BadValue{{{"log.roll.ms", "0"}}, "log.roll.ms", "log.roll.ms: '0' must be at least 1"},
        BadValue{
            {{"log.roll.hours", "0"}}, "log.roll.hours", "log.roll.hours: '0' must be at least 1"},
        BadValue{{{"log.roll.jitter.ms", "-1"}},
                 "log.roll.jitter.ms",
                 "log.roll.jitter.ms: '-1' must be at least 0"},
        BadValue{{{"log.flush.interval.ms", "-1"}},
                 "log.flush.interval.ms",
                 "log.flush.interval.ms: '-1' must be at least 0"},
        BadValue{{{"log.flush.interval.messages", "0"}},
                 "log.flush.interval.messages",
                 "log.flush.interval.messages: '0' must be at least 1"},
        BadValue{{{"log.dirs", " , "}}, "log.dirs", "log.dirs: ',' has an empty entry"},
        BadValue{{{"log.dirs", ""}}, "log.dirs", "log.dirs: must name at least one directory"},
        BadValue{{{"log.dirs", "/a,/b,/a"}}, "log.dirs", "log.dirs: '/a,/b,/a' lists '/a' twice"},
        BadValue{{{"group.min.session.timeout.ms", "10"}, {"group.max.session.timeout.ms", "5"}},
                 "group.min.session.timeout.ms",
                 "group.min.session.timeout.ms: 10 exceeds group.max.session.timeout.ms 5"},
        // Roles and quorum.
        BadValue{{{"process.roles", "<unset>"}},
                 "process.roles",
                 "process.roles: not set; it must be broker, controller or broker,controller "
                 "(weir runs in KRaft mode only)"},
        BadValue{{{"process.roles", "broker,observer"}},
                 "process.roles",
                 "process.roles: 'broker,observer' has unknown role 'observer' (broker, "
                 "controller)"},
        BadValue{{{"process.roles", "broker,broker"}},
                 "process.roles",
                 "process.roles: 'broker,broker' lists 'broker' twice"},
        BadValue{{{"node.id", "<unset>"}},
                 "node.id",
                 "node.id: '' must be set to an id of 0 or more (required in KRaft mode)"},
        BadValue{{{"node.id", "-2"}},
                 "node.id",
                 "node.id: '-2' must be set to an id of 0 or more (required in KRaft mode)"},
        BadValue{{{"controller.listener.names", "<unset>"}},
                 "controller.listener.names",
                 "controller.listener.names: not set; it names the controllers' listener "
                 "(required in KRaft mode)"},
        BadValue{{{"controller.quorum.voters", "<unset>"}},
                 "controller.quorum.voters",
                 "controller.quorum.voters: neither it nor controller.quorum.bootstrap.servers "
                 "is set; one must list the controllers"},
        BadValue{{{"controller.quorum.voters", "1@host"}},
                 "controller.quorum.voters",
                 "controller.quorum.voters: '1@host' is not a voter (id@host:port)"},
        BadValue{{{"controller.quorum.voters", "x@host:9093"}},
                 "controller.quorum.voters",
                 "controller.quorum.voters: 'x@host:9093' is not a voter (id@host:port)"},
        BadValue{{{"controller.quorum.voters", "1@host:0"}},
                 "controller.quorum.voters",
                 "controller.quorum.voters: '1@host:0' is not a voter (id@host:port)"},
        BadValue{{{"controller.quorum.voters", "1@a:1,1@b:2"}},
                 "controller.quorum.voters",
                 "controller.quorum.voters: voter id 1 appears twice"},
        BadValue{{{"controller.quorum.voters", "2@a:1"}},
                 "controller.quorum.voters",
                 "controller.quorum.voters: '2@a:1' does not include node.id 1, which has the "
                 "controller role"},
        BadValue{{{"controller.quorum.bootstrap.servers", "nohost"}},
                 "controller.quorum.bootstrap.servers",
                 "controller.quorum.bootstrap.servers: 'nohost' is not host:port"},
        // Listeners.
        BadValue{{{"listeners", "PLAINTEXT:9092"}},
                 "listeners",
                 "listeners: 'PLAINTEXT:9092' is not a listener (NAME://host:port)"},
        BadValue{{{"listeners", "PLAINTEXT://host:99999"}},
                 "listeners",
                 "listeners: 'PLAINTEXT://host:99999' is not a listener (NAME://host:port)"},
        BadValue{{{"listeners", "PLAINTEXT://ho st:1"}},
                 "listeners",
                 "listeners: 'PLAINTEXT://ho st:1' is not a listener (NAME://host:port)"},
        BadValue{{{"listeners", "PLAINTEXT://:1,plaintext://:2"}},
                 "listeners",
                 "listeners: listener name 'PLAINTEXT' appears twice"},
        BadValue{{{"listeners", ""}}, "listeners", "listeners: must name at least one listener"},
        BadValue{{{"listeners", "PLAINTEXT://:9092,CONTROLLER://:9092"}},
                 "listeners",
                 "listeners: listeners 'PLAINTEXT' and 'CONTROLLER' both use port 9092"},
        BadValue{{{"listeners", "SSL://:9094,PLAINTEXT://:9092,CONTROLLER://:9093"}},
                 "listeners",
                 "listeners: listener 'SSL' uses security protocol SSL; weir serves only "
                 "PLAINTEXT listeners (no TLS or SASL yet)"},
        BadValue{{{"listeners", "SASL_PLAINTEXT://:9094,PLAINTEXT://:9092,CONTROLLER://:9093"}},
                 "listeners",
                 "listeners: listener 'SASL_PLAINTEXT' uses security protocol SASL_PLAINTEXT; "
                 "weir serves only PLAINTEXT listeners (no TLS or SASL yet)"},
        BadValue{{{"listeners", "INTERNAL://:9094,PLAINTEXT://:9092,CONTROLLER://:9093"}},
                 "listeners",
                 "listeners: listener 'INTERNAL' has no entry in listener.security.protocol.map"},
        BadValue{{{"listener.security.protocol.map", "PLAINTEXT:PLAINTEXT,CONTROLLER"}},
                 "listener.security.protocol.map",
                 "listener.security.protocol.map: 'CONTROLLER' is not NAME:PROTOCOL "
                 "(PLAINTEXT, SSL, SASL_PLAINTEXT, SASL_SSL)"},
        BadValue{{{"listener.security.protocol.map", "PLAINTEXT:PLAINTEXT,CONTROLLER:TLS"}},
                 "listener.security.protocol.map",
                 "listener.security.protocol.map: 'CONTROLLER:TLS' is not NAME:PROTOCOL "
                 "(PLAINTEXT, SSL, SASL_PLAINTEXT, SASL_SSL)"},
        BadValue{{{"listener.security.protocol.map", "PLAINTEXT:PLAINTEXT"}},
                 "listeners",
                 "listeners: listener 'CONTROLLER' has no entry in listener.security.protocol.map"},
        BadValue{{{"listener.security.protocol.map", "PLAINTEXT:PLAINTEXT,CONTROLLER:SSL"}},
                 "listeners",
                 "listeners: listener 'CONTROLLER' uses security protocol SSL; weir serves only "
                 "PLAINTEXT listeners (no TLS or SASL yet)"},
        BadValue{{{"process.roles", "controller"}},
                 "listeners",
                 "listeners: listener 'PLAINTEXT' is not in controller.listener.names; with "
                 "process.roles=controller only controller listeners are served"},
        BadValue{{{"process.roles", "broker"}},
                 "listeners",
                 "listeners: listener 'CONTROLLER' is in controller.listener.names; with "
                 "process.roles=broker the controllers listen elsewhere"},
        BadValue{{{"controller.listener.names", "RAFT"}},
                 "listeners",
                 "listeners: listener 'CONTROLLER' has no entry in listener.security.protocol.map"},
        BadValue{{{"controller.listener.names", "RAFT"},
                  {"listener.security.protocol.map",
                   "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT,"
                   "RAFT:PLAINTEXT"}},
                 "controller.listener.names",
                 "controller.listener.names: 'RAFT' is not in listeners "
                 "'PLAINTEXT://:9092,CONTROLLER://:9093', but a controller must listen on it"},
        BadValue{{{"advertised.listeners", "PLAINTEXT://0.0.0.0:9092"}},
                 "advertised.listeners",
                 "advertised.listeners: 'PLAINTEXT://0.0.0.0:9092' advertises the non-routable "
                 "address 0.0.0.0; give a routable host"},
        BadValue{{{"advertised.listeners", "PLAINTEXT://h:9092,OTHER://h:1"}},
                 "advertised.listeners",
                 "advertised.listeners: listener 'OTHER' is not in listeners"},
        BadValue{{{"advertised.listeners", "CONTROLLER://h:9093"}},
                 "security.inter.broker.protocol",
                 "security.inter.broker.protocol: the inter-broker listener 'PLAINTEXT' is not "
                 "among the advertised listeners"},
        BadValue{{{"inter.broker.listener.name", "controller"}},
                 "inter.broker.listener.name",
                 "inter.broker.listener.name: 'CONTROLLER' is a controller listener; brokers "
                 "need a broker listener"},
        BadValue{{{"inter.broker.listener.name", "REPLICATION"}},
                 "inter.broker.listener.name",
                 "inter.broker.listener.name: the inter-broker listener 'REPLICATION' is not "
                 "among the advertised listeners"},
        BadValue{{{"inter.broker.listener.name", "PLAINTEXT"},
                  {"security.inter.broker.protocol", "PLAINTEXT"}},
                 "inter.broker.listener.name",
                 "inter.broker.listener.name: only one of inter.broker.listener.name and "
                 "security.inter.broker.protocol may be set"},
        BadValue{{{"security.inter.broker.protocol", "TLS"}},
                 "security.inter.broker.protocol",
                 "security.inter.broker.protocol: 'TLS' is not one of PLAINTEXT, SSL, "
                 "SASL_PLAINTEXT, SASL_SSL"},
        BadValue{{{"security.inter.broker.protocol", "SSL"}},
                 "security.inter.broker.protocol",
                 "security.inter.broker.protocol: the inter-broker listener 'SSL' is not among "
                 "the advertised listeners"}));

TEST(BrokerConfig, ControllerOnlyAndBrokerOnlyNodes) {
  auto controller = combined();
  controller["process.roles"] = "controller";
  controller["listeners"] = "CONTROLLER://:9093";
  const BrokerConfig c = load(controller).config;
  EXPECT_FALSE(c.broker_role);
  EXPECT_TRUE(c.controller_role);

  auto broker = combined();
  broker["process.roles"] = "broker";
  broker["node.id"] = "7";  // a broker need not be a voter
  broker["listeners"] = "PLAINTEXT://:9092";
  const BrokerConfig b = load(broker).config;
  EXPECT_TRUE(b.broker_role);
  EXPECT_FALSE(b.controller_role);
  // The broker dials the controllers over CONTROLLER, mapped to PLAINTEXT by default.
  EXPECT_EQ(b.listener_security_protocol_map.at("CONTROLLER"), SecurityProtocol::plaintext);
}

TEST(BrokerConfig, ListenersMayShareAPortAcrossIpv4AndIpv6) {
  const BrokerConfig c =
      config_with({{"listeners", "PLAINTEXT://127.0.0.1:9092,CONTROLLER://[::1]:9092"},
                   {"advertised.listeners", "PLAINTEXT://h:9092,CONTROLLER://h:9092"}});
  EXPECT_EQ(c.listener("CONTROLLER")->port, 9092);
  EXPECT_EQ(config_with({{"listeners", "PLAINTEXT://:0,CONTROLLER://:0"}}).listeners.size(), 2U);
}

TEST(BrokerConfig, DefaultProtocolMapAddsControllerListeners) {
  const BrokerConfig c = config_with({});
  EXPECT_EQ(c.listener_security_protocol_map.size(), 5U);
  EXPECT_EQ(c.listener_security_protocol_map.at("CONTROLLER"), SecurityProtocol::plaintext);
  EXPECT_EQ(c.listener_security_protocol_map.at("SSL"), SecurityProtocol::ssl);
}

TEST(BrokerConfig, ListenersBindAndAdvertise) {
  const BrokerConfig c = config_with(
      {{"listeners", "PLAINTEXT://:9092,CONTROLLER://127.0.0.1:9093,REPLICATION://[::1]:9094"},
       {"listener.security.protocol.map",
        "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT,REPLICATION:PLAINTEXT"},
       {"inter.broker.listener.name", "replication"}});
  EXPECT_EQ(c.listener("plaintext"), (Endpoint{"PLAINTEXT", "", 9092}));
  EXPECT_EQ(c.listener("REPLICATION"), (Endpoint{"REPLICATION", "::1", 9094}));
  EXPECT_EQ(c.listener("REPLICATION")->to_string(), "REPLICATION://[::1]:9094");
  EXPECT_FALSE(c.listener("OTHER").has_value());
  // advertised.listeners unset: every listener advertises its own endpoint.
  EXPECT_EQ(c.advertised_listener("PLAINTEXT"), c.listener("PLAINTEXT"));
  EXPECT_EQ(c.inter_broker_listener_name, "REPLICATION");
  const auto brokers = c.advertised_broker_listeners();
  ASSERT_EQ(brokers.size(), 2U);
  EXPECT_EQ(brokers[0].listener_name, "PLAINTEXT");
  EXPECT_EQ(brokers[1].listener_name, "REPLICATION");
}

TEST(BrokerConfig, AdvertisedListenersAsKafkaDerivesThem) {
  const BrokerConfig c =
      config_with({{"listeners", "PLAINTEXT://:9092,CONTROLLER://:9093,EXTRA://:9094"},
                   {"listener.security.protocol.map",
                    "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT,"
                    "EXTRA:PLAINTEXT"},
                   {"advertised.listeners", "PLAINTEXT://broker1.example:19092"}});
  EXPECT_EQ(c.advertised_listener("PLAINTEXT"), (Endpoint{"PLAINTEXT", "broker1.example", 19092}));
  // A controller listener missing from advertised.listeners falls back to listeners...
  EXPECT_EQ(c.advertised_listener("CONTROLLER"), (Endpoint{"CONTROLLER", "", 9093}));
  // ...a broker listener missing from it is not advertised at all.
  EXPECT_FALSE(c.advertised_listener("EXTRA").has_value());
  const auto brokers = c.advertised_broker_listeners();
  ASSERT_EQ(brokers.size(), 1U);
  EXPECT_EQ(brokers[0].host, "broker1.example");
}

TEST(BrokerConfig, ResolveAdvertisedLikeKafka) {
  EXPECT_EQ(resolve_advertised(Endpoint{"PLAINTEXT", "", 0}, "node1.example", 40000),
            (Endpoint{"PLAINTEXT", "node1.example", 40000}));
  EXPECT_EQ(resolve_advertised(Endpoint{"PLAINTEXT", "0.0.0.0", 9092}, "n", 1),
            (Endpoint{"PLAINTEXT", "n", 9092}));
  EXPECT_EQ(resolve_advertised(Endpoint{"PLAINTEXT", "::", 9092}, "n", 1).host, "n");
  EXPECT_EQ(resolve_advertised(Endpoint{"PLAINTEXT", "10.0.0.1", 9092}, "n", 1),
            (Endpoint{"PLAINTEXT", "10.0.0.1", 9092}));
  EXPECT_TRUE(is_wildcard_host(""));
  EXPECT_FALSE(is_wildcard_host("127.0.0.1"));
}

TEST(BrokerConfig, Overrides) {
  const BrokerConfig base = BrokerConfig::embedded_default();
  const std::vector<std::string> overrides = {"num.partitions=3", "log.dirs=/x",
                                              "num.partitions = 4", "broker.rack=a=b"};
  auto applied = base.with_overrides(overrides);
  ASSERT_TRUE(applied.ok()) << applied.error().message;
  EXPECT_EQ(applied->config.num_partitions, 4);
  EXPECT_EQ(applied->config.log_dirs, std::vector<std::string>{"/x"});
  EXPECT_EQ(applied->config.broker_rack, "a=b");
  EXPECT_EQ(applied->config.node_id, 1);  // the rest of the base survives
  EXPECT_EQ(applied->config.static_values().at("num.partitions"), "4");
}

TEST(BrokerConfig, OverrideErrors) {
  const BrokerConfig base = BrokerConfig::embedded_default();
  const std::vector<std::string> malformed = {"num.partitions"};
  auto error = base.with_overrides(malformed);
  ASSERT_FALSE(error.ok());
  EXPECT_EQ(error.error().message, "--override 'num.partitions': expected key=value");
  const std::vector<std::string> no_key = {"=3"};
  EXPECT_FALSE(base.with_overrides(no_key).ok());
  const std::vector<std::string> bad_value = {"log.segment.bytes=abc"};
  error = base.with_overrides(bad_value);
  ASSERT_FALSE(error.ok());
  EXPECT_EQ(error.error().key, "log.segment.bytes");
  EXPECT_EQ(error.error().message, "log.segment.bytes: 'abc' is not an integer");
  const std::vector<std::string> unknown = {"no.such.key=1"};
  auto warned = base.with_overrides(unknown);
  ASSERT_TRUE(warned.ok());
  EXPECT_EQ(warned->warnings, std::vector<std::string>{"unknown config key 'no.such.key' ignored"});
}

const DescribedConfig& find(const std::vector<DescribedConfig>& described, std::string_view name) {
  const auto found = std::find_if(described.begin(), described.end(),
                                  [&](const DescribedConfig& d) { return d.name == name; });
  VERIFY(found != described.end(), "{} not described", name);
  return *found;
}

TEST(BrokerConfig, DescribeEveryKey) {
  const BrokerConfig c = config_with({{"log.retention.ms", "1000"}, {"num.partitions", "6"}});
  const auto described = c.describe();
  EXPECT_EQ(described.size(), BrokerConfig::key_specs().size());
  EXPECT_GT(described.size(), 80U);
  for (const DescribedConfig& entry : described) {
    EXPECT_TRUE(entry.read_only) << entry.name;
    EXPECT_FALSE(entry.sensitive) << entry.name;
    EXPECT_NE(entry.type, ConfigType::unknown) << entry.name;
    EXPECT_FALSE(entry.documentation.empty()) << entry.name;
  }
  const DescribedConfig& partitions = find(described, "num.partitions");
  EXPECT_EQ(partitions.value, "6");
  EXPECT_EQ(partitions.source, ConfigSource::static_broker_config);
  EXPECT_EQ(partitions.type, ConfigType::int32);
  EXPECT_EQ(partitions.synonyms,
            (std::vector<ConfigSynonym>{{"num.partitions", "6", ConfigSource::static_broker_config},
                                        {"num.partitions", "1", ConfigSource::default_config}}));
  const DescribedConfig& segment = find(described, "log.segment.bytes");
  EXPECT_EQ(segment.value, "1073741824");
  EXPECT_EQ(segment.source, ConfigSource::default_config);
  const DescribedConfig& flush = find(described, "log.flush.interval.messages");
  EXPECT_EQ(flush.value, "1");
  EXPECT_EQ(flush.type, ConfigType::int64);
  const DescribedConfig& minutes = find(described, "log.retention.minutes");
  EXPECT_FALSE(minutes.value.has_value());  // Kafka's null default
  EXPECT_EQ(minutes.synonyms, (std::vector<ConfigSynonym>{
                                  {"log.retention.ms", "1000", ConfigSource::static_broker_config},
                                  {"log.retention.hours", "168", ConfigSource::default_config}}));
  EXPECT_EQ(find(described, "offsets.topic.replication.factor").type, ConfigType::int16);
  EXPECT_EQ(find(described, "log.dirs").type, ConfigType::list);
  EXPECT_EQ(find(described, "log.cleaner.min.cleanable.ratio").value, "0.5");
}

TEST(BrokerConfig, DescribeFilter) {
  const std::vector<std::string> keys = {"node.id", "no.such.key", "listeners"};
  const auto described = BrokerConfig::embedded_default().describe(keys);
  ASSERT_EQ(described.size(), 2U);
  EXPECT_EQ(described[0].name, "node.id");
  EXPECT_EQ(described[0].value, "1");
  EXPECT_EQ(described[1].name, "listeners");
  EXPECT_EQ(described[1].value, "PLAINTEXT://127.0.0.1:9092,CONTROLLER://127.0.0.1:9093");
}

TEST(BrokerConfig, KeySpecsAreUnique) {
  std::vector<std::string> names;
  for (const auto& spec : BrokerConfig::key_specs()) names.push_back(spec.name);
  std::sort(names.begin(), names.end());
  EXPECT_EQ(std::adjacent_find(names.begin(), names.end()), names.end());
  EXPECT_NE(BrokerConfig::find_key("log.retention.hours"), nullptr);
  EXPECT_EQ(BrokerConfig::find_key("retention.ms"), nullptr);
}

}  // namespace
}  // namespace weir::config
