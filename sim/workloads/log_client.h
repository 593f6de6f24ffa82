// The log client of the workloads over weir's brokers (broker_log, replication): weir's
// own Kafka client on a simulated host. It writes one or more streams — a topic and the
// producer writing it (acks, idempotence) — producing unique 64-bit values, and reads
// every partition of every stream from the start, over and over, each stream into its
// own checkers::LogHistory. A stream's topic is auto-created by the first Metadata
// request, or created first with the stream's replication factor and configs. After the
// runner's final power loss of every node, the restarted client reads every partition
// whole (each history's final log).
//
// Every operation goes into the history: a produce is ok (with its partition and
// offset), or unknown (any error: a timeout, a reset, a closed producer — the write may
// or may not have happened; and every acks=0 write, which nothing acknowledges).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "record/types.h"
#include "runtime/network.h"
#include "sim/checkers/log.h"
#include "sim/world.h"

namespace weir::sim {

struct LogStream {
  std::string topic = "events";
  int32_t partitions = 2;
  int16_t acks = -1;
  bool idempotent = true;
  // Set: the client creates the topic (replication factor, configs) before writing.
  std::optional<int16_t> replication_factor;
  std::vector<std::pair<std::string, std::string>> configs;
};

struct LogClientHistory {
  std::vector<checkers::LogHistory> streams;  // streams[i] is LogClientOptions::streams[i]
  bool quiesced = false;
  runtime::Instant healed_at = runtime::Instant::max();
  uint64_t next_value = 1;
  // Consumer answers whose offsets did not strictly increase within one partition
  // (the first few).
  struct OrderViolation {
    size_t stream = 0;
    int32_t partition = 0;
    int64_t offset = 0;
    int64_t previous = 0;
    runtime::Instant at;
  };
  std::vector<OrderViolation> order_violations;
  // Partition reassignments the client asked for (started or cancelled) and how many
  // the controller accepted.
  size_t reassignments_asked = 0;
  size_t reassignments_accepted = 0;
};

struct LogClientOptions {
  std::vector<runtime::Address> bootstrap;
  std::vector<LogStream> streams;
  // Non-empty: until healing, every 1-4 s the client moves a partition of a stream it
  // created to replicas drawn from these brokers (as many as it had), or cancels the
  // partition's reassignment in progress (1 in 5) — AlterPartitionReassignments.
  std::vector<int32_t> reassign_among;
};

// The value a record of a stream carries (8 bytes, big-endian; 0 for anything else).
uint64_t decode_log_value(const std::optional<record::Bytes>& value);

// The client process: lives on a non-faulty host; its history outlives its crashes.
std::unique_ptr<Process> make_log_client(NodeContext& context, LogClientHistory& history,
                                         LogClientOptions options);

// The log checkers over one stream's history (integrity, durability, reads, progress),
// and a liveness failure when the final read did not finish. Returns the summary.
std::string check_log_client(const LogClientHistory& history, CheckResult& result);

// Fails the result for a final read that did not finish; false when there is no final
// log to check.
bool check_log_client_reads_finished(const LogClientHistory& history, CheckResult& result);

}  // namespace weir::sim
