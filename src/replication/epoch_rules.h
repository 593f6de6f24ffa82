// The leader-epoch rules of partition replication (KIP-101, KIP-279, KIP-320 and
// truncation on fetch, KIP-595's form of it): pure functions over a log's epoch entries
// (its leader-epoch-checkpoint), shared by the leader that answers a follower and the
// follower that truncates. Nothing here suspends or touches a log.
//
// A log's epoch entries say where each leader epoch's batches start: entry i covers
// [entries[i].start_offset, entries[i+1].start_offset), the last one up to the log end.
// Two replicas agree on every offset below the end of the largest epoch both have
// entries for, up to the smaller of their ends for it (the Log Matching property Raft
// states, which Kafka's epochs give partitions); above it the follower's records may
// be ones no leader committed, and it truncates before fetching more.
#pragma once

#include <optional>
#include <span>

#include "record/types.h"
#include "storage/checkpoint.h"

namespace weir::replication {

using record::Offset;
using storage::EpochEntry;

// An epoch and the offset its batches end at (exclusive); both -1 when undefined.
struct EpochEnd {
  LeaderEpoch epoch{-1};
  Offset end_offset{-1};
  bool defined() const { return epoch != LeaderEpoch(-1) && end_offset != Offset(-1); }
  bool operator==(const EpochEnd&) const = default;
};

// Kafka's LeaderEpochFileCache.endOffsetFor: for `requested`, the largest epoch <= it
// that the log has and where that epoch ends — the next epoch's start, or `log_end`
// for the latest. A requested epoch below the first entry answers (requested, first
// start): the requester's records of it are all above where this log's history begins
// to differ. Above the latest, or with no entries, or -1: undefined.
EpochEnd end_offset_for_epoch(std::span<const EpochEntry> entries, Offset log_end,
                              LeaderEpoch requested);

// What a leader answers a follower's fetch position with.
struct PositionCheck {
  enum class Kind {
    fetch,         // read from fetch_offset: the follower's log matches the leader's below it
    diverging,     // answer DivergingEpoch = `diverging`, no records: it must truncate
    out_of_range,  // OFFSET_OUT_OF_RANGE: below the log start, or above the log end
  };
  Kind kind = Kind::fetch;
  EpochEnd diverging;
};

// The leader's check of a follower fetching from `fetch_offset`, whose last batch
// (below fetch_offset) has epoch `last_fetched_epoch` (-1: it has none, an empty log or
// one starting at fetch_offset). As Kafka's Partition.readRecords: the follower diverges
// when the leader's end for that epoch is below fetch_offset, or the leader has only a
// smaller epoch there.
PositionCheck check_follower_position(std::span<const EpochEntry> leader_entries,
                                      Offset leader_log_start, Offset leader_log_end,
                                      Offset fetch_offset, LeaderEpoch last_fetched_epoch);

// Where a follower truncates to, given the leader's DivergingEpoch answer: as Kafka's
// AbstractFetcherThread.getOffsetTruncationState. `completed` false means the follower
// had only a smaller epoch than the leader's answer, cut to its own end for it, and
// must fetch again (the next answer may diverge further down).
struct Truncation {
  Offset offset;
  bool completed = true;
  bool operator==(const Truncation&) const = default;
};
Truncation truncation_for(std::span<const EpochEntry> follower_entries, Offset follower_log_end,
                          const EpochEnd& leader_answer);

// The epoch of the last batch below `offset` by the entries (-1 when none is below).
LeaderEpoch epoch_before(std::span<const EpochEntry> entries, Offset offset);

}  // namespace weir::replication
