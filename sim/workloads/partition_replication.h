// replication: partition replication under faults, on shipped nodes — three
// controller nodes and three broker nodes (server::Node, as `weir server` runs them),
// and a client node running weir's own Kafka client (sim/workloads/log_client.h): an
// idempotent acks=all producer to a topic of replication factor 3 with
// min.insync.replicas=2, and consumers reading it from the start, over and over, while
// brokers and controllers crash (power loss), are killed, paused, cut off by network
// partitions and see disk faults. Leaders move; followers truncate where they diverged
// and catch up; the ISR shrinks and grows.
//
// Kafka's promise for these settings (no unclean election): an acknowledged write is
// never lost. The checkers (sim/checkers/log.h) hold the run to it after the runner's
// final power loss of every node:
//  - durability: every acknowledged write is at its acknowledged offset in the final
//    log;                      (catches --flaw ack-on-leader, skip-follower-truncation)
//  - reads: a consumer never read a record that was later gone or replaced (it reads
//    below the high watermark only, which never covers uncommitted data);
//                                                   (catches --flaw shrink-isr-early)
//  - integrity: values stored once, offsets increasing; liveness after healing.
#pragma once

#include <memory>

#include "sim/workloads/workload.h"

namespace weir::sim {

std::unique_ptr<Workload> make_partition_replication_workload(const RunOptions& options);

}  // namespace weir::sim
