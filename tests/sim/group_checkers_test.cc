// The group checkers (sim/checkers/groups.h) on hand-made histories: each passes a clean
// history and fails the flaw it exists for.
#include <string>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "sim/checkers/groups.h"

namespace weir::sim::checkers {
namespace {

using runtime::Instant;

Instant at_ms(int64_t ms) { return Instant::from_nanoseconds(ms * 1'000'000); }

using FinalLog = std::vector<std::vector<std::pair<int64_t, uint64_t>>>;

// Two partitions of four records each; values 100 + partition * 10 + offset.
FinalLog four_records_each() {
  FinalLog log(2);
  for (int32_t p = 0; p < 2; p++) {
    for (int64_t offset = 0; offset < 4; offset++) {
      log[static_cast<size_t>(p)].emplace_back(offset, 100 + p * 10 + offset);
    }
  }
  return log;
}

// c1 owns partition 0 and c2 partition 1 in generation 1; c1 reads and commits 0..3 of
// partition 0, c2 reads and commits 0..1 of partition 1; then generation 2 gives both to
// c1, which reads the rest of partition 1 from c2's commit, and commits all.
GroupHistory clean_history() {
  GroupHistory history;
  history.group = "g";
  history.partitions = 2;
  history.assignments = {
      {"c1", 1, {0}, at_ms(10)}, {"c2", 1, {1}, at_ms(10)}, {"c1", 2, {0, 1}, at_ms(50)}};
  for (int64_t offset = 0; offset < 4; offset++) {
    history.reads.push_back({"c1", 1, 0, offset, static_cast<uint64_t>(100 + offset), at_ms(20)});
  }
  history.reads.push_back({"c2", 1, 1, 0, 110, at_ms(20)});
  history.reads.push_back({"c2", 1, 1, 1, 111, at_ms(21)});
  history.commits.push_back({"c1", 1, 0, 4, at_ms(30), Outcome::ok, at_ms(31)});
  history.commits.push_back({"c2", 1, 1, 2, at_ms(30), Outcome::ok, at_ms(31)});
  history.probes.push_back({1, 2, at_ms(51), at_ms(52)});
  history.reads.push_back({"c1", 2, 1, 2, 112, at_ms(60)});
  history.reads.push_back({"c1", 2, 1, 3, 113, at_ms(61)});
  history.commits.push_back({"c1", 2, 1, 4, at_ms(70), Outcome::ok, at_ms(71)});
  history.probes.push_back({1, 4, at_ms(80), at_ms(81)});
  history.stable_at = at_ms(100);
  history.final_committed = std::vector<int64_t>{4, 4};
  return history;
}

CheckResult check_all(const GroupHistory& history, const FinalLog& log = four_records_each()) {
  CheckResult result;
  check_group_ownership(history, result);
  check_group_commits(history, result);
  check_group_reads(history, log, result);
  check_group_liveness(history, at_ms(90), runtime::milliseconds(50), result);
  return result;
}

void expect_problem(const CheckResult& result, Verdict verdict, const std::string& text) {
  EXPECT_EQ(result.verdict, verdict);
  bool found = false;
  for (const std::string& problem : result.problems)
    found |= problem.find(text) != std::string::npos;
  EXPECT_TRUE(found) << "no problem with \"" << text << "\" in "
                     << ::testing::PrintToString(result.problems);
}

TEST(GroupCheckers, ACleanHistoryPasses) {
  const CheckResult result = check_all(clean_history());
  EXPECT_EQ(result.verdict, Verdict::ok) << ::testing::PrintToString(result.problems);
}

TEST(GroupCheckers, TwoOwnersInOneGenerationFail) {
  GroupHistory history = clean_history();
  history.assignments.push_back({"c2", 2, {1}, at_ms(50)});
  expect_problem(check_all(history), Verdict::correctness,
                 "partition 1 owned by c1 (at 0.05s) and by c2 (at 0.05s) in generation 2");
  // The same member named twice in one generation is one owner; a partition the topic
  // lacks is its own problem.
  GroupHistory again = clean_history();
  again.assignments.push_back({"c1", 2, {1, 7}, at_ms(55)});
  expect_problem(check_all(again), Verdict::correctness, "assigned partition 7 of a 2-partition");
  EXPECT_EQ(check_all(again).problems.size(), 1u);
}

TEST(GroupCheckers, AnAcknowledgedCommitMissingFromALaterFetchIsLost) {
  GroupHistory history = clean_history();
  history.probes.push_back({0, 2, at_ms(40), at_ms(41)});  // after the commit of 4 at 31 ms
  expect_problem(check_all(history), Verdict::correctness,
                 "partition 0's commit of 4 by c1 (generation 1), acknowledged at 0.031s, is "
                 "lost: OffsetFetch at 0.04s answered 2");
  // A fetch sent before the acknowledgement may miss it.
  GroupHistory early = clean_history();
  early.probes.push_back({0, 2, at_ms(30), at_ms(41)});
  EXPECT_EQ(check_all(early).verdict, Verdict::ok);
  // An explicit reset in between permits it.
  history.resets.push_back({0, at_ms(35), at_ms(36)});
  EXPECT_EQ(check_all(history).verdict, Verdict::ok);
}

TEST(GroupCheckers, AFinalCommittedOffsetBelowAnAcknowledgedCommitIsLost) {
  GroupHistory history = clean_history();
  (*history.final_committed)[1] = 2;
  expect_problem(check_all(history), Verdict::correctness,
                 "partition 1's commit of 4 by c1 (generation 2), acknowledged at 0.071s, is "
                 "lost: the final committed offset is 2");
}

TEST(GroupCheckers, ACommittedOffsetMovingBackwardsFails) {
  GroupHistory history = clean_history();
  history.probes.push_back({1, 3, at_ms(85), at_ms(86)});  // 4 was answered at 81 ms
  expect_problem(check_all(history), Verdict::correctness,
                 "partition 1's committed offset moved backwards: 4 at 0.081s, then 3 at 0.085s");
}

TEST(GroupCheckers, ReadsThatGoBackwardsWithinAnAssignmentFail) {
  GroupHistory history = clean_history();
  history.reads.push_back({"c1", 2, 1, 2, 112, at_ms(62)});  // after 3, same generation
  expect_problem(check_all(history), Verdict::correctness,
                 "c1 read partition 1 offset 2 after offset 3 in generation 2");
  // Rereading in a new assignment (from the committed offset) is at-least-once.
  GroupHistory next = clean_history();
  next.assignments.push_back({"c1", 3, {0, 1}, at_ms(65)});
  next.reads.push_back({"c1", 3, 1, 2, 112, at_ms(66)});
  EXPECT_EQ(check_all(next).verdict, Verdict::ok);
}

TEST(GroupCheckers, ReadsStartOverWithEachAssignmentEvenInOneGeneration) {
  // c1 rejoined and was answered with the same generation: its positions start over
  // from the committed offset, and reading again is no step backwards.
  GroupHistory history = clean_history();
  history.reads.push_back({"c1", 2, 1, 2, 112, at_ms(62), 1});
  const CheckResult again = check_all(history);
  EXPECT_EQ(again.verdict, Verdict::ok) << ::testing::PrintToString(again.problems);
}

TEST(GroupCheckers, ASkippedRecordFails) {
  GroupHistory history = clean_history();
  // c1 reads 2 and then 3 of partition 1: drop the read of 2 and read 1 then 3.
  std::erase_if(history.reads, [](const GroupRead& read) {
    return read.generation == 2 && read.partition == 1 && read.offset == 2;
  });
  history.reads.insert(history.reads.end() - 1, GroupRead{"c1", 2, 1, 1, 111, at_ms(59)});
  expect_problem(check_all(history), Verdict::correctness,
                 "c1 read partition 1 offset 3 right after offset 1 in generation 2 (at "
                 "0.061s), skipping offset 2");
  // Offsets the log lacks (compacted, a control batch) are no skip.
  FinalLog gap = four_records_each();
  gap[1].erase(gap[1].begin() + 2);
  history.final_committed = std::vector<int64_t>{4, 4};
  EXPECT_EQ(check_all(history, gap).verdict, Verdict::ok)
      << ::testing::PrintToString(check_all(history, gap).problems);
}

TEST(GroupCheckers, ARecordBelowTheCommittedOffsetThatNobodyReadFails) {
  GroupHistory history = clean_history();
  // Nobody read partition 1 offset 0 (c2 started at 1), yet the group committed past it.
  std::erase_if(history.reads,
                [](const GroupRead& read) { return read.partition == 1 && read.offset == 0; });
  expect_problem(check_all(history), Verdict::correctness,
                 "partition 1 offset 0 is below the committed offset 4 but no member read it");
}

TEST(GroupCheckers, AGroupNeverStableOrStableTooLateFailsLiveness) {
  GroupHistory never = clean_history();
  never.stable_at.reset();
  expect_problem(check_all(never), Verdict::liveness, "never Stable with every partition");
  GroupHistory late = clean_history();
  late.stable_at = at_ms(200);
  expect_problem(check_all(late), Verdict::liveness, "only at 0.2s, 0.11s after healing");
}

constexpr runtime::Duration kSession = std::chrono::seconds(3);

// KIP-848: c2 gives partition 1 up (its next view lacks it) before c1 takes it.
GroupHistory handed_over() {
  GroupHistory history;
  history.group = "g";
  history.partitions = 2;
  history.assignments = {{"c1", 1, {0}, at_ms(10)},
                         {"c2", 1, {1}, at_ms(10)},
                         {"c2", 1, {}, at_ms(40)},
                         {"c1", 2, {0, 1}, at_ms(50)}};
  return history;
}

TEST(GroupExclusive, AHandOverAfterTheRevocationPasses) {
  CheckResult result;
  check_group_exclusive(handed_over(), kSession, result);
  EXPECT_EQ(result.verdict, Verdict::ok) << ::testing::PrintToString(result.problems);
}

TEST(GroupExclusive, APartitionHeldByTwoAtOnceFails) {
  GroupHistory history = handed_over();
  history.assignments[2].at = at_ms(60);  // c2 lets go only after c1 took it
  history.contacts = {{"c2", at_ms(45)}};  // c2 heard from the coordinator just before
  CheckResult result;
  check_group_exclusive(history, kSession, result);
  expect_problem(result, Verdict::correctness,
                 "group g: partition 1 held by c2 (epoch 1, from 0.01s) and by c1 (epoch 2, "
                 "from 0.05s) at once");
}

TEST(GroupExclusive, AnOverlapIsExcusedOnlyByAFallARemovalOrASilentSession) {
  // A loss alone excuses nothing: c2 was told it is unknown (at 60) by a coordinator
  // that had never removed it — one that forgot the group's state.
  GroupHistory fenced = handed_over();
  fenced.assignments[2].at = at_ms(60);
  fenced.assignments[2].generation = 0;
  fenced.assignments[2].lost = true;
  fenced.contacts = {{"c2", at_ms(45)}};
  CheckResult result;
  check_group_exclusive(fenced, kSession, result);
  EXPECT_EQ(result.verdict, Verdict::correctness);
  // The later holder's loss excuses it: a dropped member applied an old assignment.
  GroupHistory zombie = handed_over();
  zombie.assignments[2].at = at_ms(60);
  zombie.contacts = {{"c2", at_ms(45)}};
  zombie.assignments.push_back({"c1", 0, {}, at_ms(70), true});
  CheckResult zombie_result;
  check_group_exclusive(zombie, kSession, zombie_result);
  EXPECT_EQ(zombie_result.verdict, Verdict::ok) << ::testing::PrintToString(zombie_result.problems);

  GroupHistory crashed = handed_over();
  crashed.assignments.erase(crashed.assignments.begin() + 2);  // c2 never revoked...
  crashed.downs.push_back({"c2", at_ms(45)});                 // ...its process died first
  crashed.contacts = {{"c2", at_ms(44)}};
  CheckResult after_crash;
  check_group_exclusive(crashed, kSession, after_crash);
  EXPECT_EQ(after_crash.verdict, Verdict::ok) << ::testing::PrintToString(after_crash.problems);

  crashed.downs[0].at = at_ms(55);  // died only after c1 took the partition
  CheckResult late_crash;
  check_group_exclusive(crashed, kSession, late_crash);
  EXPECT_EQ(late_crash.verdict, Verdict::correctness);

  // The coordinator removed c2 (it did not revoke in time), or c2 left for a missed
  // poll interval, before c1 took it.
  GroupHistory removed = handed_over();
  removed.assignments[2].at = at_ms(60);
  removed.contacts = {{"c2", at_ms(45)}};
  removed.removals = {{"c2", at_ms(48)}};
  CheckResult after_removal;
  check_group_exclusive(removed, kSession, after_removal);
  EXPECT_EQ(after_removal.verdict, Verdict::ok)
      << ::testing::PrintToString(after_removal.problems);
  removed.removals[0].at = at_ms(52);  // removed only after c1 took it: still two holders
  CheckResult late_removal;
  check_group_exclusive(removed, kSession, late_removal);
  EXPECT_EQ(late_removal.verdict, Verdict::correctness);

  // Silent for a whole session before c1 took it: the coordinator had expired c2.
  GroupHistory silent = handed_over();
  silent.assignments[2].at = at_ms(60);
  silent.contacts = {{"c2", at_ms(20)}};
  CheckResult expired;
  check_group_exclusive(silent, runtime::milliseconds(30), expired);
  EXPECT_EQ(expired.verdict, Verdict::ok) << ::testing::PrintToString(expired.problems);
  silent.contacts.push_back({"c2", at_ms(21)});
  CheckResult not_expired;
  check_group_exclusive(silent, runtime::milliseconds(30), not_expired);
  EXPECT_EQ(not_expired.verdict, Verdict::correctness) << "21 ms to 50 ms is under a session";
}

}  // namespace
}  // namespace weir::sim::checkers
