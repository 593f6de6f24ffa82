// The vocabulary of weir's Raft (KRaft, KIP-595): replica ids, epochs, log positions,
// the durable quorum state, and the planted flaws the simulator's checkers must catch.
#pragma once

#include <compare>
#include <cstdint>
#include <optional>
#include <vector>

#include "base/ids.h"
#include "base/strong.h"
#include "record/types.h"

namespace weir::raft {

// A node id in the quorum (controller.quorum.voters' ids; a broker's node.id when it
// follows the log as an observer): base/ids.h's NodeId, as metadata::BrokerId is.
using ReplicaId = weir::NodeId;
// A Raft epoch (term). KRaft writes it into every batch's partition leader epoch.
using Epoch = record::LeaderEpoch;
using Offset = record::Offset;

// A point in a log: the end offset (one past the last entry) and the epoch of the
// last entry. Logs compare by (epoch, offset): Raft's "at least as up to date".
struct LogPosition {
  Offset offset{0};
  Epoch epoch{0};
  bool operator==(const LogPosition&) const = default;
  friend bool at_least_as_up_to_date(const LogPosition& a, const LogPosition& b) {
    if (a.epoch != b.epoch) return a.epoch > b.epoch;
    return a.offset >= b.offset;
  }
};

// A snapshot is named by the log position it ends at: one past the last entry it
// covers, and that entry's epoch. A log that starts after a snapshot starts at its id.
using SnapshotId = LogPosition;

// Where an epoch's entries begin in a log (Kafka's leader-epoch cache entry).
struct EpochStart {
  Epoch epoch;
  Offset start;
  bool operator==(const EpochStart&) const = default;
};

// What a voter must have on disk before it says anything that depends on it: its
// epoch, whom it voted for in that epoch, and the leader it knows. Losing a vote in a
// crash would let a voter vote twice in one epoch (two leaders).
struct QuorumState {
  Epoch epoch{0};
  std::optional<ReplicaId> voted_for;
  std::optional<ReplicaId> leader;
  bool operator==(const QuorumState&) const = default;
};

// Deliberate bugs, switched on only by tests and `weir-sim --flaw`, each one a classic
// Raft mistake that a checker must catch.
struct RaftFlaws {
  // Grant a vote even after voting for another candidate in the same epoch.
  bool vote_twice_in_epoch = false;
  // Answer a Vote request before the vote is durable (a crash forgets it).
  bool vote_before_persist = false;
  // Count entries of a previous epoch as committed once a majority holds them, without
  // waiting for an entry of the leader's own epoch (Raft paper, figure 8).
  bool commit_previous_epoch_by_count = false;
  // Leader: answer a fetch whose last fetched epoch diverges from the leader's log
  // with records instead of the diverging epoch, so the follower never truncates.
  bool no_divergence_truncation = false;
};

}  // namespace weir::raft
