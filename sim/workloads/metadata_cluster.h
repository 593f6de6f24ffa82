// metadata: a KRaft cluster's metadata plane — 3 controllers on odd seeds and 5 on even
// ones (the real RaftNode, MetadataLoader and QuorumController behind the controller
// listener) and 3 brokers following the metadata log as observers through the real
// BrokerLink (registration, heartbeats, fencing), under every fault kind. On each
// broker an admin fiber sends what a broker forwards for its clients: CreateTopics
// (a fresh name each time), DeleteTopics of topics it saw created, and
// IncrementalAlterConfigs, each recorded as ok, failed or unknown.
//
// The hooks and admins record into the histories of sim/checkers/ (raft.h, admin.h,
// disk.h), whose checkers judge them:
//  - election safety: at most one leader per epoch;
//  - state-machine safety: every node's image (controllers and brokers) has the same
//    digest at the same metadata offset;
//  - linearizable admin operations: an acknowledged creation is in the final image
//    with the topic id it was answered with, unless a deletion of it was attempted; an
//    acknowledged deletion is never undone; a refused creation never takes effect; a
//    topic's final config value is one that was asked for;   (answer-before-commit)
//  - state-machine safety covers snapshots too: a node that loads a snapshot publishes
//    its image at the snapshot's offset;                    (snapshot-without-configs)
//  - read-your-writes: a broker that acknowledged a creation or deletion shows it in
//    every Metadata answer it gives afterwards;
//  - disk convergence: after the final restart each broker's partition directories are
//    exactly those its image places on it;
//  - liveness after healing: an admin operation is acknowledged after the heal, and
//    after the final power loss a controller leads again and every broker is
//    registered and unfenced.
#pragma once

#include <memory>

#include "sim/workloads/workload.h"

namespace weir::sim {

std::unique_ptr<Workload> make_metadata_cluster_workload(const RunOptions& options);

}  // namespace weir::sim
