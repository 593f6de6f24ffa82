// replicated_log: the workload that proves the simulator itself, before any Kafka.
//
// Three replicas (r0 leads, always) keep an append-only log of 64-bit values in a file
// of fixed-size checksummed entries; a client node writes unique values through the
// leader and reads committed indexes from any replica. The leader acknowledges a write
// once it is fsynced locally and stored on a majority (group commit); followers accept
// entries only after a prev-entry match (AppendEntries-style), so a restarted leader
// that lost an unsynced tail overwrites followers' stale entries.
//
// Checkers (see check()): the client's writes and reads are a checkers::LogHistory,
// judged by sim/checkers/log.h (the log's indexes are its offsets):
//  - durability: every acknowledged write is at its acknowledged index after a final
//    power loss of every node;                       (catches --flaw ack-before-fsync)
//  - integrity: every value read or stored was written by a client, at one index only,
//    and every read matches the final log;            (catches --flaw skip-checksum)
// and, over what only this workload sees:
//  - partitions: no message was received whose send time lies inside a cut of its
//    link;                                            (catches --flaw partition-leak)
//  - agreement: followers match the leader below what they know to be committed;
//  - liveness: after healing, writes succeed and all replicas converge.
#pragma once

#include <memory>

#include "sim/workloads/workload.h"

namespace weir::sim {

std::unique_ptr<Workload> make_replicated_log_workload(const RunOptions& options);

}  // namespace weir::sim
