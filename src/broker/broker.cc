#include "broker/broker.h"

#include <algorithm>

#include <fmt/format.h>

#include "cluster/quorum_controller.h"

namespace weir::broker {

using protocol::ApiKey;
using protocol::ErrorCode;

namespace {

// Responses a connection may have in flight before its reader stops reading: a client
// pipelining more than this waits for TCP back-pressure.
constexpr size_t kMaxInFlightPerConnection = 64;

}  // namespace

Broker::Broker(runtime::Env& env, BrokerSettings settings, cluster::BrokerLink& link,
               BrokerHooks hooks)
    : env_(env), settings_(std::move(settings)), hooks_(std::move(hooks)), link_(link),
      topics_(env, settings_, hooks_.keep_stray_partitions), ready_(env.scheduler),
      stopped_(env.scheduler), producer_block_mutex_(env.scheduler),
      server_(env, handler_,
              rpc::ServerLimits{
                  .request_bytes_max = settings_.config.socket_request_max_bytes,
                  .in_flight_per_connection_max = kMaxInFlightPerConnection,
              }) {}

// The server's destructor checks that no fiber (connection, handler, background)
// outlives the broker.
Broker::~Broker() = default;

Result<void, std::string> Broker::start() {
  if (auto scanned = topics_.scan(); !scanned) return scanned;
  for (const runtime::Address& address : settings_.listeners) {
    if (auto bound = server_.listen(address); !bound) {
      return unexpected(fmt::format("listeners: {}", bound.error()));
    }
  }
  spawn("background", [this] { background_loop(); });
  spawn("follow-image", [this] { follow_image_loop(); });
  return {};
}

bool Broker::wait_reconciled(record::Offset end, runtime::Instant deadline) {
  while (reconciled_end_ < end && !stopping_ && env_.clock.now() < deadline) {
    reconciled_changed_.add(env_.scheduler.prepare_wait());
    env_.scheduler.suspend(deadline);
  }
  return reconciled_end_ >= end;
}

bool Broker::wait_ready(runtime::Instant deadline) {
  return ready_.wait_until(deadline) && !stopping_;
}

void Broker::follow_image_loop() {
  record::Offset seen{-1};
  const metadata::BrokerId self(settings_.config.node_id);
  while (!stopping_) {
    cluster::MetadataLoader& loader = link_.loader();
    if (link_.caught_up() && loader.applied_end() != seen) {
      // A copy: reconciling suspends, and the image may move meanwhile (the next pass
      // catches up).
      const metadata::Image image = loader.image();
      const record::Offset applied = loader.applied_end();
      if (env_.buggify.fire()) {  // a slow reconciliation
        env_.scheduler.sleep_for(runtime::milliseconds(env_.random.between(100, 2000)));
      }
      const bool reconciled = topics_.reconcile(image, self);
      update_replication(image);
      if (reconciled) {
        seen = applied;
      } else {
        // A log did not open or a directory was not deleted (the disk failed): again
        // in a while.
        env_.scheduler.sleep_for(runtime::milliseconds(500));
      }
      reconciled_end_ = std::max(reconciled_end_, applied);
      reconciled_changed_.notify_all();
      if (hooks_.on_reconciled) {
        if (auto directories = topics_.directories()) hooks_.on_reconciled(image, *directories);
      }
      if (!ready_.is_set()) ready_.set();
      continue;
    }
    loader.wait_change(loader.applied_end(), env_.clock.now() + runtime::milliseconds(200));
    // A leader whose log was recovered starts its LeaderState anew, and a failed epoch
    // assignment is tried again, without waiting for the image to move.
    if (replication_retry_ && ready_.is_set() && !stopping_) {
      const metadata::Image image = loader.image();
      update_replication(image);
    }
  }
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
    replication_tick();
    const runtime::Instant now = env_.clock.now();
    for (const auto& partition : topics_.partitions()) {
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
  ready_.set();  // requests waiting for readiness end (the connections close next)
  // Requests parked in a group are answered (NOT_COORDINATOR) and the shards' fibers end.
  sync_group_coordinators();
  // Replica fetchers waiting on a long poll end with their connections.
  for (const auto& [source, connection] : fetch_connections_) connection->close();
  // Closes listeners and connections and waits for every fiber spawned through it.
  // Handler fibers finish on their own (their waits are bounded); the background
  // fiber wakes within a tick.
  server_.stop();
  closed_cleanly_ = topics_.close_all();
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
      replication_retry_ = true;  // a leader's LeaderState went with the old log
    });
  }
  return ErrorCode::kafka_storage_error;
}

namespace {

Reply answered(protocol::ResponseBody response) { return Reply{std::move(response), std::nullopt}; }

}  // namespace

// The one list of the apis a broker serves: serves(), ApiVersions and handle() read it.
Broker::Route Broker::route(int16_t api_key) {
  using namespace protocol;
  using Header = const RequestHeader&;
  using Body = RequestBody&&;
  switch (static_cast<ApiKey>(api_key)) {
    // The data path (api_data.cc).
    case ApiKey::produce:
      return [](Broker& b, Header h, Body body) {
        return b.produce(h, std::get<ProduceRequest>(std::move(body)));
      };
    case ApiKey::fetch:
      return [](Broker& b, Header h, Body body) {
        return b.fetch(h, std::get<FetchRequest>(std::move(body)));
      };
    case ApiKey::list_offsets:
      return [](Broker& b, Header h, Body body) {
        return answered(b.list_offsets(h, std::get<ListOffsetsRequest>(body)));
      };
    case ApiKey::delete_records:
      return [](Broker& b, Header, Body body) {
        return answered(b.delete_records(std::get<DeleteRecordsRequest>(body)));
      };
    // The cluster as the image shows it (api_metadata.cc, api_configs.cc).
    case ApiKey::metadata:
      return [](Broker& b, Header h, Body body) {
        return answered(b.metadata(h, std::get<MetadataRequest>(body)));
      };
    case ApiKey::describe_cluster:
      return [](Broker& b, Header, Body body) {
        return answered(b.describe_cluster(std::get<DescribeClusterRequest>(body)));
      };
    case ApiKey::describe_topic_partitions:
      return [](Broker& b, Header, Body body) {
        return answered(
            b.describe_topic_partitions(std::get<DescribeTopicPartitionsRequest>(body)));
      };
    case ApiKey::describe_configs:
      return [](Broker& b, Header h, Body body) {
        return answered(b.describe_configs(h, std::get<DescribeConfigsRequest>(body)));
      };
    // Producers and coordinators (api_producers.cc, api_coordinator.cc).
    case ApiKey::init_producer_id:
      return [](Broker& b, Header, Body body) {
        return answered(b.init_producer_id(std::get<InitProducerIdRequest>(body)));
      };
    case ApiKey::find_coordinator:
      return [](Broker& b, Header h, Body body) {
        return answered(b.find_coordinator(h, std::get<FindCoordinatorRequest>(body)));
      };
    // The group coordinator (api_group.cc).
    case ApiKey::join_group:
      return [](Broker& b, Header h, Body body) {
        return b.join_group(h, std::get<JoinGroupRequest>(std::move(body)));
      };
    case ApiKey::sync_group:
      return [](Broker& b, Header h, Body body) {
        return b.sync_group(h, std::get<SyncGroupRequest>(std::move(body)));
      };
    case ApiKey::heartbeat:
      return [](Broker& b, Header h, Body body) {
        return b.heartbeat(h, std::get<HeartbeatRequest>(std::move(body)));
      };
    case ApiKey::leave_group:
      return [](Broker& b, Header h, Body body) {
        return b.leave_group(h, std::get<LeaveGroupRequest>(std::move(body)));
      };
    case ApiKey::offset_commit:
      return [](Broker& b, Header h, Body body) {
        return b.offset_commit(h, std::get<OffsetCommitRequest>(std::move(body)));
      };
    case ApiKey::offset_fetch:
      return [](Broker& b, Header h, Body body) {
        return b.offset_fetch(h, std::get<OffsetFetchRequest>(std::move(body)));
      };
    case ApiKey::offset_delete:
      return [](Broker& b, Header h, Body body) {
        return b.offset_delete(h, std::get<OffsetDeleteRequest>(std::move(body)));
      };
    case ApiKey::list_groups:
      return [](Broker& b, Header h, Body body) {
        return answered(b.list_groups(h, std::get<ListGroupsRequest>(body)));
      };
    case ApiKey::describe_groups:
      return [](Broker& b, Header h, Body body) {
        return answered(b.describe_groups(h, std::get<DescribeGroupsRequest>(body)));
      };
    case ApiKey::delete_groups:
      return [](Broker& b, Header h, Body body) {
        return b.delete_groups(h, std::get<DeleteGroupsRequest>(std::move(body)));
      };
    case ApiKey::consumer_group_heartbeat:
      return [](Broker& b, Header h, Body body) {
        return b.consumer_group_heartbeat(h, std::get<ConsumerGroupHeartbeatRequest>(body));
      };
    case ApiKey::consumer_group_describe:
      return [](Broker& b, Header h, Body body) {
        return answered(
            b.consumer_group_describe(h, std::get<ConsumerGroupDescribeRequest>(body)));
      };
    // Changes the controller decides, forwarded (api_forward.cc).
    case ApiKey::create_topics:
    case ApiKey::delete_topics:
    case ApiKey::create_partitions:
    case ApiKey::elect_leaders:
    case ApiKey::alter_partition_reassignments:
    case ApiKey::list_partition_reassignments:
    case ApiKey::alter_configs:
    case ApiKey::incremental_alter_configs:
      return [](Broker& b, Header h, Body body) { return b.forward(h, std::move(body)); };
    case ApiKey::api_versions:
      return [](Broker& b, Header h, Body body) {
        return answered(b.api_versions(h, std::get<ApiVersionsRequest>(body)));
      };
    default: return nullptr;
  }
}

protocol::ResponseBody Broker::api_versions(const protocol::RequestHeader& header,
                                            const protocol::ApiVersionsRequest& request) {
  protocol::ApiVersionsResponse response;
  for (const protocol::ApiInfo& api : protocol::supported_apis()) {
    if (!serves(static_cast<int16_t>(api.key))) continue;
    protocol::ApiVersionsResponse::ApiVersion entry;
    entry.api_key = static_cast<int16_t>(api.key);
    entry.min_version = api.advertised_version_min;
    entry.max_version = api.version_max;
    response.api_keys.push_back(entry);
  }
  return response;
}

Reply Broker::handle(const protocol::RequestHeader& header, protocol::RequestBody&& body) {
  const Route handler = route(header.api_key);
  VERIFY(handler != nullptr, "handle() for api {} that serves() refuses", header.api_key);
  // Everything but ApiVersions waits for the initial catch-up (bounded by stop()).
  if (header.api_key != static_cast<int16_t>(ApiKey::api_versions)) {
    while (!ready_.is_set()) ready_.wait();
    if (stopping_) return Reply::none();  // the connection closes unanswered
  }
  return handler(*this, header, std::move(body));
}

}  // namespace weir::broker
