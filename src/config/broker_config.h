// BrokerConfig: Kafka's KRaft-mode server.properties keys, read with Kafka's names,
// defaults, precedence rules and validation (Kafka 4.x), plus weir's one deliberate
// difference: log.flush.interval.messages defaults to 1, so acknowledged data is
// fsynced (by group commit) unless the operator opts into Kafka's "no fsync, trust
// replication" mode by raising it. docs/config.md lists every key.
//
// Invariants of a BrokerConfig that parse() returned: every field holds a valid value;
// the derived fields (log_retention_ms, log_roll_ms, log_dirs, ...) already apply
// Kafka's precedence between synonyms; listeners are PLAINTEXT only; the roles, the
// controller listeners and the quorum agree with each other.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <absl/container/btree_map.h>

#include "base/result.h"
#include "config/properties.h"
#include "config/types.h"

namespace weir::config {

enum class SecurityProtocol : uint8_t { plaintext, ssl, sasl_plaintext, sasl_ssl };
std::string_view security_protocol_name(SecurityProtocol protocol);

// One entry of listeners / advertised.listeners: NAME://host:port.
struct Endpoint {
  std::string listener_name;  // upper case: Kafka normalises listener names
  std::string host;           // "" = every interface (also written 0.0.0.0 or [::])
  uint16_t port = 0;          // 0 = an ephemeral port chosen at bind time
  bool operator==(const Endpoint&) const = default;
  // "NAME://host:port", with brackets around an IPv6 host.
  std::string to_string() const;
};

// True for the hosts Kafka treats as "every interface": "", 0.0.0.0 and ::.
bool is_wildcard_host(std::string_view host);

// The endpoint registered for others to connect to, as Kafka's
// ListenerInfo#withWildcardHostnamesResolved and #withEphemeralPortsCorrected make it:
// a wildcard host becomes this machine's canonical host name (the caller looks it up
// through the runtime seam) and port 0 becomes the port actually bound.
Endpoint resolve_advertised(const Endpoint& endpoint, std::string_view local_host_name,
                            uint16_t bound_port);

struct HostPort {
  std::string host;
  uint16_t port = 0;
  bool operator==(const HostPort&) const = default;
};

// One entry of controller.quorum.voters: id@host:port.
struct QuorumVoter {
  int32_t node_id = 0;
  HostPort address;
  bool operator==(const QuorumVoter&) const = default;
};

struct BrokerConfigLoad;

// A default-constructed BrokerConfig is not a valid one (no roles, no node id): make
// one with parse(), parse_text(), from_values() or embedded_default().
struct BrokerConfig {
  // --- KRaft roles and quorum ----------------------------------------------------
  // process.roles: broker, controller or both (no default: KRaft requires it).
  bool broker_role = false;
  bool controller_role = false;
  // node.id (required, >= 0).
  int32_t node_id = -1;
  // controller.quorum.voters: the static quorum, id@host:port,...
  std::vector<QuorumVoter> controller_quorum_voters;
  // controller.quorum.bootstrap.servers: host:port,... (dynamic quorum, KIP-853).
  std::vector<HostPort> controller_quorum_bootstrap_servers;
  // controller.listener.names (required).
  std::vector<std::string> controller_listener_names;
  // controller.quorum.election.timeout.ms, .fetch.timeout.ms, .election.backoff.max.ms,
  // .request.timeout.ms, .retry.backoff.ms, .append.linger.ms.
  int32_t controller_quorum_election_timeout_ms = 1000;
  int32_t controller_quorum_fetch_timeout_ms = 2000;
  int32_t controller_quorum_election_backoff_max_ms = 1000;
  int32_t controller_quorum_request_timeout_ms = 2000;
  int32_t controller_quorum_retry_backoff_ms = 20;
  int32_t controller_quorum_append_linger_ms = 25;
  // broker.heartbeat.interval.ms, broker.session.timeout.ms.
  int32_t broker_heartbeat_interval_ms = 2000;
  int32_t broker_session_timeout_ms = 9000;

  // --- Listeners -------------------------------------------------------------------
  // listeners (default PLAINTEXT://:9092): what to bind.
  std::vector<Endpoint> listeners;
  // advertised.listeners as configured (empty when unset; see advertised_listener()).
  std::vector<Endpoint> advertised_listeners;
  // listener.security.protocol.map, effective: when the key is not set, Kafka's default
  // map plus NAME:PLAINTEXT for each controller listener name it lacks.
  absl::btree_map<std::string, SecurityProtocol> listener_security_protocol_map;
  // inter.broker.listener.name, effective: else the listener named after
  // security.inter.broker.protocol (PLAINTEXT).
  std::string inter_broker_listener_name;
  // broker.rack.
  std::optional<std::string> broker_rack;

  // --- Requests --------------------------------------------------------------------
  int32_t socket_request_max_bytes = 104857600;  // socket.request.max.bytes
  int32_t message_max_bytes = 1048588;           // message.max.bytes

  // --- Topic defaults --------------------------------------------------------------
  int32_t num_partitions = 1;                   // num.partitions
  int32_t default_replication_factor = 1;       // default.replication.factor
  int32_t min_insync_replicas = 1;              // min.insync.replicas
  bool unclean_leader_election_enable = false;  // unclean.leader.election.enable
  int16_t eligible_leader_replicas_version = 1;  // eligible.leader.replicas.version
  bool auto_leader_rebalance_enable = true;     // auto.leader.rebalance.enable
  int64_t leader_imbalance_check_interval_seconds = 300;  // leader.imbalance.check...
  int32_t leader_imbalance_per_broker_percentage = 10;    // leader.imbalance.per.broker...
  bool auto_create_topics_enable = true;        // auto.create.topics.enable
  bool delete_topic_enable = true;              // delete.topic.enable
  std::string compression_type = "producer";    // compression.type
  int32_t compression_gzip_level = -1;          // compression.gzip.level
  int32_t compression_lz4_level = 9;            // compression.lz4.level
  int32_t compression_zstd_level = 3;           // compression.zstd.level

  // --- Log -------------------------------------------------------------------------
  // log.dirs, else log.dir (default /tmp/kafka-logs).
  std::vector<std::string> log_dirs;
  // metadata.log.dir, else the first of log_dirs.
  std::string metadata_log_dir;
  int32_t metadata_log_segment_bytes = 1 << 30;  // metadata.log.segment.bytes
  // metadata.log.max.record.bytes.between.snapshots
  int64_t metadata_log_max_record_bytes_between_snapshots = 20 << 20;
  int64_t metadata_log_max_snapshot_interval_ms = 3600000;  // metadata.log.max.snapshot.interval.ms
  int32_t log_segment_bytes = 1 << 30;                      // log.segment.bytes
  int64_t log_roll_ms = 0;                                  // log.roll.ms, else log.roll.hours
  int64_t log_roll_jitter_ms = 0;                           // log.roll.jitter.ms, else .hours
  // log.retention.ms, else log.retention.minutes, else log.retention.hours (168);
  // any negative value means unlimited and reads as -1.
  int64_t log_retention_ms = 0;
  int64_t log_retention_bytes = -1;                       // log.retention.bytes
  int64_t log_retention_check_interval_ms = 300000;       // log.retention.check.interval.ms
  std::vector<std::string> log_cleanup_policy;            // log.cleanup.policy
  bool log_cleaner_enable = true;                         // log.cleaner.enable
  int64_t log_cleaner_delete_retention_ms = 86400000;     // log.cleaner.delete.retention.ms
  int64_t log_cleaner_min_compaction_lag_ms = 0;          // log.cleaner.min.compaction.lag.ms
  int64_t log_cleaner_max_compaction_lag_ms = 0;          // log.cleaner.max.compaction.lag.ms
  double log_cleaner_min_cleanable_ratio = 0.5;           // log.cleaner.min.cleanable.ratio
  int32_t log_index_interval_bytes = 4096;                // log.index.interval.bytes
  int32_t log_index_size_max_bytes = 10485760;            // log.index.size.max.bytes
  std::string log_message_timestamp_type = "CreateTime";  // log.message.timestamp.type
  int64_t log_message_timestamp_before_max_ms = 0;        // log.message.timestamp.before.max.ms
  int64_t log_message_timestamp_after_max_ms = 0;         // log.message.timestamp.after.max.ms
  // log.flush.interval.messages: weir's default is 1 (Kafka's is Long.MAX_VALUE).
  int64_t log_flush_interval_messages = 1;
  // log.flush.interval.ms, else log.flush.scheduler.interval.ms (Long.MAX_VALUE).
  int64_t log_flush_interval_ms = 0;
  int64_t log_segment_delete_delay_ms = 60000;  // log.segment.delete.delay.ms
  bool log_preallocate = false;                 // log.preallocate
  int64_t log_local_retention_ms = -2;          // log.local.retention.ms
  int64_t log_local_retention_bytes = -2;       // log.local.retention.bytes

  // --- Internal topics, groups, transactions ---------------------------------------
  int16_t offsets_topic_replication_factor = 3;          // offsets.topic.replication.factor
  int32_t offsets_topic_num_partitions = 50;             // offsets.topic.num.partitions
  int32_t offsets_topic_segment_bytes = 104857600;       // offsets.topic.segment.bytes
  int32_t offsets_retention_minutes = 10080;             // offsets.retention.minutes
  int32_t offsets_commit_timeout_ms = 5000;              // offsets.commit.timeout.ms
  int16_t transaction_state_log_replication_factor = 3;  // transaction.state.log.replication.factor
  int32_t transaction_state_log_min_isr = 2;             // transaction.state.log.min.isr
  int32_t transaction_state_log_num_partitions = 50;     // transaction.state.log.num.partitions
  int32_t transaction_state_log_segment_bytes = 104857600;
  int32_t transaction_max_timeout_ms = 900000;         // transaction.max.timeout.ms
  int32_t transactional_id_expiration_ms = 604800000;  // transactional.id.expiration.ms
  int32_t producer_id_expiration_ms = 86400000;        // producer.id.expiration.ms
  int32_t group_initial_rebalance_delay_ms = 3000;     // group.initial.rebalance.delay.ms
  int32_t group_min_session_timeout_ms = 6000;         // group.min.session.timeout.ms
  int32_t group_max_session_timeout_ms = 1800000;      // group.max.session.timeout.ms
  int32_t group_max_size = 2147483647;                 // group.max.size
  int32_t group_consumer_session_timeout_ms = 45000;   // group.consumer.session.timeout.ms
  int32_t group_consumer_heartbeat_interval_ms = 5000;  // group.consumer.heartbeat.interval.ms
  int32_t group_consumer_max_size = 2147483647;         // group.consumer.max.size
  std::vector<std::string> group_consumer_assignors = {"uniform", "range"};

  // --- Replication -----------------------------------------------------------------
  int64_t replica_lag_time_max_ms = 30000;    // replica.lag.time.max.ms
  int32_t replica_fetch_max_bytes = 1048576;  // replica.fetch.max.bytes
  int32_t replica_fetch_min_bytes = 1;        // replica.fetch.min.bytes
  int32_t replica_fetch_wait_max_ms = 500;    // replica.fetch.wait.max.ms
  int32_t replica_socket_timeout_ms = 30000;  // replica.socket.timeout.ms
  int32_t replica_fetch_backoff_ms = 1000;    // replica.fetch.backoff.ms
  int32_t replica_fetch_response_max_bytes = 10485760;  // replica.fetch.response.max.bytes

  // Thread counts, socket buffers and queue sizes (num.network.threads, num.io.threads,
  // background.threads, num.replica.fetchers, num.recovery.threads.per.data.dir,
  // queued.max.requests, socket.send.buffer.bytes, socket.receive.buffer.bytes, share
  // coordinator topic settings) are validated and then ignored: weir runs one thread
  // of fibers, so they have nothing to size.

  // --- Reading ---------------------------------------------------------------------
  // server.properties text after Properties::parse. Unknown keys and repeated keys are
  // warnings; the first invalid key (in key order) is the error.
  static Result<BrokerConfigLoad, ConfigError> parse(const Properties& properties);
  // Properties::parse then parse(); a syntax error comes back as a ConfigError with an
  // empty key and the message "server.properties line N: ...".
  static Result<BrokerConfigLoad, ConfigError> parse_text(std::string_view text);
  static Result<BrokerConfigLoad, ConfigError> from_values(
      const absl::btree_map<std::string, std::string>& values);
  // `weir server` with no configuration: one combined broker and controller, node 1,
  // PLAINTEXT://127.0.0.1:9092 and CONTROLLER://127.0.0.1:9093, data under ./data,
  // and the internal topics at replication factor 1 (as Kafka's sample
  // config/server.properties sets them for one node).
  static BrokerConfig embedded_default();
  // This config with `--override key=value` arguments applied on top (later ones
  // win), re-validated as a whole.
  Result<BrokerConfigLoad, ConfigError> with_overrides(
      std::span<const std::string> overrides) const;

  // --- Listeners -------------------------------------------------------------------
  // The endpoint to bind for a listener name (case-insensitive), if configured.
  std::optional<Endpoint> listener(std::string_view name) const;
  // The endpoint to advertise for a listener name, as Kafka 4 derives it: the
  // advertised.listeners entry; without one, the listeners entry when
  // advertised.listeners is unset or the name is a controller listener. A wildcard
  // host or port 0 stays as configured: see resolve_advertised().
  std::optional<Endpoint> advertised_listener(std::string_view name) const;
  // The listeners clients and other brokers use (advertised, controller ones left out).
  std::vector<Endpoint> advertised_broker_listeners() const;
  bool is_controller_listener(std::string_view name) const;

  // --- Describing ------------------------------------------------------------------
  // DescribeConfigs for the BROKER resource (type 4): every key weir reads (or only
  // `keys`, when not empty; unknown names are skipped), with the value as set or the
  // default, source STATIC_BROKER_CONFIG or DEFAULT_CONFIG, read-only (weir serves no
  // dynamic broker configs).
  std::vector<DescribedConfig> describe(std::span<const std::string> keys = {}) const;
  // The known keys set in the configuration, with their text (trimmed).
  const absl::btree_map<std::string, std::string>& static_values() const { return static_; }
  // Every key as given, unknown ones included (what with_overrides re-reads).
  const absl::btree_map<std::string, std::string>& raw_values() const { return raw_; }

  // The description of one broker key: Kafka's type and default (weir's default
  // where it differs; nullopt for Kafka's null), and a short documentation.
  struct KeySpec {
    std::string name;
    ConfigType type = ConfigType::unknown;
    std::optional<std::string> default_value;
    std::string documentation;
  };
  static const std::vector<KeySpec>& key_specs();
  static const KeySpec* find_key(std::string_view name);

 private:
  absl::btree_map<std::string, std::string> static_;
  absl::btree_map<std::string, std::string> raw_;
};

// A parsed config and what was wrong but not fatal ("unknown config key 'x' ignored").
struct BrokerConfigLoad {
  BrokerConfig config;
  std::vector<std::string> warnings;
};

}  // namespace weir::config
