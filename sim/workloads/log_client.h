// The log client of the workloads over weir's brokers (broker_log, replication): weir's
// own Kafka client on a simulated host, producing unique 64-bit values with an
// idempotent acks=all producer to a topic (auto-created) and reading every partition
// from the start, over and over, into a checkers::LogHistory. After the runner's final
// power loss of every node, the restarted client reads every partition whole (the
// history's final log).
//
// Every operation goes into the history: a produce is ok (with its partition and
// offset), or unknown (any error: a timeout, a reset, a closed producer — the write may
// or may not have happened).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "runtime/network.h"
#include "sim/checkers/log.h"
#include "sim/world.h"

namespace weir::sim {

struct LogClientHistory {
  checkers::LogHistory log;
  bool quiesced = false;
  runtime::Instant healed_at = runtime::Instant::max();
  uint64_t next_value = 1;
};

struct LogClientOptions {
  std::vector<runtime::Address> bootstrap;
  std::string topic = "events";
  int32_t partitions = 2;
};

// The client process: lives on a non-faulty host; its history outlives its crashes.
std::unique_ptr<Process> make_log_client(NodeContext& context, LogClientHistory& history,
                                         LogClientOptions options);

// The log checkers over the client's history (integrity, durability, reads, progress),
// and a liveness failure when the final read did not finish. Returns the summary.
std::string check_log_client(const LogClientHistory& history, CheckResult& result);

}  // namespace weir::sim
