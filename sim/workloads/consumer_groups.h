// groups: consumer groups under faults, on shipped nodes — three controller nodes, three
// broker nodes (server::Node, as `weir server` runs them; the group coordinator lives in
// their brokers, its state in __consumer_offsets, replicated), a producer client writing
// unique values to one topic (sim/workloads/log_client.h, which also reads the whole
// topic back at the end), three to five group members — each a host of its own running
// weir's GroupConsumer (src/client/group_consumer.h), subject to process faults: crashed,
// killed and paused past their session timeout like the brokers — and a prober that reads
// the group's committed offsets (OffsetFetch) and its state (DescribeGroups) throughout.
//
// Each seed draws the topic's partition count and, per member, how it commits: after
// every poll's records are recorded (manual, commit after processing: at-least-once) or
// by auto commit (enable.auto.commit, every second and before each rebalance).
//
// The checkers (sim/checkers/groups.h), after the runner's final power loss of every
// node:
//  - ownership: no partition owned by two members of one generation;
//                                                (catches --flaw group-same-generation)
//  - commits: an acknowledged commit is never lost, the committed offset never moves
//    backwards;         (catches --flaw group-commit-any-generation,
//                        group-commit-before-durable, group-load-to-hw)
//  - reads: within an assignment reads go forwards and skip nothing; every record below
//    the final committed offset was read by some member (at-least-once);
//  - liveness: after healing the group is Stable with every partition assigned.
// The producer's history is held to the log checkers as well (acks=all, fsync on).
#pragma once

#include <memory>

#include "sim/workloads/workload.h"

namespace weir::sim {

// `consumer_protocol`: the members use KIP-848 (group.protocol=consumer) — the
// groups-consumer workload — instead of the classic protocol.
std::unique_ptr<Workload> make_consumer_groups_workload(const RunOptions& options,
                                                        bool consumer_protocol);

}  // namespace weir::sim
