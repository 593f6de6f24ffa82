// raft: a KRaft controller quorum (the real src/raft code: RaftNode behind the
// controller listener's RaftService, Kafka's Vote/BeginQuorumEpoch/EndQuorumEpoch/Fetch
// over the simulated network) of 3 voters on odd seeds and 5 on even ones, under every
// fault kind. On each controller a client fiber appends unique values whenever that
// node leads, and records each append as ok (committed, at its offset), failed (refused:
// not the leader) or unknown. An applier fiber on each node reads committed entries in
// order and folds them into a digest, as a metadata state machine would.
//
// The hooks record into the histories of sim/checkers/raft.h, whose checkers judge them
// (DESIGN.md §2, Raft):
//  - election safety: at most one leader per epoch, one vote per voter per epoch;
//                                              (catches vote-twice, vote-before-persist)
//  - the commitment rule: a leader moves the high watermark only over an entry of its
//    own epoch;                                                   (commit-by-count)
//  - leader completeness: a new leader's log holds every entry committed so far, at
//    its offset and epoch;                                        (commit-by-count)
//  - state-machine safety: no offset is committed with two different entries, and
//    every node's digest is equal at equal offsets;
//  - log matching: in the final logs, two entries with the same offset and epoch are
//    identical, and so is everything before them;           (no-divergence-truncation)
//  - durability: every acknowledged append is in every final log at its offset;
//  - liveness: after healing, appends commit again, and after the final power loss all
//    logs converge to one committed log.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>

#include "raft/types.h"
#include "runtime/clock.h"
#include "sim/workloads/workload.h"

namespace weir::sim {

std::unique_ptr<Workload> make_raft_quorum_workload(const RunOptions& options);

// The Raft flaws of a run's --flaw options, planted in every controller.
raft::RaftFlaws raft_flaws_of(const Flaws& flaws);

// For bench/: a quorum of `voters` without injected faults; once a leader has
// committed, it is killed (kill -9). Returns the virtual time from the kill until
// another voter leads, or nullopt if none did within a minute.
std::optional<runtime::Duration> measure_raft_failover(uint64_t seed, int voters);

}  // namespace weir::sim
