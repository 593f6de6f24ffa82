#include "replication/epoch_rules.h"

#include <algorithm>

#include "base/assert.h"

namespace weir::replication {

EpochEnd end_offset_for_epoch(std::span<const EpochEntry> entries, Offset log_end,
                              LeaderEpoch requested) {
  if (requested == LeaderEpoch(-1) || entries.empty()) return {};
  const EpochEntry& latest = entries.back();
  if (requested == latest.epoch) return {requested, log_end};
  if (requested > latest.epoch) return {};
  // The first entry above the requested epoch; the one before it (if any) is the
  // largest epoch <= requested.
  auto higher = std::upper_bound(
      entries.begin(), entries.end(), requested,
      [](LeaderEpoch value, const EpochEntry& entry) { return value < entry.epoch; });
  VERIFY(higher != entries.end(), "an epoch below the latest has a higher entry");
  if (higher == entries.begin()) return {requested, higher->start_offset};
  return {std::prev(higher)->epoch, higher->start_offset};
}

PositionCheck check_follower_position(std::span<const EpochEntry> leader_entries,
                                      Offset leader_log_start, Offset leader_log_end,
                                      Offset fetch_offset, LeaderEpoch last_fetched_epoch) {
  PositionCheck check;
  if (last_fetched_epoch != LeaderEpoch(-1)) {
    const EpochEnd end = end_offset_for_epoch(leader_entries, leader_log_end, last_fetched_epoch);
    if (!end.defined()) {
      // The follower has an epoch newer than any this leader knows: it cannot follow
      // this leader's log (Kafka answers OFFSET_OUT_OF_RANGE).
      check.kind = PositionCheck::Kind::out_of_range;
      return check;
    }
    if (fetch_offset < leader_log_start) {
      check.kind = PositionCheck::Kind::out_of_range;
      return check;
    }
    if (end.epoch < last_fetched_epoch || end.end_offset < fetch_offset) {
      check.kind = PositionCheck::Kind::diverging;
      check.diverging = end;
      return check;
    }
  }
  if (fetch_offset < leader_log_start || fetch_offset > leader_log_end) {
    check.kind = PositionCheck::Kind::out_of_range;
  }
  return check;
}

Truncation truncation_for(std::span<const EpochEntry> follower_entries, Offset follower_log_end,
                          const EpochEnd& leader_answer) {
  if (leader_answer.end_offset == Offset(-1)) return {follower_log_end, true};
  if (leader_answer.epoch == LeaderEpoch(-1)) {
    return {std::min(leader_answer.end_offset, follower_log_end), true};
  }
  const EpochEnd own =
      end_offset_for_epoch(follower_entries, follower_log_end, leader_answer.epoch);
  if (!own.defined()) return {std::min(leader_answer.end_offset, follower_log_end), true};
  if (own.epoch == leader_answer.epoch) {
    return {std::min({leader_answer.end_offset, own.end_offset, follower_log_end}), true};
  }
  // The follower lacks the leader's epoch: cut to its own end of the largest smaller
  // one, then ask again about that one.
  return {std::min(own.end_offset, follower_log_end), false};
}

LeaderEpoch epoch_before(std::span<const EpochEntry> entries, Offset offset) {
  auto after = std::lower_bound(
      entries.begin(), entries.end(), offset,
      [](const EpochEntry& entry, Offset value) { return entry.start_offset < value; });
  if (after == entries.begin()) return LeaderEpoch(-1);
  return std::prev(after)->epoch;
}

}  // namespace weir::replication
