// A one-node Kafka broker for client tests, small enough to trust: it speaks the real
// wire protocol (through src/protocol) over whatever runtime::Network it is given (the
// simulator's, in these tests), keeps each partition's batches in memory, enforces
// idempotent-producer sequence numbers as Kafka does, and injects faults on request:
// an error code instead of an append, or an append whose response is never sent (the
// connection drops), which is what makes a retry a potential duplicate.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <absl/container/btree_map.h>

#include "fake_coordinator.h"
#include "protocol/header.h"
#include "record/batch.h"
#include "runtime/env.h"
#include "runtime/network.h"

namespace weir::client::testing {

struct StoredRecord {
  int64_t offset = 0;
  std::optional<record::Bytes> key;
  std::optional<record::Bytes> value;
  int64_t producer_id = -1;
  int32_t sequence = -1;
};

struct FakePartition {
  std::vector<record::Bytes> batches;  // with base offsets assigned
  std::vector<StoredRecord> records;
  int64_t end_offset() const { return static_cast<int64_t>(records.size()); }
  // Idempotence: next expected sequence and recent (base sequence -> base offset).
  int32_t next_sequence = 0;
  absl::btree_map<int32_t, int64_t> recent_batches;
};

enum class ProduceFault { none, error, drop_response };

class FakeBroker {
 public:
  FakeBroker(runtime::Env env, runtime::Address address)
      : env_(env), address_(address),
        coordinator_(std::make_unique<FakeCoordinator>(env, 1, address)) {}

  // Starts the accept loop in a fiber of the current group.
  void start();
  void stop();
  void create_topic(const std::string& name, int32_t partitions);

  // Called for each partition batch of each Produce: what to do with it.
  std::function<ProduceFault(const std::string& topic, int32_t partition)> produce_fault;
  int16_t fault_error = 6;  // NOT_LEADER_OR_FOLLOWER
  // Called for each partition of each Fetch: an error code to answer instead (0: none).
  std::function<int16_t(const std::string& topic, int32_t partition)> fetch_error;
  // The api key of every request received, in order.
  std::vector<int16_t> requests;
  // When set, requests of this api key are never answered.
  std::optional<int16_t> silent_api;
  // When set, answers to this api key are replaced by garbage bytes.
  std::optional<int16_t> garbage_api;

  FakePartition& partition(const std::string& topic, int32_t index) {
    return topics_.at(topic).at(static_cast<size_t>(index));
  }
  int64_t produce_requests() const { return produce_requests_; }
  // The group coordinator (FindCoordinator, the group APIs, offsets).
  FakeCoordinator& coordinator() { return *coordinator_; }

 private:
  void serve(std::shared_ptr<runtime::Stream> stream);
  // Returns nullopt when the connection must drop without an answer.
  std::optional<protocol::ResponseBody> handle(const protocol::Request& request);
  protocol::ResponseBody produce(const protocol::ProduceRequest& request, bool& drop);
  protocol::ResponseBody fetch(const protocol::FetchRequest& request, int16_t version);

  runtime::Env env_;
  runtime::Address address_;
  std::unique_ptr<runtime::Listener> listener_;
  absl::btree_map<std::string, std::vector<FakePartition>> topics_;
  int64_t next_producer_id_ = 1000;
  int64_t produce_requests_ = 0;
  std::unique_ptr<FakeCoordinator> coordinator_;
};

protocol::Uuid fake_topic_id(const std::string& name);

}  // namespace weir::client::testing
