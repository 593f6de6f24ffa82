// Broker: one weir node serving Kafka clients — listeners, connections, and the API
// handlers over its topics. The same code runs on the real runtime (`weir server`) and
// inside the simulator: everything it touches comes through runtime::Env.
//
// Fibers: one accept loop per listener; per connection a reader (decodes requests and
// runs each handler's ordered part: validation and appends happen in request order)
// and a writer (sends responses in request order, waiting for each one's completion:
// an fsync, a Fetch long poll); a background fiber for time-based flushes and
// retention. stop() ends them all before the logs are closed.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "base/result.h"
#include "broker/settings.h"
#include "broker/topics.h"
#include "protocol/header.h"
#include "runtime/env.h"
#include "runtime/sync.h"
#include "txn/producer_id_manager.h"

namespace weir::broker {

// What a handler gives back: a response now, one later (a fiber of the handler fulfils
// the future), or none at all (Produce with acks=0, as Kafka does).
struct Reply {
  std::optional<protocol::ResponseBody> now;
  std::optional<runtime::Future<protocol::ResponseBody>> later;
  static Reply none() { return {}; }
};

// Hooks for the simulator's planted flaws (tests/sim prove the checkers catch them).
struct BrokerFlaws {
  // Acknowledge produce requests before their data is fsynced.
  bool ack_before_fsync = false;
};

class Broker {
 public:
  Broker(runtime::Env& env, BrokerSettings settings, BrokerFlaws flaws = {});
  ~Broker();
  Broker(const Broker&) = delete;
  Broker& operator=(const Broker&) = delete;

  // Suspends. Reads (or writes, on first start) meta.properties, opens and recovers
  // every log, and binds the listeners. The error says what failed.
  Result<void, std::string> start();
  // Suspends until stop() is called (by another fiber) and has finished.
  void serve();
  // Suspends. Stops accepting, closes every connection, waits for in-flight requests,
  // then flushes and closes every log: a clean shutdown.
  void stop();

  // Where the first listener is bound (its real port when configured with port 0).
  runtime::Address bound_address() const;
  const std::string& cluster_id() const { return cluster_id_; }
  Topics& topics() { return topics_; }
  const BrokerSettings& settings() const { return settings_; }

  // Handles one decoded request. Suspends for the request's ordered part (appends
  // happen here, in the connection's request order).
  Reply handle(const protocol::RequestHeader& header, protocol::RequestBody&& body);
  // Whether weir answers this api (ApiVersions lists exactly these).
  static bool serves(int16_t api_key);

 private:
  class Connection;
  friend class Connection;

  Result<void, std::string> load_meta_properties();
  void accept_loop(runtime::Listener& listener);
  void background_loop();
  // Spawns a fiber that stop() waits for.
  void spawn(std::string name, std::function<void()> body);

  // The handlers, one per api (api_*.cc).
  protocol::ResponseBody api_versions(const protocol::RequestHeader& header,
                                      const protocol::ApiVersionsRequest& request);
  protocol::ResponseBody metadata(const protocol::RequestHeader& header,
                                  const protocol::MetadataRequest& request);
  protocol::ResponseBody describe_cluster(const protocol::DescribeClusterRequest& request);
  protocol::ResponseBody create_topics(const protocol::RequestHeader& header,
                                       const protocol::CreateTopicsRequest& request);
  protocol::ResponseBody delete_topics(const protocol::RequestHeader& header,
                                       const protocol::DeleteTopicsRequest& request);
  protocol::ResponseBody create_partitions(const protocol::CreatePartitionsRequest& request);
  protocol::ResponseBody delete_records(const protocol::DeleteRecordsRequest& request);
  protocol::ResponseBody list_offsets(const protocol::RequestHeader& header,
                                      const protocol::ListOffsetsRequest& request);
  protocol::ResponseBody init_producer_id(const protocol::InitProducerIdRequest& request);
  protocol::ResponseBody find_coordinator(const protocol::RequestHeader& header,
                                          const protocol::FindCoordinatorRequest& request);
  protocol::ResponseBody describe_configs(const protocol::RequestHeader& header,
                                          const protocol::DescribeConfigsRequest& request);
  protocol::ResponseBody alter_configs(const protocol::AlterConfigsRequest& request);
  protocol::ResponseBody incremental_alter_configs(
      const protocol::IncrementalAlterConfigsRequest& request);
  Reply produce(const protocol::RequestHeader& header, protocol::ProduceRequest&& request);
  Reply fetch(const protocol::RequestHeader& header, protocol::FetchRequest&& request);

  // Creates `name` with the defaults (auto.create.topics.enable).
  Result<Topic*, ApiError> auto_create(const std::string& name);
  // Suspends. Appends one partition's batches of a Produce request in request order:
  // the producer-state check (duplicates answered with their original offsets), the
  // append, and the producer-state record, under the partition's append mutex.
  // Returns the log appended to (null on failure, with the error in `result`) and sets
  // `end`, one past the last offset to acknowledge.
  std::shared_ptr<storage::PartitionLog> append(
      const std::shared_ptr<Partition>& partition, std::span<uint8_t> records,
      protocol::ProduceResponse::PartitionProduceResponse& result, std::optional<Offset>& end);
  // Suspends until the partition's data below `end` may be acknowledged (its fsync, by
  // the flush policy) and advances the high watermark.
  protocol::ErrorCode commit(Partition& partition, std::shared_ptr<storage::PartitionLog> log,
                             Offset end);
  // Maps a storage failure to Kafka's code, starting recovery when the disk failed.
  protocol::ErrorCode storage_error(Partition& partition, storage::StorageError error);

  runtime::Env& env_;
  BrokerSettings settings_;
  BrokerFlaws flaws_;
  std::string cluster_id_;
  Topics topics_;
  std::vector<std::unique_ptr<runtime::Listener>> listeners_;
  std::vector<std::shared_ptr<Connection>> connections_;
  bool stopping_ = false;
  runtime::Event stopped_;
  int64_t active_fibers_ = 0;
  runtime::WaitQueue fibers_done_;
  std::unique_ptr<txn::ProducerIdManager> producer_ids_;
};

}  // namespace weir::broker
