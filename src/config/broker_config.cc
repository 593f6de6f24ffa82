#include "config/broker_config.h"

#include <algorithm>
#include <limits>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "config/value.h"

namespace weir::config {

namespace {

constexpr int64_t int32_min = std::numeric_limits<int32_t>::min();
constexpr int64_t int32_max = std::numeric_limits<int32_t>::max();
constexpr int64_t int64_min = std::numeric_limits<int64_t>::min();
constexpr int64_t int64_max = std::numeric_limits<int64_t>::max();
constexpr int64_t ms_per_minute = 60 * 1000;
constexpr int64_t ms_per_hour = 60 * ms_per_minute;

// Kafka's listener.security.protocol.map default (KRaft adds CONTROLLER:PLAINTEXT).
constexpr std::string_view default_protocol_map =
    "SASL_SSL:SASL_SSL,PLAINTEXT:PLAINTEXT,SSL:SSL,SASL_PLAINTEXT:SASL_PLAINTEXT";

std::string upper_case(std::string_view text) {
  std::string out(text);
  for (char& c : out) {
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
  }
  return out;
}

std::optional<SecurityProtocol> security_protocol_named(std::string_view name) {
  if (name == "PLAINTEXT") return SecurityProtocol::plaintext;
  if (name == "SSL") return SecurityProtocol::ssl;
  if (name == "SASL_PLAINTEXT") return SecurityProtocol::sasl_plaintext;
  if (name == "SASL_SSL") return SecurityProtocol::sasl_ssl;
  return std::nullopt;
}

ConfigError key_error(std::string_view key, std::string message) {
  return ConfigError{std::string(key), fmt::format("{}: {}", key, message)};
}

// Reads "host:port" or "[v6]:port" (the part after NAME:// or id@). Port 0 is
// accepted only when `allow_port_zero`.
std::optional<HostPort> parse_host_port(std::string_view text, bool allow_port_zero) {
  std::string_view host;
  std::string_view port_text;
  if (!text.empty() && text.front() == '[') {
    const size_t close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':') {
      return std::nullopt;
    }
    host = text.substr(1, close - 1);
    port_text = text.substr(close + 2);
  } else {
    const size_t colon = text.rfind(':');
    if (colon == std::string_view::npos) return std::nullopt;
    host = text.substr(0, colon);
    port_text = text.substr(colon + 1);
  }
  // Kafka's listener regex: host characters are [0-9a-zA-Z-%._:].
  for (const char c : host) {
    const bool ok = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                    c == '-' || c == '%' || c == '.' || c == '_' || c == ':';
    if (!ok) return std::nullopt;
  }
  const auto port = parse_int("", port_text, allow_port_zero ? 0 : 1, 65535);
  if (!port.ok()) return std::nullopt;
  return HostPort{std::string(host), static_cast<uint16_t>(port.value())};
}

// Reads each key of the configuration once, recording its description as it goes, so
// that the list of keys, their types and defaults has a single source: the calls below.
class Reader {
 public:
  explicit Reader(const absl::btree_map<std::string, std::string>& values) : values_(values) {}

  int64_t integer(std::string_view key, ConfigType type, int64_t default_value, int64_t min,
                  int64_t max, std::string_view doc) {
    VERIFY(default_value >= min && default_value <= max, "{}: default out of range", key);
    record(key, type, std::to_string(default_value), doc);
    const auto text = lookup(key);
    if (!text) return default_value;
    auto parsed = parse_int(key, *text, min, max);
    if (!parsed.ok()) {
      fail(parsed.error());
      return default_value;
    }
    return parsed.value();
  }
  int32_t int32(std::string_view key, int32_t default_value, int64_t min, int64_t max,
                std::string_view doc) {
    VERIFY(min >= int32_min && max <= int32_max, "{}: INT range", key);
    return static_cast<int32_t>(integer(key, ConfigType::int32, default_value, min, max, doc));
  }
  int16_t int16(std::string_view key, int16_t default_value, int64_t min, std::string_view doc) {
    return static_cast<int16_t>(integer(key, ConfigType::int16, default_value, min,
                                        std::numeric_limits<int16_t>::max(), doc));
  }
  int64_t int64(std::string_view key, int64_t default_value, int64_t min, std::string_view doc) {
    return integer(key, ConfigType::int64, default_value, min, int64_max, doc);
  }
  // A number whose default is Kafka's null (the key defers to a synonym).
  std::optional<int64_t> optional_integer(std::string_view key, ConfigType type, int64_t min,
                                          int64_t max, std::string_view doc) {
    record(key, type, std::nullopt, doc);
    const auto text = lookup(key);
    if (!text) return std::nullopt;
    auto parsed = parse_int(key, *text, min, max);
    if (!parsed.ok()) {
      fail(parsed.error());
      return std::nullopt;
    }
    return parsed.value();
  }
  bool boolean(std::string_view key, bool default_value, std::string_view doc) {
    record(key, ConfigType::boolean, default_value ? "true" : "false", doc);
    const auto text = lookup(key);
    if (!text) return default_value;
    auto parsed = parse_bool(key, *text);
    if (!parsed.ok()) {
      fail(parsed.error());
      return default_value;
    }
    return parsed.value();
  }
  double float64(std::string_view key, double default_value, double min, double max,
                 std::string_view doc) {
    record(key, ConfigType::float64, format_double(default_value), doc);
    const auto text = lookup(key);
    if (!text) return default_value;
    auto parsed = parse_double(key, *text, min, max);
    if (!parsed.ok()) {
      fail(parsed.error());
      return default_value;
    }
    return parsed.value();
  }
  std::optional<std::string> string(std::string_view key,
                                    std::optional<std::string_view> default_value,
                                    std::string_view doc) {
    record(key, ConfigType::string,
           default_value ? std::optional<std::string>(*default_value) : std::nullopt, doc);
    const auto text = lookup(key);
    if (!text) {
      return default_value ? std::optional<std::string>(*default_value) : std::nullopt;
    }
    return std::string(trim(*text));
  }
  std::string one_of(std::string_view key, std::string_view default_value,
                     const std::vector<std::string_view>& allowed, std::string_view doc) {
    record(key, ConfigType::string, std::string(default_value), doc);
    const auto text = lookup(key);
    if (!text) return std::string(default_value);
    auto parsed = parse_one_of(key, *text, allowed);
    if (!parsed.ok()) {
      fail(parsed.error());
      return std::string(default_value);
    }
    return parsed.value();
  }
  std::optional<std::vector<std::string>> list(std::string_view key,
                                               std::optional<std::string_view> default_value,
                                               std::string_view doc) {
    record(key, ConfigType::list,
           default_value ? std::optional<std::string>(*default_value) : std::nullopt, doc);
    const auto text = lookup(key);
    if (text) return split_list(*text);
    if (default_value) return split_list(*default_value);
    return std::nullopt;
  }

  bool is_set(std::string_view key) const { return values_.contains(std::string(key)); }
  std::string text(std::string_view key) const {
    const auto found = values_.find(std::string(key));
    return found == values_.end() ? std::string() : std::string(trim(found->second));
  }

  // Keeps the first error: one message about the first bad key beats a cascade.
  void fail(ConfigError error) {
    if (!error_) error_ = std::move(error);
  }
  const std::optional<ConfigError>& error() const { return error_; }
  std::vector<BrokerConfig::KeySpec> take_specs() { return std::move(specs_); }

 private:
  void record(std::string_view key, ConfigType type, std::optional<std::string> default_value,
              std::string_view doc) {
    specs_.push_back(
        BrokerConfig::KeySpec{std::string(key), type, std::move(default_value), std::string(doc)});
  }
  std::optional<std::string_view> lookup(std::string_view key) const {
    const auto found = values_.find(std::string(key));
    if (found == values_.end()) return std::nullopt;
    return std::string_view(found->second);
  }

  const absl::btree_map<std::string, std::string>& values_;
  std::vector<BrokerConfig::KeySpec> specs_;
  std::optional<ConfigError> error_;
};

bool is_ipv4_literal(std::string_view host) {
  return !host.empty() && host.find_first_not_of("0123456789.") == std::string_view::npos;
}

// Kafka (requireDistinctPorts for `listeners`): two listeners may share a port only
// when one binds an IPv4 address and the other an IPv6 address. Port 0 is ephemeral,
// never shared.
bool may_share_port(const Endpoint& a, const Endpoint& b) {
  const bool a_v6 = a.host.find(':') != std::string::npos;
  const bool b_v6 = b.host.find(':') != std::string::npos;
  return (a_v6 && is_ipv4_literal(b.host)) || (b_v6 && is_ipv4_literal(a.host));
}

std::optional<std::vector<Endpoint>> parse_endpoints(Reader& r, std::string_view key,
                                                     const std::vector<std::string>& items,
                                                     bool require_distinct_ports) {
  std::vector<Endpoint> endpoints;
  for (const std::string& item : items) {
    const size_t separator = item.find("://");
    std::optional<HostPort> address;
    if (separator != std::string::npos && separator > 0) {
      address = parse_host_port(std::string_view(item).substr(separator + 3), true);
    }
    if (!address) {
      r.fail(value_error(key, item, "is not a listener (NAME://host:port)"));
      return std::nullopt;
    }
    Endpoint endpoint{upper_case(item.substr(0, separator)), address->host, address->port};
    for (const Endpoint& other : endpoints) {
      if (other.listener_name == endpoint.listener_name) {
        r.fail(key_error(key,
                         fmt::format("listener name '{}' appears twice", endpoint.listener_name)));
        return std::nullopt;
      }
      if (require_distinct_ports && endpoint.port != 0 && other.port == endpoint.port &&
          !may_share_port(other, endpoint)) {
        r.fail(key_error(
            key, fmt::format("listeners '{}' and '{}' both use port {}", other.listener_name,
                             endpoint.listener_name, endpoint.port)));
        return std::nullopt;
      }
    }
    endpoints.push_back(std::move(endpoint));
  }
  return endpoints;
}

void read_keys(Reader& r, BrokerConfig& c) {
  // --- KRaft roles and quorum.
  if (const auto roles = r.list("process.roles", std::nullopt,
                                "The roles this node plays: broker, controller or both.")) {
    for (const std::string& role : *roles) {
      bool& flag = role == "broker" ? c.broker_role : c.controller_role;
      if (role != "broker" && role != "controller") {
        r.fail(value_error("process.roles", r.text("process.roles"),
                           fmt::format("has unknown role '{}' (broker, controller)", role)));
      } else if (flag) {
        r.fail(value_error("process.roles", r.text("process.roles"),
                           fmt::format("lists '{}' twice", role)));
      }
      flag = true;
    }
  }
  c.node_id = r.int32("node.id", -1, int32_min, int32_max,
                      "The node id of this broker or controller (required).");
  const auto voters =
      r.list("controller.quorum.voters", "", "The static controller quorum: id@host:port,...");
  for (const std::string& item : *voters) {
    const size_t at = item.find('@');
    std::optional<HostPort> address;
    int64_t id = -1;
    if (at != std::string::npos) {
      const auto parsed_id = parse_int("", std::string_view(item).substr(0, at), 0, int32_max);
      if (parsed_id.ok()) id = parsed_id.value();
      address = parse_host_port(std::string_view(item).substr(at + 1), false);
    }
    if (id < 0 || !address || address->host.empty()) {
      r.fail(value_error("controller.quorum.voters", item, "is not a voter (id@host:port)"));
      break;
    }
    for (const QuorumVoter& other : c.controller_quorum_voters) {
      if (other.node_id == id) {
        r.fail(key_error("controller.quorum.voters", fmt::format("voter id {} appears twice", id)));
      }
    }
    c.controller_quorum_voters.push_back(QuorumVoter{static_cast<int32_t>(id), *address});
  }
  const auto bootstrap = r.list("controller.quorum.bootstrap.servers", "",
                                "Controllers to discover the quorum from: host:port,...");
  for (const std::string& item : *bootstrap) {
    const auto address = parse_host_port(item, false);
    if (!address || address->host.empty()) {
      r.fail(value_error("controller.quorum.bootstrap.servers", item, "is not host:port"));
      break;
    }
    c.controller_quorum_bootstrap_servers.push_back(*address);
  }
  for (const std::string& name : r.list("controller.listener.names", std::nullopt,
                                        "The listener names used by the controllers (required).")
                                     .value_or(std::vector<std::string>{})) {
    c.controller_listener_names.push_back(upper_case(name));
  }
  c.controller_quorum_election_timeout_ms =
      r.int32("controller.quorum.election.timeout.ms", 1000, 0, int32_max,
              "Time without a leader before a voter starts an election.");
  c.controller_quorum_fetch_timeout_ms =
      r.int32("controller.quorum.fetch.timeout.ms", 2000, 0, int32_max,
              "Time without a successful fetch before a follower becomes a candidate.");
  c.controller_quorum_election_backoff_max_ms =
      r.int32("controller.quorum.election.backoff.max.ms", 1000, 0, int32_max,
              "Upper bound of the randomised backoff before a new election.");
  c.controller_quorum_request_timeout_ms = r.int32("controller.quorum.request.timeout.ms", 2000, 0,
                                                   int32_max, "Timeout of one quorum request.");
  c.controller_quorum_retry_backoff_ms = r.int32("controller.quorum.retry.backoff.ms", 20, 0,
                                                 int32_max, "Backoff before a retried request.");
  c.controller_quorum_append_linger_ms =
      r.int32("controller.quorum.append.linger.ms", 25, 0, int32_max,
              "How long the quorum leader gathers writes before flushing them.");
  c.broker_heartbeat_interval_ms = r.int32("broker.heartbeat.interval.ms", 2000, 0, int32_max,
                                           "Time between broker heartbeats to the controller.");
  c.broker_session_timeout_ms = r.int32("broker.session.timeout.ms", 9000, 0, int32_max,
                                        "A broker without a heartbeat for this long is fenced.");

  // --- Listeners.
  if (const auto items = r.list("listeners", "PLAINTEXT://:9092",
                                "Addresses to listen on: NAME://host:port,... (empty host: "
                                "every interface).")) {
    c.listeners = parse_endpoints(r, "listeners", *items, true).value_or(std::vector<Endpoint>{});
  }
  if (const auto items = r.list("advertised.listeners", std::nullopt,
                                "Addresses published for clients and other nodes; defaults "
                                "to listeners.")) {
    c.advertised_listeners =
        parse_endpoints(r, "advertised.listeners", *items, false).value_or(std::vector<Endpoint>{});
  }
  const auto map_text = r.string("listener.security.protocol.map", default_protocol_map,
                                 "Listener name to security protocol: NAME:PROTOCOL,...");
  for (const std::string& item : split_list(*map_text)) {
    const size_t colon = item.find(':');
    const std::optional<SecurityProtocol> protocol =
        colon == std::string::npos
            ? std::nullopt
            : security_protocol_named(upper_case(trim(std::string_view(item).substr(colon + 1))));
    if (!protocol || colon == 0) {
      r.fail(value_error("listener.security.protocol.map", item,
                         "is not NAME:PROTOCOL (PLAINTEXT, SSL, SASL_PLAINTEXT, SASL_SSL)"));
      break;
    }
    c.listener_security_protocol_map[upper_case(trim(item.substr(0, colon)))] = *protocol;
  }
  if (!r.is_set("listener.security.protocol.map")) {
    // Kafka (KRaft): controller listener names missing from the default map are PLAINTEXT.
    for (const std::string& name : c.controller_listener_names) {
      c.listener_security_protocol_map.try_emplace(name, SecurityProtocol::plaintext);
    }
  }
  const auto inter_broker_name = r.string("inter.broker.listener.name", std::nullopt,
                                          "The listener brokers use to talk to each other.");
  const auto inter_broker_protocol =
      r.one_of("security.inter.broker.protocol", "PLAINTEXT",
               {"PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"},
               "The security protocol between brokers when inter.broker.listener.name is unset.");
  if (inter_broker_name && r.is_set("security.inter.broker.protocol")) {
    r.fail(key_error("inter.broker.listener.name",
                     "only one of inter.broker.listener.name and security.inter.broker.protocol "
                     "may be set"));
  }
  c.inter_broker_listener_name =
      inter_broker_name ? upper_case(*inter_broker_name) : inter_broker_protocol;
  c.broker_rack = r.string("broker.rack", std::nullopt, "The rack of this broker.");

  // --- Accepted and ignored: weir is single-threaded (one thread of fibers).
  r.int32("num.network.threads", 3, 1, int32_max, "Ignored: weir runs one thread of fibers.");
  r.int32("num.io.threads", 8, 1, int32_max, "Ignored: weir runs one thread of fibers.");
  r.int32("background.threads", 10, 1, int32_max, "Ignored: weir runs one thread of fibers.");
  r.int32("num.replica.fetchers", 1, int32_min, int32_max,
          "Ignored: weir runs one thread of fibers.");
  r.int32("num.recovery.threads.per.data.dir", 2, 1, int32_max,
          "Ignored: weir runs one thread of fibers.");
  r.int32("queued.max.requests", 500, 1, int32_max,
          "Ignored: weir bounds requests per connection.");
  r.int32("socket.send.buffer.bytes", 102400, int32_min, int32_max,
          "Ignored: weir keeps the kernel's socket buffer sizes.");
  r.int32("socket.receive.buffer.bytes", 102400, int32_min, int32_max,
          "Ignored: weir keeps the kernel's socket buffer sizes.");
  r.int16("share.coordinator.state.topic.replication.factor", 3, 1,
          "Ignored: weir has no share groups.");
  r.int32("share.coordinator.state.topic.min.isr", 2, 1, int32_max,
          "Ignored: weir has no share groups.");

  // --- Requests.
  c.socket_request_max_bytes =
      r.int32("socket.request.max.bytes", 104857600, 1, int32_max, "The largest request accepted.");
  c.message_max_bytes = r.int32("message.max.bytes", 1048588, 0, int32_max,
                                "The largest record batch accepted (topic: max.message.bytes).");

  // --- Topic defaults.
  c.num_partitions = r.int32("num.partitions", 1, 1, int32_max,
                             "Partitions of an auto-created topic or one created without a count.");
  c.default_replication_factor = r.int32("default.replication.factor", 1, 1, int32_max,
                                         "Replication factor of a topic created without one.");
  c.min_insync_replicas = r.int32("min.insync.replicas", 1, 1, int32_max,
                                  "In-sync replicas an acks=all produce needs.");
  c.unclean_leader_election_enable =
      r.boolean("unclean.leader.election.enable", false,
                "Elect an out-of-sync replica as a last resort, losing data.");
  c.eligible_leader_replicas_version =
      static_cast<int16_t>(r.int32("eligible.leader.replicas.version", 1, 0, 1,
                                   "KIP-966 level a new cluster starts with (Kafka sets it "
                                   "with kafka-storage format --feature); an existing "
                                   "cluster keeps its own."));
  c.auto_leader_rebalance_enable =
      r.boolean("auto.leader.rebalance.enable", true,
                "Move leadership back to preferred replicas that are in sync, periodically.");
  c.leader_imbalance_check_interval_seconds =
      std::min(r.int64("leader.imbalance.check.interval.seconds", 300, 1,
                       "How often the controller looks for partitions off their preferred "
                       "leader."),
               int64_max / 1000);
  // Accepted for Kafka's configs; a KRaft controller (Kafka's and weir's) rebalances
  // whenever any partition is off its preferred leader.
  c.leader_imbalance_per_broker_percentage =
      r.int32("leader.imbalance.per.broker.percentage", 10, 0, 100,
              "Accepted; KRaft rebalances any imbalance.");
  c.auto_create_topics_enable = r.boolean("auto.create.topics.enable", true,
                                          "Create a topic when metadata for it is requested.");
  c.delete_topic_enable = r.boolean("delete.topic.enable", true, "Allow deleting topics.");
  c.compression_type = r.one_of("compression.type", "producer",
                                {"uncompressed", "zstd", "lz4", "snappy", "gzip", "producer"},
                                "Codec of stored batches; producer keeps the producer's.");
  c.compression_gzip_level = r.int32("compression.gzip.level", -1, -1, 9,
                                     "gzip level when the broker recompresses (-1 or 1..9).");
  if (c.compression_gzip_level == 0) {
    r.fail(value_error("compression.gzip.level", r.text("compression.gzip.level"),
                       "must be -1 or between 1 and 9"));
  }
  c.compression_lz4_level =
      r.int32("compression.lz4.level", 9, 1, 17, "lz4 level when the broker recompresses.");
  c.compression_zstd_level =
      r.int32("compression.zstd.level", 3, -131072, 22, "zstd level when the broker recompresses.");

  // --- Log.
  const auto log_dirs = r.list("log.dirs", std::nullopt, "Directories holding the log data.");
  const auto log_dir =
      r.list("log.dir", "/tmp/kafka-logs", "The log directory when log.dirs is not set.");
  const std::string_view dirs_key = log_dirs ? "log.dirs" : "log.dir";
  c.log_dirs = log_dirs ? *log_dirs : *log_dir;
  if (c.log_dirs.empty()) {
    r.fail(key_error(dirs_key, "must name at least one directory"));
  }
  for (size_t k = 0; k < c.log_dirs.size(); k++) {
    if (c.log_dirs[k].empty())
      r.fail(value_error(dirs_key, r.text(dirs_key), "has an empty entry"));
    for (size_t j = 0; j < k; j++) {
      if (c.log_dirs[j] == c.log_dirs[k]) {
        r.fail(value_error(dirs_key, r.text(dirs_key),
                           fmt::format("lists '{}' twice", c.log_dirs[k])));
      }
    }
  }
  const auto metadata_dir = r.string("metadata.log.dir", std::nullopt,
                                     "Directory of the metadata log; default: the first log dir.");
  c.metadata_log_dir =
      metadata_dir ? *metadata_dir : (c.log_dirs.empty() ? std::string() : c.log_dirs.front());
  c.metadata_log_segment_bytes =
      r.int32("metadata.log.segment.bytes", 1 << 30, 4096, int32_max,
              "Size at which a metadata log segment rolls (snapshots drop whole segments).");
  c.metadata_log_max_record_bytes_between_snapshots =
      r.int64("metadata.log.max.record.bytes.between.snapshots", 20 << 20, 1,
              "Metadata log bytes applied after which a node snapshots its metadata image.");
  c.metadata_log_max_snapshot_interval_ms =
      r.int64("metadata.log.max.snapshot.interval.ms", 3600000, 0,
              "Longest wait before snapshotting applied metadata records; 0: by bytes only.");
  c.log_segment_bytes = r.int32("log.segment.bytes", 1 << 30, 1024 * 1024, int32_max,
                                "Size at which a segment rolls.");
  const auto roll_ms =
      r.optional_integer("log.roll.ms", ConfigType::int64, int64_min, int64_max,
                         "Age at which a segment rolls; overrides log.roll.hours.");
  const int64_t roll_hours =
      r.int32("log.roll.hours", 168, 1, int32_max, "Age at which a segment rolls, in hours.");
  c.log_roll_ms = roll_ms ? *roll_ms : roll_hours * ms_per_hour;
  if (c.log_roll_ms < 1) {
    r.fail(value_error("log.roll.ms", r.text("log.roll.ms"), "must be at least 1"));
  }
  const auto jitter_ms =
      r.optional_integer("log.roll.jitter.ms", ConfigType::int64, int64_min, int64_max,
                         "Random jitter subtracted from the roll age; overrides the hours.");
  const int64_t jitter_hours = r.int32("log.roll.jitter.hours", 0, 0, int32_max,
                                       "Random jitter subtracted from the roll age, in hours.");
  c.log_roll_jitter_ms = jitter_ms ? *jitter_ms : jitter_hours * ms_per_hour;
  if (c.log_roll_jitter_ms < 0) {
    r.fail(value_error("log.roll.jitter.ms", r.text("log.roll.jitter.ms"), "must be at least 0"));
  }
  const auto retention_ms =
      r.optional_integer("log.retention.ms", ConfigType::int64, int64_min, int64_max,
                         "Age at which a segment is deleted (-1: never); overrides the minutes "
                         "and hours.");
  const auto retention_minutes =
      r.optional_integer("log.retention.minutes", ConfigType::int32, int32_min, int32_max,
                         "Retention in minutes; overrides log.retention.hours.");
  const int64_t retention_hours =
      r.int32("log.retention.hours", 168, int32_min, int32_max, "Retention in hours.");
  // Kafka's precedence (KafkaConfig#logRetentionTimeMillis): ms, then minutes, then
  // hours; any negative result means unlimited; zero is refused.
  std::string_view retention_key = "log.retention.hours";
  int64_t retention = retention_hours * ms_per_hour;
  if (retention_ms) {
    retention_key = "log.retention.ms";
    retention = *retention_ms;
  } else if (retention_minutes) {
    retention_key = "log.retention.minutes";
    retention = *retention_minutes * ms_per_minute;
  }
  c.log_retention_ms = retention < 0 ? -1 : retention;
  if (retention == 0) {
    r.fail(value_error(retention_key, r.text(retention_key),
                       "must be unlimited (-1) or give at least 1 ms"));
  }
  c.log_retention_bytes = r.int64("log.retention.bytes", -1, int64_min,
                                  "Size past which old segments are deleted (-1: no limit).");
  c.log_retention_check_interval_ms =
      r.int64("log.retention.check.interval.ms", 300000, 1, "How often retention runs.");
  c.log_cleanup_policy = *r.list("log.cleanup.policy", "delete",
                                 "What happens to old segments: delete, compact or both.");
  for (const std::string& policy : c.log_cleanup_policy) {
    if (policy != "delete" && policy != "compact") {
      r.fail(value_error("log.cleanup.policy", r.text("log.cleanup.policy"),
                         fmt::format("has '{}'; policies are delete and compact", policy)));
    }
  }
  c.log_cleaner_enable = r.boolean("log.cleaner.enable", true, "Run the log compactor.");
  c.log_cleaner_delete_retention_ms = r.int64("log.cleaner.delete.retention.ms", 86400000, 0,
                                              "How long tombstones survive compaction.");
  c.log_cleaner_min_compaction_lag_ms = r.int64("log.cleaner.min.compaction.lag.ms", 0, 0,
                                                "Minimum age of a record before compaction.");
  c.log_cleaner_max_compaction_lag_ms = r.int64("log.cleaner.max.compaction.lag.ms", int64_max, 1,
                                                "Maximum age of an uncompacted record.");
  c.log_cleaner_min_cleanable_ratio = r.float64("log.cleaner.min.cleanable.ratio", 0.5, 0, 1,
                                                "Dirty ratio above which a log is compacted.");
  c.log_index_interval_bytes = r.int32("log.index.interval.bytes", 4096, 0, int32_max,
                                       "Bytes of log between two offset-index entries.");
  c.log_index_size_max_bytes = r.int32("log.index.size.max.bytes", 10485760, 4, int32_max,
                                       "Largest offset index of one segment.");
  c.log_message_timestamp_type =
      r.one_of("log.message.timestamp.type", "CreateTime", {"CreateTime", "LogAppendTime"},
               "Whose timestamp a stored batch keeps: the producer's or the broker's.");
  c.log_message_timestamp_before_max_ms =
      r.int64("log.message.timestamp.before.max.ms", int64_max, 0,
              "How far in the past a CreateTime timestamp may be.");
  c.log_message_timestamp_after_max_ms =
      r.int64("log.message.timestamp.after.max.ms", 3600000, 0,
              "How far in the future a CreateTime timestamp may be.");
  c.log_flush_interval_messages =
      r.int64("log.flush.interval.messages", 1, 1,
              "weir: 1 = fsync before acknowledging (group commit; Kafka's default is "
              "Long.MAX_VALUE); larger = no fsync on the produce path, trust replication.");
  const auto flush_ms = r.optional_integer(
      "log.flush.interval.ms", ConfigType::int64, int64_min, int64_max,
      "Longest time unflushed data stays in memory; default log.flush.scheduler.interval.ms.");
  const int64_t flush_scheduler_ms = r.int64("log.flush.scheduler.interval.ms", int64_max,
                                             int64_min, "How often the flusher looks at the logs.");
  c.log_flush_interval_ms = flush_ms ? *flush_ms : flush_scheduler_ms;
  if (c.log_flush_interval_ms < 0) {
    const std::string_view key =
        flush_ms ? "log.flush.interval.ms" : "log.flush.scheduler.interval.ms";
    r.fail(value_error(key, r.text(key), "must be at least 0"));
  }
  c.log_segment_delete_delay_ms = r.int64("log.segment.delete.delay.ms", 60000, 0,
                                          "Delay before a deleted segment's files go.");
  c.log_preallocate = r.boolean("log.preallocate", false, "Preallocate segment files.");
  c.log_local_retention_ms = r.int64("log.local.retention.ms", -2, -2,
                                     "Tiered storage's local retention (weir: no tiering).");
  c.log_local_retention_bytes = r.int64("log.local.retention.bytes", -2, -2,
                                        "Tiered storage's local retention (weir: no tiering).");

  // --- Internal topics, groups, transactions.
  c.offsets_topic_replication_factor =
      r.int16("offsets.topic.replication.factor", 3, 1,
              "Replication factor of __consumer_offsets. Not set: the number of "
              "active brokers when fewer than 3 (docs/config.md).");
  c.offsets_topic_num_partitions = r.int32("offsets.topic.num.partitions", 50, 1, int32_max,
                                           "Partitions of __consumer_offsets.");
  c.offsets_topic_segment_bytes =
      r.int32("offsets.topic.segment.bytes", 104857600, 1024 * 1024, int32_max,
              "Segment size of __consumer_offsets (at least 1 MiB, "
              "a topic's segment.bytes minimum).");
  c.offsets_retention_minutes = r.int32("offsets.retention.minutes", 10080, 1, int32_max,
                                        "How long an empty group's offsets are kept.");
  c.offsets_commit_timeout_ms = r.int32("offsets.commit.timeout.ms", 5000, 1, int32_max,
                                        "How long an offset commit waits for replication.");
  c.transaction_state_log_replication_factor =
      r.int16("transaction.state.log.replication.factor", 3, 1,
              "Replication factor of __transaction_state.");
  c.transaction_state_log_min_isr = r.int32("transaction.state.log.min.isr", 2, 1, int32_max,
                                            "min.insync.replicas of __transaction_state.");
  c.transaction_state_log_num_partitions = r.int32("transaction.state.log.num.partitions", 50, 1,
                                                   int32_max, "Partitions of __transaction_state.");
  c.transaction_state_log_segment_bytes =
      r.int32("transaction.state.log.segment.bytes", 104857600, 1, int32_max,
              "Segment size of __transaction_state.");
  c.transaction_max_timeout_ms = r.int32("transaction.max.timeout.ms", 900000, 1, int32_max,
                                         "The longest transaction timeout a producer may ask.");
  c.transactional_id_expiration_ms =
      r.int32("transactional.id.expiration.ms", 604800000, 1, int32_max,
              "Idle time after which a transactional id expires.");
  c.producer_id_expiration_ms = r.int32("producer.id.expiration.ms", 86400000, 1, int32_max,
                                        "Idle time after which a producer id's state expires.");
  c.group_initial_rebalance_delay_ms =
      r.int32("group.initial.rebalance.delay.ms", 3000, int32_min, int32_max,
              "How long a new group waits for more members before its first rebalance.");
  c.group_min_session_timeout_ms = r.int32("group.min.session.timeout.ms", 6000, int32_min,
                                           int32_max, "Smallest session timeout allowed.");
  c.group_max_session_timeout_ms = r.int32("group.max.session.timeout.ms", 1800000, int32_min,
                                           int32_max, "Largest session timeout allowed.");
  c.group_max_size =
      r.int32("group.max.size", 2147483647, 1, int32_max, "Most members one group may have.");
  // KIP-848 consumer groups (ConsumerGroupHeartbeat).
  c.group_consumer_session_timeout_ms =
      r.int32("group.consumer.session.timeout.ms", 45000, 1, int32_max,
              "How long a consumer-protocol member may go without a heartbeat.");
  c.group_consumer_heartbeat_interval_ms =
      r.int32("group.consumer.heartbeat.interval.ms", 5000, 1, int32_max,
              "How often consumer-protocol members heartbeat.");
  c.group_consumer_max_size = r.int32("group.consumer.max.size", 2147483647, 1, int32_max,
                                      "Most members one consumer-protocol group may have.");
  if (const auto assignors = r.list("group.consumer.assignors", "uniform,range",
                                    "Server-side assignors; the first is the default.")) {
    c.group_consumer_assignors = *assignors;
    for (const std::string& name : c.group_consumer_assignors) {
      if (name != "uniform" && name != "range") {
        r.fail(key_error("group.consumer.assignors",
                         fmt::format("unknown assignor '{}' (weir has uniform and range)", name)));
      }
    }
    if (c.group_consumer_assignors.empty()) {
      r.fail(key_error("group.consumer.assignors", "names no assignor"));
    }
  }
  if (c.group_consumer_heartbeat_interval_ms >= c.group_consumer_session_timeout_ms) {
    r.fail(key_error("group.consumer.heartbeat.interval.ms",
                     fmt::format("{} is not below group.consumer.session.timeout.ms {}",
                                 c.group_consumer_heartbeat_interval_ms,
                                 c.group_consumer_session_timeout_ms)));
  }
  if (c.group_min_session_timeout_ms > c.group_max_session_timeout_ms) {
    r.fail(key_error("group.min.session.timeout.ms",
                     fmt::format("{} exceeds group.max.session.timeout.ms {}",
                                 c.group_min_session_timeout_ms, c.group_max_session_timeout_ms)));
  }

  // --- Replication.
  c.replica_lag_time_max_ms = r.int64("replica.lag.time.max.ms", 30000, int64_min,
                                      "A follower this far behind leaves the ISR.");
  c.replica_fetch_max_bytes = r.int32("replica.fetch.max.bytes", 1048576, 0, int32_max,
                                      "Bytes a follower asks for per partition.");
  c.replica_fetch_min_bytes = r.int32("replica.fetch.min.bytes", 1, int32_min, int32_max,
                                      "Bytes a follower fetch waits for.");
  c.replica_fetch_wait_max_ms = r.int32("replica.fetch.wait.max.ms", 500, int32_min, int32_max,
                                        "Longest wait of a follower fetch.");
  c.replica_socket_timeout_ms = r.int32("replica.socket.timeout.ms", 30000, int32_min, int32_max,
                                        "Socket timeout of follower fetches.");
  c.replica_fetch_backoff_ms = r.int32("replica.fetch.backoff.ms", 1000, 0, int32_max,
                                       "How long a follower waits after a failed fetch.");
  c.replica_fetch_response_max_bytes =
      r.int32("replica.fetch.response.max.bytes", 10485760, 0, int32_max,
              "Bytes a follower asks for per fetch, over all partitions.");
}

std::string join_endpoints(const std::vector<Endpoint>& endpoints) {
  std::vector<std::string> items;
  for (const Endpoint& endpoint : endpoints) items.push_back(endpoint.to_string());
  return join_list(items);
}

bool contains(const std::vector<std::string>& names, std::string_view name) {
  return std::find(names.begin(), names.end(), name) != names.end();
}

// The checks across keys: roles, quorum, listeners. Kafka's messages, shortened.
Result<void, ConfigError> validate(const Reader& r, const BrokerConfig& c) {
  if (!c.broker_role && !c.controller_role) {
    return unexpected(key_error("process.roles",
                                "not set; it must be broker, controller or broker,controller (weir "
                                "runs in KRaft mode only)"));
  }
  if (c.node_id < 0) {
    return unexpected(key_error(
        "node.id", fmt::format("'{}' must be set to an id of 0 or more (required in KRaft mode)",
                               r.is_set("node.id") ? r.text("node.id") : "")));
  }
  if (c.controller_listener_names.empty()) {
    return unexpected(key_error("controller.listener.names",
                                "not set; it names the controllers' listener "
                                "(required in KRaft mode)"));
  }
  if (c.controller_quorum_voters.empty() && c.controller_quorum_bootstrap_servers.empty()) {
    return unexpected(
        key_error("controller.quorum.voters",
                  "neither it nor controller.quorum.bootstrap.servers is set; one must list the "
                  "controllers"));
  }
  if (c.controller_role && !c.controller_quorum_voters.empty()) {
    const bool voter =
        std::any_of(c.controller_quorum_voters.begin(), c.controller_quorum_voters.end(),
                    [&](const QuorumVoter& v) { return v.node_id == c.node_id; });
    if (!voter) {
      return unexpected(value_error(
          "controller.quorum.voters", r.text("controller.quorum.voters"),
          fmt::format("does not include node.id {}, which has the controller role", c.node_id)));
    }
  }
  if (c.listeners.empty()) {
    return unexpected(key_error("listeners", "must name at least one listener"));
  }
  // Every listener this node binds, advertises or dials must be served in plain text.
  auto check_protocol = [&](std::string_view key,
                            std::string_view name) -> Result<void, ConfigError> {
    const auto found = c.listener_security_protocol_map.find(std::string(name));
    if (found == c.listener_security_protocol_map.end()) {
      return unexpected(key_error(
          key, fmt::format("listener '{}' has no entry in listener.security.protocol.map", name)));
    }
    if (found->second != SecurityProtocol::plaintext) {
      return unexpected(key_error(
          key, fmt::format("listener '{}' uses security protocol {}; weir serves only PLAINTEXT "
                           "listeners (no TLS or SASL yet)",
                           name, security_protocol_name(found->second))));
    }
    return {};
  };
  for (const Endpoint& endpoint : c.listeners) {
    if (auto checked = check_protocol("listeners", endpoint.listener_name); !checked.ok()) {
      return checked;
    }
    const bool is_controller = contains(c.controller_listener_names, endpoint.listener_name);
    if (!c.broker_role && !is_controller) {
      return unexpected(key_error(
          "listeners", fmt::format("listener '{}' is not in controller.listener.names; with "
                                   "process.roles=controller only controller listeners are served",
                                   endpoint.listener_name)));
    }
    if (!c.controller_role && is_controller) {
      return unexpected(key_error(
          "listeners", fmt::format("listener '{}' is in controller.listener.names; with "
                                   "process.roles=broker the controllers listen elsewhere",
                                   endpoint.listener_name)));
    }
  }
  for (const Endpoint& endpoint : c.advertised_listeners) {
    if (!c.listener(endpoint.listener_name)) {
      return unexpected(
          key_error("advertised.listeners",
                    fmt::format("listener '{}' is not in listeners", endpoint.listener_name)));
    }
    if (endpoint.host == "0.0.0.0") {
      return unexpected(key_error(
          "advertised.listeners",
          fmt::format("'{}' advertises the non-routable address 0.0.0.0; give a routable host",
                      endpoint.to_string())));
    }
  }
  for (const std::string& name : c.controller_listener_names) {
    if (auto checked = check_protocol("controller.listener.names", name); !checked.ok()) {
      return checked;
    }
  }
  if (c.controller_role && !c.listener(c.controller_listener_names.front())) {
    return unexpected(
        key_error("controller.listener.names",
                  fmt::format("'{}' is not in listeners '{}', but a controller must listen on it",
                              c.controller_listener_names.front(), join_endpoints(c.listeners))));
  }
  if (c.broker_role) {
    const std::string_view key = r.is_set("inter.broker.listener.name")
                                     ? "inter.broker.listener.name"
                                     : "security.inter.broker.protocol";
    if (c.is_controller_listener(c.inter_broker_listener_name)) {
      return unexpected(key_error(
          key, fmt::format("'{}' is a controller listener; brokers need a broker listener",
                           c.inter_broker_listener_name)));
    }
    if (!c.advertised_listener(c.inter_broker_listener_name)) {
      return unexpected(key_error(
          key, fmt::format("the inter-broker listener '{}' is not among the advertised listeners",
                           c.inter_broker_listener_name)));
    }
  }
  return {};
}

absl::btree_map<std::string, std::string> values_of(const BrokerConfig& c) {
  return c.raw_values();
}

}  // namespace

std::string_view security_protocol_name(SecurityProtocol protocol) {
  switch (protocol) {
    case SecurityProtocol::plaintext: return "PLAINTEXT";
    case SecurityProtocol::ssl: return "SSL";
    case SecurityProtocol::sasl_plaintext: return "SASL_PLAINTEXT";
    case SecurityProtocol::sasl_ssl: return "SASL_SSL";
  }
  UNREACHABLE("security protocol {}", static_cast<int>(protocol));
}

std::string Endpoint::to_string() const {
  if (host.find(':') != std::string::npos) {
    return fmt::format("{}://[{}]:{}", listener_name, host, port);
  }
  return fmt::format("{}://{}:{}", listener_name, host, port);
}

bool is_wildcard_host(std::string_view host) {
  return host.empty() || host == "0.0.0.0" || host == "::";
}

Endpoint resolve_advertised(const Endpoint& endpoint, std::string_view local_host_name,
                            uint16_t bound_port) {
  VERIFY(!local_host_name.empty(), "resolving {} needs a host name", endpoint.to_string());
  Endpoint resolved = endpoint;
  if (is_wildcard_host(resolved.host)) resolved.host = std::string(local_host_name);
  if (resolved.port == 0) resolved.port = bound_port;
  VERIFY(resolved.port != 0, "{}: an ephemeral port resolves to the bound port",
         endpoint.to_string());
  return resolved;
}

Result<BrokerConfigLoad, ConfigError> BrokerConfig::parse(const Properties& properties) {
  auto loaded = from_values(properties.values());
  if (!loaded.ok()) return loaded;
  std::vector<std::string> duplicates;
  for (const Property& entry : properties.overridden()) {
    duplicates.push_back(fmt::format(
        "config key '{}' is set more than once; the value on line {} is replaced by a later one",
        entry.key, entry.line));
  }
  loaded->warnings.insert(loaded->warnings.begin(), duplicates.begin(), duplicates.end());
  return loaded;
}

Result<BrokerConfigLoad, ConfigError> BrokerConfig::parse_text(std::string_view text) {
  auto properties = Properties::parse(text);
  if (!properties.ok()) {
    return unexpected(
        ConfigError{"", fmt::format("server.properties {}", properties.error().to_string())});
  }
  return parse(*properties);
}

Result<BrokerConfigLoad, ConfigError> BrokerConfig::from_values(
    const absl::btree_map<std::string, std::string>& values) {
  BrokerConfigLoad loaded;
  BrokerConfig& config = loaded.config;
  Reader reader(values);
  read_keys(reader, config);
  if (reader.error()) return unexpected(*reader.error());
  for (const auto& [key, value] : values) {
    config.raw_[key] = value;
    if (find_key(key) != nullptr) {
      config.static_[key] = std::string(trim(value));
    } else {
      loaded.warnings.push_back(fmt::format("unknown config key '{}' ignored", key));
    }
  }
  if (auto valid = validate(reader, config); !valid.ok()) return unexpected(valid.error());
  if (config.log_flush_interval_messages > 1) {
    loaded.warnings.push_back(
        fmt::format("log.flush.interval.messages={}: acknowledged data is not fsynced before the "
                    "acknowledgement; durability relies on replication",
                    config.log_flush_interval_messages));
  }
  VERIFY(config.node_id >= 0, "validated config without a node id");
  VERIFY(!config.log_dirs.empty(), "validated config without a log dir");
  return loaded;
}

BrokerConfig BrokerConfig::embedded_default() {
  const absl::btree_map<std::string, std::string> values = {
      {"process.roles", "broker,controller"},
      {"node.id", "1"},
      {"listeners", "PLAINTEXT://127.0.0.1:9092,CONTROLLER://127.0.0.1:9093"},
      {"controller.listener.names", "CONTROLLER"},
      {"controller.quorum.voters", "1@127.0.0.1:9093"},
      {"log.dirs", "./data"},
      {"offsets.topic.replication.factor", "1"},
      {"transaction.state.log.replication.factor", "1"},
      {"transaction.state.log.min.isr", "1"},
  };
  auto loaded = from_values(values);
  VERIFY(loaded.ok(), "the embedded default config is invalid: {}", loaded.error().message);
  VERIFY(loaded->warnings.empty(), "the embedded default config warns: {}",
         loaded->warnings.front());
  return std::move(loaded->config);
}

Result<BrokerConfigLoad, ConfigError> BrokerConfig::with_overrides(
    std::span<const std::string> overrides) const {
  absl::btree_map<std::string, std::string> values = values_of(*this);
  for (const std::string& override_text : overrides) {
    const size_t equals = override_text.find('=');
    const std::string_view key =
        trim(std::string_view(override_text).substr(0, std::min(equals, override_text.size())));
    if (equals == std::string::npos || key.empty()) {
      return unexpected(ConfigError{
          std::string(key), fmt::format("--override '{}': expected key=value", override_text)});
    }
    values[std::string(key)] = override_text.substr(equals + 1);
  }
  return from_values(values);
}

std::optional<Endpoint> BrokerConfig::listener(std::string_view name) const {
  const std::string wanted = upper_case(name);
  for (const Endpoint& endpoint : listeners) {
    if (endpoint.listener_name == wanted) return endpoint;
  }
  return std::nullopt;
}

std::optional<Endpoint> BrokerConfig::advertised_listener(std::string_view name) const {
  const std::string wanted = upper_case(name);
  for (const Endpoint& endpoint : advertised_listeners) {
    if (endpoint.listener_name == wanted) return endpoint;
  }
  if (!static_.contains("advertised.listeners") || is_controller_listener(wanted)) {
    return listener(wanted);
  }
  return std::nullopt;
}

std::vector<Endpoint> BrokerConfig::advertised_broker_listeners() const {
  std::vector<Endpoint> result;
  const bool explicit_advertised = static_.contains("advertised.listeners");
  for (const Endpoint& endpoint : explicit_advertised ? advertised_listeners : listeners) {
    if (!is_controller_listener(endpoint.listener_name)) result.push_back(endpoint);
  }
  return result;
}

bool BrokerConfig::is_controller_listener(std::string_view name) const {
  return contains(controller_listener_names, upper_case(name));
}

namespace {

// Broker keys that are synonyms of each other, highest precedence first (Kafka's
// DynamicBrokerConfig#brokerConfigSynonyms).
const std::vector<std::vector<std::string_view>>& broker_synonym_groups() {
  static const std::vector<std::vector<std::string_view>> groups = {
      {"log.roll.ms", "log.roll.hours"},
      {"log.roll.jitter.ms", "log.roll.jitter.hours"},
      {"log.retention.ms", "log.retention.minutes", "log.retention.hours"},
      {"log.flush.interval.ms", "log.flush.scheduler.interval.ms"},
      {"log.dirs", "log.dir"},
  };
  return groups;
}

}  // namespace

std::vector<DescribedConfig> BrokerConfig::describe(std::span<const std::string> keys) const {
  std::vector<DescribedConfig> described;
  for (const KeySpec& spec : key_specs()) {
    if (!keys.empty() && std::find(keys.begin(), keys.end(), spec.name) == keys.end()) continue;
    DescribedConfig entry;
    entry.name = spec.name;
    const auto set = static_.find(spec.name);
    entry.value =
        set != static_.end() ? std::optional<std::string>(set->second) : spec.default_value;
    entry.source =
        set != static_.end() ? ConfigSource::static_broker_config : ConfigSource::default_config;
    entry.read_only = true;
    entry.sensitive = spec.type == ConfigType::password;
    entry.type = spec.type;
    entry.documentation = spec.documentation;
    std::vector<std::string_view> names = {spec.name};
    for (const auto& group : broker_synonym_groups()) {
      if (std::find(group.begin(), group.end(), spec.name) != group.end()) {
        names.assign(group.begin(), group.end());
      }
    }
    for (const std::string_view name : names) {
      if (const auto found = static_.find(std::string(name)); found != static_.end()) {
        entry.synonyms.push_back(
            ConfigSynonym{std::string(name), found->second, ConfigSource::static_broker_config});
      }
      const KeySpec* synonym = find_key(name);
      VERIFY(synonym != nullptr, "synonym {} is not a broker key", name);
      if (synonym->default_value) {
        entry.synonyms.push_back(
            ConfigSynonym{std::string(name), synonym->default_value, ConfigSource::default_config});
      }
    }
    described.push_back(std::move(entry));
  }
  return described;
}

const std::vector<BrokerConfig::KeySpec>& BrokerConfig::key_specs() {
  // Read once from an empty configuration: every key records its description.
  static const std::vector<KeySpec> specs = [] {
    const absl::btree_map<std::string, std::string> empty;
    Reader reader(empty);
    BrokerConfig scratch;
    read_keys(reader, scratch);
    VERIFY(!reader.error(), "broker defaults are invalid: {}", reader.error()->message);
    return reader.take_specs();
  }();
  return specs;
}

const BrokerConfig::KeySpec* BrokerConfig::find_key(std::string_view name) {
  for (const KeySpec& spec : key_specs()) {
    if (spec.name == name) return &spec;
  }
  return nullptr;
}

}  // namespace weir::config
