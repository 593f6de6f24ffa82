// The producer: records in, acknowledged offsets out.
//
// send() appends a record to the open batch of its partition (straight into the
// batch's buffer, see record/batch_builder.h). A sender fiber seals batches when they are
// full, when linger.ms has passed or on flush(), groups them by partition leader into
// Produce requests (one batch per partition per request, at most max.in.flight
// requests per broker), and completes each record's Future or callback from the
// response.
//
// Idempotence (enable.idempotence, Kafka's semantics): the producer gets a producer id
// and epoch with InitProducerId; each partition's batches carry consecutive sequence
// numbers, assigned when a batch is first sent and kept across retries. Invariants:
//  - Within a partition, batches are sent in sequence order. After a retriable
//    failure, nothing more is sent to that partition until its in-flight requests have
//    all answered; the failed batches are then resent, in sequence order, before any
//    newer one. So the log holds each record once, in send order, whatever retries
//    happen within delivery.timeout.ms.
//  - Every record is completed exactly once: with its offset, or with an error when
//    its batch fails for good (non-retriable error, retries exhausted, or
//    delivery.timeout.ms passed).
//  - The Cluster outlives the Producer. Destroying the producer cancels its fibers;
//    records not yet completed then complete with ErrorKind::closed.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include <absl/container/btree_map.h>

#include "client/cluster.h"
#include "client/errors.h"
#include "record/batch_builder.h"
#include "record/types.h"
#include "runtime/sync.h"

namespace weir::client {

// Batches are built with the one batch encoder's streaming front.
using record::BatchBuilder;
using record::BatchIdentity;
using record::RecordHeader;

struct ProducerConfig {
  int16_t acks = -1;                                             // acks: 0, 1 or -1 (all)
  size_t batch_bytes = 16384;                                    // batch.size
  runtime::Duration linger = runtime::milliseconds(5);           // linger.ms
  record::Compression compression = record::Compression::none;   // compression.type
  int32_t retries = INT32_MAX;                                   // retries
  runtime::Duration retry_backoff = runtime::milliseconds(100);  // retry.backoff.ms
  runtime::Duration delivery_timeout = runtime::seconds(120);    // delivery.timeout.ms
  runtime::Duration request_timeout = runtime::seconds(30);      // request.timeout.ms
  int32_t max_in_flight = 5;                           // max.in.flight.requests.per.connection
  bool idempotence = true;                             // enable.idempotence (needs acks=-1)
  size_t buffer_bytes = size_t{32} << 20;              // buffer.memory
  runtime::Duration max_block = runtime::seconds(60);  // max.block.ms
  size_t request_bytes_max = size_t{1} << 20;          // max.request.size
};

// Applies one Kafka producer property (acks, linger.ms, batch.size, compression.type,
// retries, retry.backoff.ms, delivery.timeout.ms, request.timeout.ms,
// max.in.flight.requests.per.connection, enable.idempotence, buffer.memory,
// max.block.ms, max.request.size). Returns an error message naming the key when the
// key is unknown or the value is invalid. Setting acks other than all turns
// idempotence off unless enable.idempotence is given explicitly (as Kafka does).
std::optional<std::string> apply_producer_property(ProducerConfig& config, std::string_view key,
                                                   std::string_view value);
// Checks combinations (idempotence needs acks=all and max.in.flight <= 5).
std::optional<std::string> validate_producer_config(const ProducerConfig& config);

struct RecordMetadata {
  TopicPartition partition;
  record::Offset offset{-1};  // -1 with acks=0
  int64_t timestamp = -1;
};
using DeliveryResult = ClientResult<RecordMetadata>;
using DeliveryCallback = std::function<void(const DeliveryResult&)>;

class Producer {
 public:
  Producer(Cluster& cluster, ProducerConfig config);
  ~Producer();
  Producer(const Producer&) = delete;
  Producer& operator=(const Producer&) = delete;

  // Appends a record; the future completes when the broker acknowledged it (or it
  // failed for good). `partition` nullopt picks one: murmur2 of the key, or the
  // sticky partition for a null key. May suspend: for metadata of a topic not seen
  // yet, and while buffer.memory is full (both bounded by max.block.ms; the future
  // then holds the error).
  runtime::Future<DeliveryResult> send(const std::string& topic, std::optional<int32_t> partition,
                                       std::optional<std::span<const uint8_t>> key,
                                       std::optional<std::span<const uint8_t>> value,
                                       std::span<const RecordHeader> headers = {});
  // The same, completing through `callback` (called once, from a producer fiber). A
  // callback capturing at most two pointers costs no allocation. May suspend.
  void send(const std::string& topic, std::optional<int32_t> partition,
            std::optional<std::span<const uint8_t>> key,
            std::optional<std::span<const uint8_t>> value, std::span<const RecordHeader> headers,
            DeliveryCallback callback);

  // Sends everything appended so far now and waits until all of it completed.
  // May suspend.
  void flush();
  // flush(), then stops the sender. Later sends fail with ErrorKind::closed.
  void close();

  struct State;

 private:
  std::shared_ptr<State> state_;
};

}  // namespace weir::client
