// Broker: one weir node serving Kafka clients — its listeners (an rpc::Server) and the
// API handlers over its topics. The same code runs on the real runtime (`weir server`)
// and inside the simulator: everything it touches comes through runtime::Env.
//
// Fibers: the rpc::Server's (accept loops; per connection a reader that runs each
// handler's ordered part, so validation and appends happen in request order, and a
// writer that sends responses in request order); the handlers' waiting parts (an
// fsync, a Fetch long poll) and a background fiber for time-based flushes and
// retention, all spawned through the server. stop() ends them all before the logs are
// closed.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "base/result.h"
#include "broker/settings.h"
#include "broker/topics.h"
#include "cluster/broker_link.h"
#include "protocol/header.h"
#include "rpc/server.h"
#include "runtime/env.h"
#include "runtime/sync.h"
#include "txn/producer_id_manager.h"

namespace weir::broker {

// What a handler gives back; the rpc server owns the type now.
using Reply = rpc::Reply;

// A Metadata answer's entry for a topic that cannot be described.
protocol::MetadataResponse::MetadataResponseTopic metadata_topic_error(
    std::optional<std::string> name, protocol::Uuid id, protocol::ErrorCode code);

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

  // Joins a cluster (before start()): metadata comes from the metadata log through
  // `link` instead of the node's own topics file — Metadata and DescribeCluster answer
  // from the image, admin requests go to the active controller, the node's partitions
  // follow the image, and only a partition's leader takes produce and fetch.
  void join_cluster(cluster::BrokerLink& link) { cluster_ = &link; }
  bool in_cluster() const { return cluster_ != nullptr; }

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
  // The broker's face to the rpc server: its apis and their handlers.
  class Handler final : public rpc::RequestHandler {
   public:
    explicit Handler(Broker& broker) : broker_(broker) {}
    Reply handle(const protocol::RequestHeader& header, protocol::RequestBody&& body) override {
      return broker_.handle(header, std::move(body));
    }
    bool serves(int16_t api_key) const override { return Broker::serves(api_key); }
    protocol::ResponseBody api_versions_response(const protocol::RequestHeader& header) override {
      return broker_.api_versions(header, protocol::ApiVersionsRequest{});
    }

   private:
    Broker& broker_;
  };

  Result<void, std::string> load_meta_properties();
  void background_loop();
  // Spawns a fiber that stop() waits for (through the server, which counts them).
  void spawn(std::string name, std::function<void()> body) {
    server_.spawn(std::move(name), std::move(body));
  }

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

  // ---- cluster mode (api_cluster.cc) ----
  protocol::ResponseBody cluster_metadata(const protocol::RequestHeader& header,
                                          const protocol::MetadataRequest& request);
  protocol::ResponseBody cluster_describe(const protocol::DescribeClusterRequest& request);
  // Sends an admin request to the active controller; answers when it does.
  Reply forward(const protocol::RequestHeader& header, protocol::RequestBody&& body);
  // Suspends. Asks the controller to create `name` with the defaults; false if it
  // could not be asked.
  bool request_creation(const std::string& name);
  // Whether this node takes produce and fetch for the partition: always alone, the
  // image's leader in a cluster.
  bool leads(std::string_view topic, int32_t partition) const;
  // Suspends. A producer id from a block the controller allocated (AllocateProducerIds),
  // unique across the cluster; nothing when no block could be had.
  std::optional<int64_t> cluster_producer_id();
  // Keeps the node's partitions equal to the image's topics (a fiber).
  void follow_image_loop();
  // Suspends. One pass of follow_image_loop.
  void follow_image();

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
  bool stopping_ = false;
  runtime::Event stopped_;
  std::unique_ptr<txn::ProducerIdManager> producer_ids_;
  cluster::BrokerLink* cluster_ = nullptr;
  // The producer id block in use in a cluster: ids [next, end) are this broker's.
  int64_t producer_block_next_ = 0;
  int64_t producer_block_end_ = 0;
  runtime::Mutex producer_block_mutex_;
  Handler handler_{*this};
  // Last: its fibers reach every member above.
  rpc::Server server_;
};

}  // namespace weir::broker
