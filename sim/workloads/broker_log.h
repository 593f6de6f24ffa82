// broker_log: one weir broker (the real src/broker code) and a client node running
// weir's own Kafka client, in the simulator with crashes, disk and network faults.
//
// The client produces unique 64-bit values with an idempotent acks=all producer to a
// two-partition topic (auto-created), and a consumer reads both partitions from the
// start, over and over. Every operation goes into the history: a produce is ok (with
// its partition and offset), or unknown (any error: a timeout, a reset, a closed
// producer — the write may or may not have happened). After the runner's final power
// loss of every node, the restarted client reads both partitions whole.
//
// The history is a checkers::LogHistory; its checkers (sim/checkers/log.h):
//  - durability: every acknowledged write is at its acknowledged offset in the final
//    log;                                             (catches --flaw ack-before-fsync)
//  - integrity: every stored value was written by the client, and stored once
//    (idempotence: a retried batch is never appended twice), and each partition's
//    offsets strictly increase;
//  - reads: no offset ever returned two different records (consumer reads during the
//    run against each other and the final log);
//  - liveness: after healing, produces succeed and the final read completes.
#pragma once

#include <memory>

#include "sim/workloads/workload.h"

namespace weir::sim {

std::unique_ptr<Workload> make_broker_log_workload(const RunOptions& options);

}  // namespace weir::sim
