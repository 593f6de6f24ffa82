// The leader-epoch rules against Kafka's documented answers (LeaderEpochFileCache,
// Partition.readRecords, AbstractFetcherThread), and a property: after the follower
// truncates as told and fetches again until no divergence is reported, its log is a
// prefix of the leader's by epochs.
#include "replication/epoch_rules.h"

#include <vector>

#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

namespace weir::replication {
namespace {

std::vector<EpochEntry> entries(std::initializer_list<std::pair<int32_t, int64_t>> list) {
  std::vector<EpochEntry> out;
  for (auto [epoch, start] : list) out.push_back({LeaderEpoch(epoch), Offset(start)});
  return out;
}

EpochEnd end(int32_t epoch, int64_t offset) { return {LeaderEpoch(epoch), Offset(offset)}; }

TEST(EpochRules, EndOffsetForEpochAnswersAsKafkasCache) {
  const auto log = entries({{1, 0}, {3, 10}, {4, 25}});
  const Offset log_end(40);
  EXPECT_EQ(end_offset_for_epoch(log, log_end, LeaderEpoch(4)), end(4, 40));  // the latest
  EXPECT_EQ(end_offset_for_epoch(log, log_end, LeaderEpoch(3)), end(3, 25));
  EXPECT_EQ(end_offset_for_epoch(log, log_end, LeaderEpoch(2)), end(1, 10));   // floor
  EXPECT_EQ(end_offset_for_epoch(log, log_end, LeaderEpoch(0)), end(0, 0));    // below the first
  EXPECT_FALSE(end_offset_for_epoch(log, log_end, LeaderEpoch(5)).defined());  // above
  EXPECT_FALSE(end_offset_for_epoch(log, log_end, LeaderEpoch(-1)).defined());
  EXPECT_FALSE(end_offset_for_epoch({}, log_end, LeaderEpoch(1)).defined());
}

TEST(EpochRules, AFollowerWithRecordsOfAnEpochTheLeaderEndedEarlierDiverges) {
  const auto leader = entries({{1, 0}, {3, 10}});
  // The follower has epoch 1 up to 14: the leader's epoch 1 ended at 10.
  PositionCheck check =
      check_follower_position(leader, Offset(0), Offset(30), Offset(15), LeaderEpoch(1));
  EXPECT_EQ(check.kind, PositionCheck::Kind::diverging);
  EXPECT_EQ(check.diverging, end(1, 10));
  // The follower has epoch 2, which the leader never had: it diverges at epoch 1's end.
  check = check_follower_position(leader, Offset(0), Offset(30), Offset(12), LeaderEpoch(2));
  EXPECT_EQ(check.kind, PositionCheck::Kind::diverging);
  EXPECT_EQ(check.diverging, end(1, 10));
  // In agreement: epoch 3 up to 20.
  check = check_follower_position(leader, Offset(0), Offset(30), Offset(20), LeaderEpoch(3));
  EXPECT_EQ(check.kind, PositionCheck::Kind::fetch);
  // An epoch newer than the leader's, below the log start, past the log end.
  EXPECT_EQ(check_follower_position(leader, Offset(0), Offset(30), Offset(20), LeaderEpoch(9)).kind,
            PositionCheck::Kind::out_of_range);
  EXPECT_EQ(check_follower_position(leader, Offset(5), Offset(30), Offset(2), LeaderEpoch(-1)).kind,
            PositionCheck::Kind::out_of_range);
  EXPECT_EQ(
      check_follower_position(leader, Offset(0), Offset(30), Offset(31), LeaderEpoch(-1)).kind,
      PositionCheck::Kind::out_of_range);
}

TEST(EpochRules, TruncationFollowsTheLeadersAnswer) {
  const auto follower = entries({{1, 0}, {2, 12}});
  // The leader's epoch 1 ended at 10; the follower's at 12: cut to 10.
  EXPECT_EQ(truncation_for(follower, Offset(20), end(1, 10)), (Truncation{Offset(10), true}));
  // An epoch the follower knows nothing at or below: cut to the leader's end of it.
  EXPECT_EQ(truncation_for(follower, Offset(20), end(3, 15)), (Truncation{Offset(15), true}));
  // The leader names epoch 2, which this follower lacks (it went from 1 to 3): cut to
  // its own end of epoch 1 and ask again.
  const auto skipped = entries({{1, 0}, {3, 12}});
  EXPECT_EQ(truncation_for(skipped, Offset(20), end(2, 15)), (Truncation{Offset(12), false}));
  // Undefined answers.
  EXPECT_EQ(truncation_for(follower, Offset(20), EpochEnd{}), (Truncation{Offset(20), true}));
  EXPECT_EQ(truncation_for(follower, Offset(20), end(-1, 7)), (Truncation{Offset(7), true}));
}

TEST(EpochRules, EpochBeforeAnOffsetIsTheLastBatchsEpoch) {
  const auto log = entries({{1, 0}, {2, 5}, {3, 5}, {4, 9}});
  EXPECT_EQ(epoch_before(log, Offset(0)), LeaderEpoch(-1));
  EXPECT_EQ(epoch_before(log, Offset(5)), LeaderEpoch(1));
  EXPECT_EQ(epoch_before(log, Offset(7)), LeaderEpoch(3));  // epoch 2 has no batches
  EXPECT_EQ(epoch_before(log, Offset(12)), LeaderEpoch(4));
}

// A log as the epoch of each offset (offset i has epochs[i]).
std::vector<EpochEntry> entries_of(const std::vector<int32_t>& epochs) {
  std::vector<EpochEntry> out;
  for (size_t i = 0; i < epochs.size(); i++) {
    if (out.empty() || out.back().epoch != LeaderEpoch(epochs[i])) {
      out.push_back({LeaderEpoch(epochs[i]), Offset(static_cast<int64_t>(i))});
    }
  }
  return out;
}

// Two logs that share a prefix, then each goes on in epochs of its own (the follower's
// never above the leader's latest, as after an election the leader has the newest):
// the fetch/truncate exchange ends with the follower holding exactly the common prefix
// or less, never a record the leader does not have at that offset.
RC_GTEST_PROP(EpochRules, TruncationLeavesTheFollowerAPrefixOfTheLeader, ()) {
  std::vector<int32_t> common;
  int32_t epoch = 1;
  const auto common_length = *rc::gen::inRange<size_t>(0, 20);
  for (size_t i = 0; i < common_length; i++) {
    if (*rc::gen::inRange(0, 4) == 0) epoch++;
    common.push_back(epoch);
  }
  // Each side continues with strictly newer epochs than the common prefix's; the
  // leader's newest epoch is above all of the follower's.
  std::vector<int32_t> follower = common;
  std::vector<int32_t> leader = common;
  int32_t follower_epoch = epoch + *rc::gen::inRange(1, 3);
  for (size_t i = 0, n = *rc::gen::inRange<size_t>(0, 15); i < n; i++) {
    if (*rc::gen::inRange(0, 5) == 0) follower_epoch++;
    follower.push_back(follower_epoch);
  }
  int32_t leader_epoch = std::max(follower_epoch, epoch) + *rc::gen::inRange(1, 3);
  for (size_t i = 0, n = *rc::gen::inRange<size_t>(0, 15); i < n; i++)
    leader.push_back(leader_epoch);
  // The leader may also have (some of) the follower's epochs if it was the follower's
  // leader before: not modelled; divergence here is only past the common prefix.
  const auto leader_entries = entries_of(leader);
  for (int round = 0; round < 40; round++) {
    const auto follower_entries = entries_of(follower);
    const Offset fetch_offset(static_cast<int64_t>(follower.size()));
    const LeaderEpoch last = epoch_before(follower_entries, fetch_offset);
    const PositionCheck check = check_follower_position(
        leader_entries, Offset(0), Offset(static_cast<int64_t>(leader.size())), fetch_offset, last);
    if (check.kind == PositionCheck::Kind::fetch) {
      // It agrees: every record it has is the leader's at that offset.
      RC_ASSERT(follower.size() <= leader.size());
      for (size_t i = 0; i < follower.size(); i++) RC_ASSERT(follower[i] == leader[i]);
      return;
    }
    if (check.kind == PositionCheck::Kind::out_of_range) {
      // The leader knows no epoch of the follower's (it has none at or below): the
      // follower asks for the leader's log end (ListOffsets) and cuts to it.
      follower.resize(std::min(follower.size(), leader.size()));
      continue;
    }
    const Truncation cut = truncation_for(follower_entries, fetch_offset, check.diverging);
    RC_ASSERT(cut.offset.value() <= static_cast<int64_t>(follower.size()));
    follower.resize(static_cast<size_t>(cut.offset.value()));
  }
  RC_FAIL("the exchange did not settle");
}

}  // namespace
}  // namespace weir::replication
