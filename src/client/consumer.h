// The consumer with manual assignment: assign partitions, seek, poll.
//
// poll() keeps at most one Fetch in flight per broker, for the assigned partitions
// that broker leads and whose position is known, and returns buffered records; the
// next Fetch is sent before poll returns, so fetching overlaps with the caller's
// processing. Positions move only forward by what poll hands out, except by seek()
// and by an offset reset.
//
// Invariants:
//  - Records are returned per partition in offset order, each offset once, starting
//    at the position; a response to a Fetch sent for an older position (a seek came
//    in between) is dropped.
//  - Control batches and, with read_committed, aborted transactions' batches are
//    skipped; the position still moves past them.
//  - OFFSET_OUT_OF_RANGE resets the position by auto.offset.reset (earliest or
//    latest, found with ListOffsets), or, with none, makes poll fail with that error.
//  - The Cluster outlives the Consumer.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "client/cluster.h"
#include "client/errors.h"
#include "record/batch.h"
#include "record/types.h"

namespace weir::client {

enum class OffsetReset : uint8_t { earliest, latest, none };

struct ConsumerConfig {
  int32_t fetch_min_bytes = 1;                                    // fetch.min.bytes
  runtime::Duration fetch_max_wait = runtime::milliseconds(500);  // fetch.max.wait.ms
  int32_t fetch_max_bytes = 52428800;                             // fetch.max.bytes
  int32_t max_partition_fetch_bytes = 1048576;                    // max.partition.fetch.bytes
  bool read_committed = false;                                    // isolation.level
  OffsetReset auto_offset_reset = OffsetReset::latest;            // auto.offset.reset
  size_t max_poll_records = 500;                                  // max.poll.records
  runtime::Duration retry_backoff = runtime::milliseconds(100);   // retry.backoff.ms
};

// Applies one Kafka consumer property (the ones above); an error names the key.
std::optional<std::string> apply_consumer_property(ConsumerConfig& config, std::string_view key,
                                                   std::string_view value);

struct ConsumerRecord {
  TopicPartition partition;
  record::Offset offset{0};
  int64_t timestamp = 0;
  record::TimestampType timestamp_type = record::TimestampType::create_time;
  record::LeaderEpoch leader_epoch{-1};
  std::optional<record::Bytes> key;
  std::optional<record::Bytes> value;
  std::vector<record::Header> headers;
};

// ListOffsets' special timestamps.
inline constexpr int64_t kLatestTimestamp = -1;
inline constexpr int64_t kEarliestTimestamp = -2;

class Consumer {
 public:
  Consumer(Cluster& cluster, ConsumerConfig config);
  ~Consumer();
  Consumer(const Consumer&) = delete;
  Consumer& operator=(const Consumer&) = delete;

  // Replaces the assignment. Positions of partitions kept stay; new ones start
  // unknown and are reset by auto.offset.reset at the first poll.
  void assign(std::vector<TopicPartition> partitions);
  std::vector<TopicPartition> assignment() const;
  void seek(const TopicPartition& partition, record::Offset offset);
  // Positions from ListOffsets. May suspend.
  ClientResult<void> seek_to_beginning_wait(const std::vector<TopicPartition>& partitions);
  ClientResult<void> seek_to_end_wait(const std::vector<TopicPartition>& partitions);
  // The offset of the next record poll hands out for the partition — records fetched
  // ahead and still buffered do not count, as in Kafka's position(); what a group
  // consumer commits after processing what poll returned.
  std::optional<record::Offset> position(const TopicPartition& partition) const;
  // The offset of the first record with timestamp >= `timestamp`, or of the log start
  // (kEarliestTimestamp) or end (kLatestTimestamp). May suspend.
  ClientResult<record::Offset> list_offset_wait(const TopicPartition& partition, int64_t timestamp);
  // The high watermark last seen in a Fetch response, if any.
  std::optional<record::Offset> high_watermark(const TopicPartition& partition) const;

  // Returns records available within `timeout` (possibly none). Fails on errors the
  // caller must see: OFFSET_OUT_OF_RANGE without auto.offset.reset, an unknown topic
  // after metadata refreshes, a corrupt batch. May suspend.
  ClientResult<std::vector<ConsumerRecord>> poll(runtime::Duration timeout);

  struct State;

 private:
  std::shared_ptr<State> state_;
};

}  // namespace weir::client
