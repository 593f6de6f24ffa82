#include "broker/broker.h"

#include <fmt/format.h>

#include "base/text.h"
#include "cluster/quorum_controller.h"
#include "storage/checkpoint.h"

namespace weir::broker {

using protocol::ApiKey;
using protocol::ErrorCode;

namespace {

// meta.properties, Kafka's format, in the data root: marks the directory as this
// node's and carries the cluster id.
constexpr std::string_view kMetaProperties = "meta.properties";
// Responses a connection may have in flight before its reader stops reading: a client
// pipelining more than this waits for TCP back-pressure.
constexpr size_t kMaxInFlightPerConnection = 64;

std::optional<std::string> property(const std::string& text, std::string_view key) {
  for (std::string_view line : split_nonempty(text, '\n')) {
    if (line.size() > key.size() && line.substr(0, key.size()) == key && line[key.size()] == '=') {
      return std::string(line.substr(key.size() + 1));
    }
  }
  return std::nullopt;
}

}  // namespace

Broker::Broker(runtime::Env& env, BrokerSettings settings, BrokerFlaws flaws)
    : env_(env), settings_(std::move(settings)), flaws_(flaws), topics_(env, settings_),
      stopped_(env.scheduler), producer_block_mutex_(env.scheduler),
      server_(env, handler_,
              rpc::ServerLimits{
                  .request_bytes_max = settings_.config.socket_request_max_bytes,
                  .in_flight_per_connection_max = kMaxInFlightPerConnection,
              }) {}

// The server's destructor checks that no fiber (connection, handler, background)
// outlives the broker.
Broker::~Broker() = default;

Result<void, std::string> Broker::load_meta_properties() {
  const std::string path(kMetaProperties);
  auto text = storage::read_whole_file(env_.disk, path);
  if (text) {
    auto node = property(*text, "node.id");
    auto cluster = property(*text, "cluster.id");
    if (!node || !cluster) return unexpected(fmt::format("{}: no node.id or cluster.id", path));
    if (*node != std::to_string(settings_.config.node_id)) {
      return unexpected(fmt::format("{} belongs to node.id {}, but node.id is {}", path, *node,
                                    settings_.config.node_id));
    }
    cluster_id_ = *cluster;
    return {};
  }
  if (text.error() != storage::StorageError::not_found) {
    return unexpected(fmt::format("reading {}: {}", path, storage::to_string(text.error())));
  }
  // First start: format the directory, as `kafka-storage.sh format` would.
  protocol::Uuid cluster;
  protocol::Uuid directory;
  for (auto* id : {&cluster, &directory}) {
    for (size_t i = 0; i < id->bytes.size(); i += 8) {
      uint64_t word = env_.random.next();
      for (size_t j = 0; j < 8; j++) id->bytes[i + j] = static_cast<uint8_t>(word >> (8 * j));
    }
  }
  cluster_id_ = uuid_to_base64(cluster);
  std::string contents =
      fmt::format("#\n#weir\nversion=1\ncluster.id={}\nnode.id={}\ndirectory.id={}\n", cluster_id_,
                  settings_.config.node_id, uuid_to_base64(directory));
  if (auto written = storage::write_file_atomically(env_.disk, "", path, contents); !written) {
    return unexpected(fmt::format("writing {}: {}", path, storage::to_string(written.error())));
  }
  return {};
}

Result<void, std::string> Broker::start() {
  if (auto meta = load_meta_properties(); !meta) return meta;
  // In a cluster the quorum names the cluster.
  if (cluster_ != nullptr) cluster_id_ = cluster_->cluster_id();
  // weir-meta holds the topics file and the producer-id blocks: its entry in the data
  // root is made durable before anything is written in it.
  if (auto made = env_.disk.make_directories("weir-meta");
      !made || !env_.disk.sync_directory("")) {
    return unexpected(std::string("log.dirs: cannot create weir-meta in the data directory"));
  }
  auto producer_ids = txn::ProducerIdManager::open(
      storage::StorageEnv{env_.scheduler, env_.clock, env_.disk}, "weir-meta");
  if (!producer_ids) {
    return unexpected(fmt::format("reading weir-meta/{}: {}", txn::kProducerIdsFileName,
                                  storage::to_string(producer_ids.error())));
  }
  producer_ids_ = std::move(*producer_ids);
  if (auto loaded = topics_.load(); !loaded) return loaded;
  for (const runtime::Address& address : settings_.listeners) {
    if (auto bound = server_.listen(address); !bound) {
      return unexpected(fmt::format("listeners: {}", bound.error()));
    }
  }
  spawn("background", [this] { background_loop(); });
  if (cluster_ != nullptr) spawn("follow-image", [this] { follow_image_loop(); });
  return {};
}

runtime::Address Broker::bound_address() const {
  VERIFY(server_.listener_count() > 0, "bound_address() before start() bound a listener");
  return server_.bound_address(0);
}

void Broker::background_loop() {
  // Time-based work: flush.ms flushes (no-fsync mode), retention, producer expiry.
  const int64_t tick_ms = 100;
  int64_t since_retention = 0;
  int64_t since_expiry = 0;
  // producer.id.expiration.check.interval.ms (Kafka's default: 10 minutes).
  const int64_t expiry_interval_ms = 600000;
  while (!stopping_) {
    env_.scheduler.sleep_for(runtime::milliseconds(tick_ms));
    since_retention += tick_ms;
    since_expiry += tick_ms;
    const bool retention = since_retention >= settings_.config.log_retention_check_interval_ms;
    const bool expiry = since_expiry >= expiry_interval_ms;
    if (retention) since_retention = 0;
    if (expiry) since_expiry = 0;
    const runtime::Instant now = env_.clock.now();
    std::vector<std::shared_ptr<Partition>> partitions;
    for (const auto& [name, topic] : topics_.all()) {
      for (const auto& partition : topic->partitions) partitions.push_back(partition);
    }
    for (const auto& partition : partitions) {
      if (partition->recovering || stopping_) continue;
      auto log = partition->log_handle();
      const config::FlushPolicy& flush = partition->flush;
      if (!flush.fsync_before_ack && partition->unflushed_messages > 0 &&
          flush.flush_interval_ms > 0 &&
          now - partition->last_flush >= runtime::milliseconds(flush.flush_interval_ms)) {
        partition->unflushed_messages = 0;
        partition->last_flush = now;
        if (auto flushed = log->flush(); !flushed) storage_error(*partition, flushed.error());
      }
      if (retention) {
        if (auto applied = log->apply_retention(); !applied) {
          storage_error(*partition, applied.error());
        }
      }
      if (expiry) partition->producers().remove_expired(env_.clock.wall_now().milliseconds);
    }
  }
}

void Broker::serve() { stopped_.wait(); }

void Broker::stop() {
  if (stopping_) {
    stopped_.wait();
    return;
  }
  // Set before the server stops: handler fibers and the background fiber end on it.
  stopping_ = true;
  // Closes listeners and connections and waits for every fiber spawned through it.
  // Handler fibers finish on their own (their waits are bounded); the background
  // fiber wakes within a tick.
  server_.stop();
  topics_.close_all();
  stopped_.set();
}

ErrorCode Broker::storage_error(Partition& partition, storage::StorageError error) {
  switch (error) {
    case storage::StorageError::invalid_batch: return ErrorCode::corrupt_message;
    case storage::StorageError::batch_too_large: return ErrorCode::message_too_large;
    case storage::StorageError::offset_out_of_range: return ErrorCode::offset_out_of_range;
    case storage::StorageError::no_space:
    case storage::StorageError::closed:  // shut down, or replaced by a recovery already
      return ErrorCode::kafka_storage_error;
    case storage::StorageError::corrupt_batch:
    case storage::StorageError::io:
    case storage::StorageError::suspect:
    case storage::StorageError::not_found: break;
  }
  // The disk failed under this log: reopen it, which recovers what is durable. Until
  // then its requests fail with KAFKA_STORAGE_ERROR, which clients retry.
  partition.recovering = true;
  if (!partition.recovery_running && !stopping_) {
    partition.recovery_running = true;
    std::shared_ptr<Partition> held = partition.shared_from_this();
    spawn("recover", [this, held] {
      // The disk may fail the reopen too: try again until it works (or shutdown).
      while (!stopping_ && !topics_.recover(*held)) {
        env_.scheduler.sleep_for(runtime::seconds(1));
      }
      held->recovery_running = false;
    });
  }
  return ErrorCode::kafka_storage_error;
}

bool Broker::serves(int16_t api_key) {
  switch (static_cast<ApiKey>(api_key)) {
    case ApiKey::produce:
    case ApiKey::fetch:
    case ApiKey::list_offsets:
    case ApiKey::metadata:
    case ApiKey::api_versions:
    case ApiKey::create_topics:
    case ApiKey::delete_topics:
    case ApiKey::delete_records:
    case ApiKey::init_producer_id:
    case ApiKey::create_partitions:
    case ApiKey::describe_cluster:
    case ApiKey::find_coordinator:
    case ApiKey::describe_configs:
    case ApiKey::alter_configs:
    case ApiKey::incremental_alter_configs: return true;
    default: return false;
  }
}

Reply Broker::handle(const protocol::RequestHeader& header, protocol::RequestBody&& body) {
  auto ready = [](protocol::ResponseBody response) {
    return Reply{std::move(response), std::nullopt};
  };
  if (cluster_ != nullptr) {
    // Admin changes are the controller's to decide.
    if (cluster::QuorumController::serves_api(header.api_key)) {
      return forward(header, std::move(body));
    }
    if (auto* request = std::get_if<protocol::MetadataRequest>(&body)) {
      return ready(cluster_metadata(header, *request));
    }
    if (auto* request = std::get_if<protocol::DescribeClusterRequest>(&body)) {
      return ready(cluster_describe(*request));
    }
  }
  return std::visit(
      [&](auto&& request) -> Reply {
        using T = std::decay_t<decltype(request)>;
        if constexpr (std::is_same_v<T, protocol::ProduceRequest>) {
          return produce(header, std::move(request));
        } else if constexpr (std::is_same_v<T, protocol::FetchRequest>) {
          return fetch(header, std::move(request));
        } else if constexpr (std::is_same_v<T, protocol::ApiVersionsRequest>) {
          return ready(api_versions(header, request));
        } else if constexpr (std::is_same_v<T, protocol::MetadataRequest>) {
          return ready(metadata(header, request));
        } else if constexpr (std::is_same_v<T, protocol::DescribeClusterRequest>) {
          return ready(describe_cluster(request));
        } else if constexpr (std::is_same_v<T, protocol::CreateTopicsRequest>) {
          return ready(create_topics(header, request));
        } else if constexpr (std::is_same_v<T, protocol::DeleteTopicsRequest>) {
          return ready(delete_topics(header, request));
        } else if constexpr (std::is_same_v<T, protocol::CreatePartitionsRequest>) {
          return ready(create_partitions(request));
        } else if constexpr (std::is_same_v<T, protocol::DeleteRecordsRequest>) {
          return ready(delete_records(request));
        } else if constexpr (std::is_same_v<T, protocol::ListOffsetsRequest>) {
          return ready(list_offsets(header, request));
        } else if constexpr (std::is_same_v<T, protocol::InitProducerIdRequest>) {
          return ready(init_producer_id(request));
        } else if constexpr (std::is_same_v<T, protocol::FindCoordinatorRequest>) {
          return ready(find_coordinator(header, request));
        } else if constexpr (std::is_same_v<T, protocol::DescribeConfigsRequest>) {
          return ready(describe_configs(header, request));
        } else if constexpr (std::is_same_v<T, protocol::AlterConfigsRequest>) {
          return ready(alter_configs(request));
        } else if constexpr (std::is_same_v<T, protocol::IncrementalAlterConfigsRequest>) {
          return ready(incremental_alter_configs(request));
        } else {
          VERIFY(false, "handle() for api {} that serves() refuses", header.api_key);
          return Reply::none();
        }
      },
      std::move(body));
}

}  // namespace weir::broker
