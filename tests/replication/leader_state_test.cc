// LeaderState against the rules it states: the high watermark is the smallest log end
// of the maximal ISR (never under min.insync.replicas, never backwards); ISR shrinks
// after the lag time and expands once a follower reaches the high watermark and the
// epoch start, one proposal at a time, applied only when committed; acks=all admission
// and completion. And a property over random event sequences: whenever the high
// watermark passes an offset, every member of the maximal ISR has it.
#include "replication/leader_state.h"

#include <map>

#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

namespace weir::replication {
namespace {

using protocol::ErrorCode;

const ReplicaId kLeader(1);
const ReplicaId kB(2);
const ReplicaId kC(3);

metadata::PartitionState partition(std::initializer_list<int32_t> isr,
                                   int32_t partition_epoch = 0) {
  metadata::PartitionState state;
  state.replicas = {kLeader, kB, kC};
  for (int32_t r : isr) state.isr.push_back(ReplicaId(r));
  state.leader = kLeader;
  state.leader_epoch = LeaderEpoch(5);
  state.partition_epoch = PartitionEpoch(partition_epoch);
  return state;
}

EligibleBrokers all_eligible() {
  return {{kLeader, BrokerEpoch(10)}, {kB, BrokerEpoch(20)}, {kC, BrokerEpoch(30)}};
}

Instant at(int64_t ms) { return Instant() + runtime::milliseconds(ms); }

LeaderSettings settings(int32_t min_isr) {
  LeaderSettings s;
  s.replica_lag_max = runtime::milliseconds(1000);
  s.min_insync_replicas = min_isr;
  return s;
}

LeaderState make(std::initializer_list<int32_t> isr, int32_t min_isr = 2, int64_t log_end = 100,
                 int64_t high_watermark = 0,
                 const std::optional<IsrProposal>& in_flight = std::nullopt) {
  return LeaderState(kLeader, BrokerEpoch(10), partition(isr), all_eligible(), Offset(log_end),
                     Offset(log_end), Offset(high_watermark), Offset(log_end), at(1),
                     settings(min_isr), in_flight);
}

TEST(LeaderState, TheHighWatermarkIsTheSmallestLogEndOfTheIsr) {
  LeaderState leader = make({1, 2, 3});
  EXPECT_EQ(leader.high_watermark(), Offset(0));  // B and C not heard from yet
  EXPECT_FALSE(leader.on_follower_fetch(kB, BrokerEpoch(20), Offset(100), Offset(100), at(2)));
  EXPECT_EQ(leader.high_watermark(), Offset(0));  // C holds it
  leader.on_follower_fetch(kC, BrokerEpoch(30), Offset(60), Offset(100), at(3));
  EXPECT_EQ(leader.high_watermark(), Offset(60));
  leader.on_local_end(Offset(150), Offset(150), at(4));
  leader.on_follower_fetch(kC, BrokerEpoch(30), Offset(150), Offset(150), at(5));
  EXPECT_EQ(leader.high_watermark(), Offset(100));  // B last fetched from 100
  leader.on_follower_fetch(kB, BrokerEpoch(20), Offset(150), Offset(150), at(6));
  EXPECT_EQ(leader.high_watermark(), Offset(150));
  EXPECT_EQ(leader.ack_state(Offset(150)), AckState::done);
  EXPECT_EQ(leader.ack_state(Offset(151)), AckState::waiting);
}

TEST(LeaderState, TheLeadersOwnCountedEndBoundsTheHighWatermark) {
  // Under the fsync policy the leader counts only its durable end.
  LeaderState leader(kLeader, BrokerEpoch(10), partition({1, 2}), all_eligible(), Offset(100),
                     Offset(40), Offset(0), Offset(0), at(1), settings(1));
  leader.on_follower_fetch(kB, BrokerEpoch(20), Offset(100), Offset(100), at(2));
  EXPECT_EQ(leader.high_watermark(), Offset(40));
  leader.on_local_end(Offset(100), Offset(100), at(3));
  EXPECT_EQ(leader.high_watermark(), Offset(100));
}

TEST(LeaderState, UnderMinInsyncReplicasProduceIsRefusedAndNothingCommits) {
  LeaderState leader = make({1}, /*min_isr=*/2);
  EXPECT_EQ(leader.admit(-1), ErrorCode::not_enough_replicas);
  EXPECT_EQ(leader.admit(1), std::nullopt);
  leader.on_local_end(Offset(120), Offset(120), at(2));
  EXPECT_EQ(leader.high_watermark(), Offset(0));  // KIP-966: no commit under the minimum
  // min.insync.replicas above the replica count: the replica count applies.
  LeaderState all = make({1, 2, 3}, /*min_isr=*/5);
  EXPECT_EQ(all.effective_min_isr(), 3);
  EXPECT_EQ(all.admit(-1), std::nullopt);
}

TEST(LeaderState, AFollowerThatStopsFetchingIsProposedOutAfterTheLagTime) {
  LeaderState leader = make({1, 2, 3}, /*min_isr=*/1);
  leader.on_follower_fetch(kB, BrokerEpoch(20), Offset(100), Offset(100), at(10));
  leader.on_follower_fetch(kC, BrokerEpoch(30), Offset(100), Offset(100), at(10));
  leader.on_local_end(Offset(200), Offset(200), at(20));
  // B keeps up; C stops.
  // C caught up last at 10 (its fetch reached the leader's end then): in the ISR until
  // replica.lag.time.max.ms (1000) has passed since.
  for (int64_t t = 100; t <= 1000; t += 100) {
    leader.on_follower_fetch(kB, BrokerEpoch(20), Offset(200), Offset(200), at(t));
    EXPECT_FALSE(leader.tick(at(t))) << "at " << t;
  }
  auto shrink = leader.tick(at(1200));
  ASSERT_TRUE(shrink);
  EXPECT_EQ(shrink->kind, IsrProposal::Kind::shrink);
  EXPECT_EQ(shrink->new_isr,
            (std::vector<IsrMember>{{kLeader, BrokerEpoch(10)}, {kB, BrokerEpoch(20)}}));
  EXPECT_EQ(shrink->partition_epoch, PartitionEpoch(0));
  // Not applied before it commits: the ISR and the high watermark still wait for C.
  EXPECT_EQ(leader.isr().size(), 3u);
  EXPECT_EQ(leader.high_watermark(), Offset(100));
  EXPECT_FALSE(leader.tick(at(1300)));  // one proposal at a time
  EXPECT_EQ(leader.proposal_to_send(), shrink);
  leader.on_answer(*shrink,
                   IsrAnswer{ErrorCode::none, {kLeader, kB}, LeaderEpoch(5), PartitionEpoch(1)},
                   at(1400));
  EXPECT_EQ(leader.isr().size(), 2u);
  EXPECT_EQ(leader.high_watermark(), Offset(200));
  EXPECT_FALSE(leader.proposal_to_send());
}

TEST(LeaderState, AFollowerJoinsOnceAtTheHighWatermarkAndTheEpochStart) {
  LeaderState leader = make({1, 2}, /*min_isr=*/1);
  leader.on_follower_fetch(kB, BrokerEpoch(20), Offset(100), Offset(100), at(2));
  EXPECT_EQ(leader.high_watermark(), Offset(100));
  // C below the high watermark: not yet.
  EXPECT_FALSE(leader.on_follower_fetch(kC, BrokerEpoch(30), Offset(50), Offset(100), at(3)));
  auto expand = leader.on_follower_fetch(kC, BrokerEpoch(30), Offset(100), Offset(100), at(4));
  ASSERT_TRUE(expand);
  EXPECT_EQ(expand->kind, IsrProposal::Kind::expand);
  EXPECT_EQ(expand->new_isr.back(), (IsrMember{kC, BrokerEpoch(30)}));
  // The maximal ISR counts C at once; the committed ISR waits for the controller.
  EXPECT_EQ(leader.maximal_isr().size(), 3u);
  EXPECT_EQ(leader.isr().size(), 2u);
  leader.on_local_end(Offset(130), Offset(130), at(5));
  leader.on_follower_fetch(kB, BrokerEpoch(20), Offset(130), Offset(130), at(6));
  EXPECT_EQ(leader.high_watermark(), Offset(100));  // C holds it
  // INELIGIBLE_REPLICA: back to the committed ISR.
  leader.on_answer(*expand, IsrAnswer{ErrorCode::ineligible_replica, {}, {}, {}}, at(7));
  EXPECT_EQ(leader.maximal_isr().size(), 2u);
  EXPECT_FALSE(leader.proposal_to_send());
}

// Replication seed 559: the leader proposed C into the ISR once C reached the high
// watermark, then recovered its log and led on with a new LeaderState while the
// controller committed the expansion. The new state must count C as the sender did:
// C may lead next (a reassignment to C completes with that commit).
TEST(LeaderState, AResumedExpansionHoldsTheHighWatermarkForItsFollower) {
  LeaderState sender = make({1, 2}, /*min_isr=*/1);
  sender.on_follower_fetch(kB, BrokerEpoch(20), Offset(100), Offset(100), at(2));
  auto expand = sender.on_follower_fetch(kC, BrokerEpoch(30), Offset(100), Offset(100), at(3));
  ASSERT_TRUE(expand);
  sender.on_local_end(Offset(101), Offset(101), at(4));
  sender.on_follower_fetch(kB, BrokerEpoch(20), Offset(101), Offset(101), at(5));
  EXPECT_EQ(sender.high_watermark(), Offset(100));  // C holds it

  // The replacement, from the same committed state, knows nothing of C's progress.
  LeaderState fresh = make({1, 2}, /*min_isr=*/1, /*log_end=*/101);
  fresh.on_follower_fetch(kB, BrokerEpoch(20), Offset(101), Offset(101), at(6));
  EXPECT_EQ(fresh.high_watermark(), Offset(101));  // what went wrong: past C's end

  LeaderState resumed = make({1, 2}, /*min_isr=*/1, /*log_end=*/101, /*high_watermark=*/0, expand);
  EXPECT_EQ(resumed.maximal_isr().size(), 3u);
  EXPECT_EQ(resumed.proposal_to_send(), expand);  // resent: the answer settles it
  resumed.on_follower_fetch(kB, BrokerEpoch(20), Offset(101), Offset(101), at(7));
  EXPECT_EQ(resumed.high_watermark(), Offset(0));  // C not heard from yet
  resumed.on_follower_fetch(kC, BrokerEpoch(30), Offset(100), Offset(101), at(8));
  EXPECT_EQ(resumed.high_watermark(), Offset(100));
  resumed.on_answer(
      *expand, IsrAnswer{ErrorCode::none, {kLeader, kB, kC}, LeaderEpoch(5), PartitionEpoch(1)},
      at(9));
  EXPECT_EQ(resumed.isr().size(), 3u);
  EXPECT_FALSE(resumed.in_flight());
}

TEST(LeaderState, AFollowerOfAnotherIncarnationDoesNotJoin) {
  LeaderState leader = make({1, 2}, /*min_isr=*/1);
  leader.on_follower_fetch(kB, BrokerEpoch(20), Offset(100), Offset(100), at(2));
  EXPECT_FALSE(leader.on_follower_fetch(kC, BrokerEpoch(29), Offset(100), Offset(100), at(3)));
  // Nor a fenced one (not eligible in the image).
  EligibleBrokers without_c = all_eligible();
  without_c.erase(kC);
  leader.on_image(partition({1, 2}), without_c, at(4));
  EXPECT_FALSE(leader.on_follower_fetch(kC, BrokerEpoch(30), Offset(100), Offset(100), at(5)));
}

TEST(LeaderState, AnAnswerThatSaysWaitIsNotResentAndTheImageSettlesIt) {
  LeaderState leader = make({1, 2, 3}, /*min_isr=*/1);
  leader.on_follower_fetch(kB, BrokerEpoch(20), Offset(100), Offset(100), at(2));
  auto shrink = leader.tick(at(5000));  // C never fetched
  ASSERT_TRUE(shrink);
  leader.on_answer(*shrink, IsrAnswer{ErrorCode::request_timed_out, {}, {}, {}}, at(5001));
  EXPECT_EQ(leader.proposal_to_send(), shrink);  // unknown outcome: resend
  leader.on_answer(*shrink, IsrAnswer{ErrorCode::invalid_update_version, {}, {}, {}}, at(5002));
  EXPECT_FALSE(leader.proposal_to_send());  // the partition changed: wait for the image
  EXPECT_FALSE(leader.tick(at(5003)));      // still in flight
  leader.on_image(partition({1, 2}, /*partition_epoch=*/1), all_eligible(), at(5004));
  EXPECT_EQ(leader.isr().size(), 2u);
  EXPECT_FALSE(leader.in_flight());
}

TEST(LeaderState, AcksAllAfterTheIsrShrankBelowTheMinimumIsNotEnoughReplicasAfterAppend) {
  LeaderState leader = make({1, 2}, /*min_isr=*/2);
  leader.on_follower_fetch(kB, BrokerEpoch(20), Offset(100), Offset(100), at(2));
  ASSERT_EQ(leader.admit(-1), std::nullopt);
  leader.on_local_end(Offset(110), Offset(110), at(3));
  leader.on_follower_fetch(kB, BrokerEpoch(20), Offset(110), Offset(110), at(4));
  // Settings change: min.insync.replicas=3 (dynamic) while the batch waited.
  leader.set_settings(settings(3), at(5));
  EXPECT_EQ(leader.ack_state(Offset(110)), AckState::not_enough_replicas_after_append);
}

// Random leaderships: appends, follower fetches at or below the leader's end (a
// follower's log end only grows within a leadership), ticks, answers and image
// updates. After every event: the high watermark never decreases, never passes the
// leader's counted end, and every maximal-ISR follower's known log end is at or past it
// whenever it moved.
RC_GTEST_PROP(LeaderState, CommittedOffsetsAreOnEveryMaximalIsrMember, ()) {
  const int32_t min_isr = *rc::gen::inRange(1, 4);
  LeaderState leader(kLeader, BrokerEpoch(10), partition({1, 2, 3}), all_eligible(), Offset(0),
                     Offset(0), Offset(0), Offset(0), at(0), settings(min_isr));
  int64_t now = 0;
  int64_t log_end = 0;
  int64_t counted_end = 0;
  std::map<int32_t, int64_t> follower_end{{2, 0}, {3, 0}};
  int32_t partition_epoch = 0;
  Offset last_high_watermark = leader.high_watermark();
  for (int step = 0; step < 200; step++) {
    now += *rc::gen::inRange(0, 400);
    switch (*rc::gen::inRange(0, 6)) {
      case 0:
        log_end += *rc::gen::inRange(0, 10);
        counted_end = *rc::gen::inRange<int64_t>(counted_end, log_end + 1);
        leader.on_local_end(Offset(log_end), Offset(counted_end), at(now));
        break;
      case 1:
      case 2: {
        const int32_t f = *rc::gen::element(2, 3);
        follower_end[f] = *rc::gen::inRange<int64_t>(follower_end[f], log_end + 1);
        leader.on_follower_fetch(ReplicaId(f), BrokerEpoch(f * 10), Offset(follower_end[f]),
                                 Offset(log_end), at(now));
        break;
      }
      case 3: leader.tick(at(now)); break;
      case 4:
        if (auto sent = leader.proposal_to_send()) {
          if (*rc::gen::inRange(0, 2) == 0) {
            IsrAnswer answer{
                ErrorCode::none, {}, LeaderEpoch(5), PartitionEpoch(++partition_epoch)};
            for (const IsrMember& m : sent->new_isr) answer.isr.push_back(m.replica);
            leader.on_answer(*sent, answer, at(now));
          } else {
            leader.on_answer(*sent, IsrAnswer{ErrorCode::ineligible_replica, {}, {}, {}}, at(now));
          }
        }
        break;
      case 5: leader.set_settings(settings(*rc::gen::inRange(1, 4)), at(now)); break;
    }
    const Offset hw = leader.high_watermark();
    RC_ASSERT(hw >= last_high_watermark);
    RC_ASSERT(hw <= Offset(counted_end));
    if (hw > last_high_watermark) {
      for (ReplicaId member : leader.maximal_isr()) {
        if (member == kLeader) continue;
        RC_ASSERT(follower_end[member.value()] >= hw.value());
      }
    }
    last_high_watermark = hw;
  }
}

}  // namespace
}  // namespace weir::replication
