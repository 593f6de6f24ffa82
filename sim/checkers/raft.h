// Checkers of Raft's safety properties over recorded histories, for any workload that
// runs a quorum (the raft workload's bare KRaft quorum, the metadata workload's
// controllers and the brokers that follow their log). Hooks on the nodes call the
// record_* functions as things happen; the check_* functions judge at the end.
//
// - ElectionHistory: who led each epoch, who each voter voted for;
// - DigestHistory: every distinct digest of an applied state at each log offset;
// - CommitHistory: the entries applied at each offset, the log each new leader held,
//   and each move of a leader's high watermark;
// - FinalLogs: every node's whole log after the final power loss.
#pragma once

#include <cstdint>
#include <optional>
#include <utility>
#include <vector>

#include <absl/container/btree_map.h>
#include <absl/container/btree_set.h>

#include "raft/types.h"
#include "sim/checkers/log.h"
#include "sim/checkers/result.h"

namespace weir::sim::checkers {

// --- Elections --------------------------------------------------------------------------

struct ElectionHistory {
  absl::btree_map<raft::Epoch, absl::btree_set<int>> leaders;
  // (voter, epoch) → every candidate it granted its vote to, across its restarts.
  absl::btree_map<std::pair<int, raft::Epoch>, absl::btree_set<int>> votes;
};

void record_leader(ElectionHistory& history, raft::Epoch epoch, int node);
void record_vote(ElectionHistory& history, int voter, raft::Epoch epoch, int candidate);

// Election safety: at most one leader per epoch.        (vote-twice, vote-before-persist)
void check_election_safety(const ElectionHistory& history, CheckResult& result);
// Vote safety: one vote per voter per epoch.             (vote-twice, vote-before-persist)
void check_vote_safety(const ElectionHistory& history, CheckResult& result);

// --- Digests of the applied state -------------------------------------------------------

struct DigestHistory {
  // offset → each distinct digest of the state applied below it, and the first node
  // that reported it.
  absl::btree_map<int64_t, absl::btree_map<uint64_t, int>> digests;
};

// `node`'s state machine, having applied everything below `offset`, has `digest`.
void record_digest(DigestHistory& history, int node, int64_t offset, uint64_t digest);

// State-machine safety: equal digests at equal offsets, on every node and across its
// restarts. Reported once, at the first offset that differs, with a count.
//                     (no-divergence-truncation, snapshot-without-configs)
void check_digests(const DigestHistory& history, CheckResult& result);

// --- Committed entries and leaders' logs --------------------------------------------------

// One log entry as the checkers compare them: the batch CRC covers its content (not its
// offset or epoch, which the log assigns).
struct RaftEntry {
  raft::Epoch epoch;
  uint32_t crc = 0;
  uint64_t value = 0;  // the appended value; 0 for a control entry
  bool operator==(const RaftEntry&) const = default;
};

// The epochs of a log: where each starts, and where the log ends.
struct LogShape {
  std::vector<raft::EpochStart> epochs;
  record::Offset end{0};
};

// The epoch of the entry at `offset` in a log of this shape, if it holds one.
std::optional<raft::Epoch> epoch_at(const LogShape& log, record::Offset offset);

struct CommitHistory {
  struct Applied {
    RaftEntry entry;
    int node = 0;
    size_t sequence = 0;  // the order in which (offset, entry) pairs were first seen
  };
  // offset → each distinct entry applied there (the first is the one first applied).
  absl::btree_map<int64_t, std::vector<Applied>> applied;
  size_t sequence = 0;
  struct Election {
    int node = 0;
    raft::Epoch epoch;
    LogShape log;
    size_t applied_before = 0;  // entries seen applied before this leader won
  };
  std::vector<Election> elections;
  struct LeaderCommit {
    int node = 0;
    raft::Epoch epoch;  // the leader's
    int64_t high_watermark = 0;
    std::optional<raft::Epoch> last_entry_epoch;  // of the entry just below it
  };
  std::vector<LeaderCommit> leader_commits;
};

// `node` applied `entry` at `offset` (the state machine read it as committed).
void record_applied(CommitHistory& history, int node, int64_t offset, const RaftEntry& entry);
// `node` won `epoch` holding a log of this shape.
void record_election(CommitHistory& history, int node, raft::Epoch epoch, LogShape log);
// `node`, leader of `epoch`, moved its high watermark to `high_watermark`; the log it
// held put the entry below it in `last_entry_epoch`.
void record_leader_commit(CommitHistory& history, int node, raft::Epoch epoch,
                          int64_t high_watermark, std::optional<raft::Epoch> last_entry_epoch);

// State-machine safety: no offset is applied as two different entries.
void check_applied_entries(const CommitHistory& history, CheckResult& result);
// Leader completeness: a new leader's log holds every entry applied before it won, at
// its offset and epoch.                                         (commit-by-count)
void check_leader_completeness(const CommitHistory& history, CheckResult& result);
// The commitment rule (Raft §5.4.2): a leader counts replicas only for entries of its
// own epoch, so whenever it moves the high watermark the entry below it is of its
// epoch.                                                         (commit-by-count)
void check_commitment_rule(const CommitHistory& history, CheckResult& result);

// --- Final logs ---------------------------------------------------------------------------

struct FinalLogs {
  // node → its whole log, (offset, entry) in order, and its high watermark.
  absl::btree_map<int, std::vector<std::pair<int64_t, RaftEntry>>> logs;
  absl::btree_map<int, int64_t> high_watermarks;
};

// Every node of `nodes` read its log (liveness).
void check_final_logs_read(const FinalLogs& final, size_t nodes, CheckResult& result);
// Log matching: two logs that hold the same entry at an offset agree before it.
//                                                      (no-divergence-truncation)
void check_log_matching(const FinalLogs& final, CheckResult& result);
// Every applied entry is in every final log at its offset.
void check_applied_survive(const CommitHistory& history, const FinalLogs& final,
                           CheckResult& result);
// Durability: every acknowledged append (a LogWrite, partition 0) is in every final log
// at its offset.
void check_append_durability(const std::vector<LogWrite>& appends, const FinalLogs& final,
                             CheckResult& result);
// Liveness: one committed log at the end (equal high watermarks).
void check_final_convergence(const FinalLogs& final, CheckResult& result);

}  // namespace weir::sim::checkers
