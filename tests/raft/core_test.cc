// RaftCore driven directly: a few cores exchange messages through plain function calls,
// each with an in-memory log of entry epochs. No fibers, no simulator.
#include "raft/core.h"

#include <map>
#include <memory>
#include <optional>
#include <vector>

#include <gtest/gtest.h>

#include "raft/quorum_state_file.h"

namespace weir::raft {
namespace {

using runtime::Instant;
using runtime::milliseconds;

struct Member {
  std::unique_ptr<runtime::Random> random;
  std::unique_ptr<RaftCore> core;
  std::vector<Epoch> log;  // the epoch of each entry, by offset
  bool up = true;

  std::vector<EpochStart> epochs() const {
    std::vector<EpochStart> result;
    for (size_t i = 0; i < log.size(); i++) {
      if (result.empty() || result.back().epoch != log[i]) {
        result.push_back({log[i], Offset(static_cast<int64_t>(i))});
      }
    }
    return result;
  }
  void changed() {
    core->on_log_changed(Offset(static_cast<int64_t>(log.size())), epochs());
    core->on_durable(Offset(static_cast<int64_t>(log.size())));
  }
};

class Quorum {
 public:
  explicit Quorum(int size, RaftFlaws flaws = {}) {
    for (int i = 1; i <= size; i++) voters_.emplace_back(i);
    for (int i = 1; i <= size; i++) add(ReplicaId(i), flaws);
  }

  void add(ReplicaId id, RaftFlaws flaws = {}) {
    CoreSettings settings;
    settings.self = id;
    settings.voters = voters_;
    settings.flaws = flaws;
    Member member;
    member.random = std::make_unique<runtime::Random>(static_cast<uint64_t>(id.value()) * 7919);
    member.core = std::make_unique<RaftCore>(settings, *member.random, QuorumState{}, Offset(0),
                                             std::vector<EpochStart>{}, now_);
    members_[id] = std::move(member);
  }

  Member& at(int id) { return members_.at(ReplicaId(id)); }
  Instant now() const { return now_; }

  // Delivers every queued election message (dropping those to or from down members).
  void deliver() {
    for (int round = 0; round < 20; round++) {
      bool any = false;
      for (auto& [id, member] : members_) {
        if (!member.up) {
          member.core->take_outbox();
          continue;
        }
        for (auto& envelope : member.core->take_outbox()) {
          any = true;
          Member& to = members_.at(envelope.to);
          if (!to.up) continue;
          if (auto* vote = std::get_if<VoteRequest>(&envelope.message)) {
            auto response = to.core->on_vote_request(*vote, now_);
            member.core->on_vote_response(envelope.to, *vote, response, now_);
          } else if (auto* begin = std::get_if<BeginEpochRequest>(&envelope.message)) {
            auto response = to.core->on_begin_epoch(*begin, now_);
            member.core->on_begin_epoch_response(envelope.to, response, now_);
          } else {
            to.core->on_end_epoch(std::get<EndEpochRequest>(envelope.message), now_);
          }
        }
      }
      if (!any) return;
    }
  }

  // One fetch round: every up follower fetches from its leader once.
  void fetch_round() {
    for (auto& [id, member] : members_) {
      if (!member.up) continue;
      ReplicaId target;
      auto request = member.core->next_fetch(target);
      if (!request) continue;
      Member& leader = members_.at(target);
      if (!leader.up) continue;
      FetchDecision decision = leader.core->on_fetch_request(*request, now_);
      FetchOutcome outcome = member.core->on_fetch_response(*request, decision, now_);
      if (outcome.action == FetchOutcome::Action::truncate) {
        member.log.resize(static_cast<size_t>(outcome.truncate_to.value()));
        member.changed();
      } else if (outcome.action == FetchOutcome::Action::append) {
        for (int64_t i = decision.read_from->value(); i < static_cast<int64_t>(leader.log.size());
             i++) {
          member.log.push_back(leader.log[static_cast<size_t>(i)]);
        }
        member.changed();
        member.core->on_follower_high_watermark(decision.high_watermark);
      }
    }
  }

  // Advances time in steps, ticking every up member, delivering and fetching.
  void run_for(milliseconds duration) {
    const Instant end = now_ + duration;
    while (now_ < end) {
      now_ = now_ + milliseconds(50);
      for (auto& [id, member] : members_) {
        if (member.up) member.core->tick(now_);
      }
      deliver();
      for (auto& [id, member] : members_) {
        if (member.up && member.core->is_leader() && !member.core->epoch_start_offset()) {
          member.log.push_back(member.core->epoch());  // the LeaderChange entry
          member.changed();
        }
      }
      fetch_round();
    }
  }

  std::optional<int> leader() {
    std::optional<int> found;
    for (auto& [id, member] : members_) {
      if (member.up && member.core->is_leader()) {
        EXPECT_FALSE(found) << "two live leaders";
        found = id.value();
      }
    }
    return found;
  }

  void append_on_leader(int count) {
    Member& leader = at(*this->leader());
    for (int i = 0; i < count; i++) leader.log.push_back(leader.core->epoch());
    leader.changed();
  }

 private:
  std::vector<ReplicaId> voters_;
  std::map<ReplicaId, Member> members_;
  Instant now_ = Instant::from_nanoseconds(1'000'000'000);
};

TEST(RaftCore, ThreeVotersElectOneLeaderAndReplicate) {
  Quorum quorum(3);
  quorum.run_for(milliseconds(5000));
  const auto leader = quorum.leader();
  ASSERT_TRUE(leader);
  quorum.append_on_leader(5);
  quorum.run_for(milliseconds(1000));
  for (int id = 1; id <= 3; id++) {
    EXPECT_EQ(quorum.at(id).log.size(), 6u) << id;
    EXPECT_EQ(quorum.at(id).core->high_watermark(), Offset(6)) << id;
    EXPECT_EQ(quorum.at(id).core->epoch(), quorum.at(*leader).core->epoch());
  }
}

TEST(RaftCore, LoneVoterLeadsAtOnce) {
  Quorum quorum(1);
  quorum.run_for(milliseconds(100));
  ASSERT_EQ(quorum.leader(), 1);
  EXPECT_EQ(quorum.at(1).core->epoch(), Epoch(1));
  quorum.append_on_leader(2);
  EXPECT_EQ(quorum.at(1).core->high_watermark(), Offset(3));
}

TEST(RaftCore, LeaderCrashElectsAnotherInAHigherEpoch) {
  Quorum quorum(3);
  quorum.run_for(milliseconds(5000));
  const int first = *quorum.leader();
  const Epoch first_epoch = quorum.at(first).core->epoch();
  quorum.at(first).up = false;
  quorum.run_for(milliseconds(8000));
  const auto second = quorum.leader();
  ASSERT_TRUE(second);
  EXPECT_NE(*second, first);
  EXPECT_GT(quorum.at(*second).core->epoch(), first_epoch);
}

TEST(RaftCore, VotesOncePerEpoch) {
  Quorum quorum(3);
  RaftCore& voter = *quorum.at(3).core;
  const VoteRequest from_one{Epoch(1), ReplicaId(1), LogPosition{}, false};
  const VoteRequest from_two{Epoch(1), ReplicaId(2), LogPosition{}, false};
  EXPECT_TRUE(voter.on_vote_request(from_one, quorum.now()).granted);
  EXPECT_EQ(voter.quorum_state().voted_for, ReplicaId(1));
  EXPECT_FALSE(voter.on_vote_request(from_two, quorum.now()).granted);
  // Asking again for the same candidate is answered the same (a retried request).
  EXPECT_TRUE(voter.on_vote_request(from_one, quorum.now()).granted);
}

TEST(RaftCore, PlantedFlawVotesTwice) {
  RaftFlaws flaws;
  flaws.vote_twice_in_epoch = true;
  Quorum quorum(3, flaws);
  RaftCore& voter = *quorum.at(3).core;
  EXPECT_TRUE(
      voter.on_vote_request({Epoch(1), ReplicaId(1), LogPosition{}, false}, quorum.now()).granted);
  EXPECT_TRUE(
      voter.on_vote_request({Epoch(1), ReplicaId(2), LogPosition{}, false}, quorum.now()).granted);
}

TEST(RaftCore, RefusesCandidatesWithStalerLogs) {
  Quorum quorum(3);
  Member& voter = quorum.at(3);
  voter.log = {Epoch(1), Epoch(1), Epoch(2)};
  voter.changed();
  // Shorter log in the same last epoch, or an older last epoch: refused.
  EXPECT_FALSE(
      voter.core
          ->on_vote_request({Epoch(3), ReplicaId(1), {Offset(2), Epoch(2)}, false}, quorum.now())
          .granted);
  EXPECT_FALSE(
      voter.core
          ->on_vote_request({Epoch(4), ReplicaId(1), {Offset(9), Epoch(1)}, false}, quorum.now())
          .granted);
  EXPECT_TRUE(
      voter.core
          ->on_vote_request({Epoch(5), ReplicaId(2), {Offset(3), Epoch(2)}, false}, quorum.now())
          .granted);
}

TEST(RaftCore, PreVoteRefusedWhileTheLeaderIsHeard) {
  Quorum quorum(3);
  quorum.run_for(milliseconds(5000));
  const int leader = *quorum.leader();
  const int follower = leader == 1 ? 2 : 1;
  const int other = 6 - leader - follower;
  const Epoch epoch = quorum.at(leader).core->epoch();
  const LogPosition position = quorum.at(other).core->last_position();
  auto response = quorum.at(follower).core->on_vote_request(
      {epoch.next(), ReplicaId(other), position, /*pre_vote=*/true}, quorum.now());
  EXPECT_FALSE(response.granted);
  // The pre-vote changed nothing.
  EXPECT_EQ(quorum.at(follower).core->epoch(), epoch);
  EXPECT_EQ(quorum.at(follower).core->role(), Role::follower);
}

TEST(RaftCore, DivergingFollowerTruncatesToTheLeader) {
  Quorum quorum(3);
  quorum.run_for(milliseconds(5000));
  const int leader = *quorum.leader();
  quorum.append_on_leader(3);
  quorum.run_for(milliseconds(500));
  const int follower = leader == 1 ? 2 : 1;
  // The follower holds uncommitted entries of an epoch the leader never saw.
  Member& member = quorum.at(follower);
  const size_t common = member.log.size();
  member.log.push_back(Epoch(0));  // a stale epoch would be refused; use a fake later one
  member.log.back() = member.core->epoch();
  member.log.push_back(member.core->epoch());
  member.changed();
  // Make the leader move to a new epoch holding different entries at those offsets.
  quorum.at(leader).up = false;
  quorum.run_for(milliseconds(8000));
  const auto second = quorum.leader();
  ASSERT_TRUE(second);
  quorum.at(leader).up = true;
  quorum.run_for(milliseconds(3000));
  const auto& reference = quorum.at(*quorum.leader()).log;
  for (int id = 1; id <= 3; id++) {
    const auto& log = quorum.at(id).log;
    ASSERT_EQ(log.size(), reference.size()) << id;
    for (size_t i = 0; i < log.size(); i++) EXPECT_EQ(log[i], reference[i]) << id << "@" << i;
  }
  EXPECT_GE(reference.size(), common);
}

TEST(RaftCore, EntriesOfAnEarlierEpochCommitOnlyWithTheLeadersOwn) {
  // A new leader holding an uncommitted entry of an earlier epoch on a majority must
  // not count it committed until its own LeaderChange entry is replicated too.
  CoreSettings settings;
  settings.self = ReplicaId(1);
  settings.voters = {ReplicaId(1), ReplicaId(2), ReplicaId(3)};
  runtime::Random random(1);
  const Instant now = Instant::from_nanoseconds(1'000'000'000);
  // Voted for itself in epoch 3; the log holds entries of epochs 1 and 2.
  RaftCore core(settings, random, QuorumState{Epoch(2), std::nullopt, std::nullopt}, Offset(3),
                {{Epoch(1), Offset(0)}, {Epoch(2), Offset(2)}}, now);
  core.on_durable(Offset(3));
  core.tick(now + milliseconds(5000));  // prospective
  auto outbox = core.take_outbox();
  ASSERT_FALSE(outbox.empty());
  const auto pre_vote = std::get<VoteRequest>(outbox[0].message);
  core.on_vote_response(ReplicaId(2), pre_vote, {protocol::ErrorCode::none, Epoch(2), {}, true},
                        now);
  outbox = core.take_outbox();
  ASSERT_EQ(core.role(), Role::candidate);
  const auto vote = std::get<VoteRequest>(outbox[0].message);
  core.on_vote_response(ReplicaId(2), vote, {protocol::ErrorCode::none, Epoch(3), {}, true}, now);
  ASSERT_TRUE(core.is_leader());
  // Follower 2 has everything up to offset 3 (epochs 1 and 2) but not the new entry.
  auto decision = core.on_fetch_request({ReplicaId(2), Epoch(3), Offset(3), Epoch(2)}, now);
  EXPECT_EQ(decision.error, protocol::ErrorCode::none);
  EXPECT_EQ(core.high_watermark(), Offset(0)) << "epoch-2 entries counted by replicas alone";
  // The LeaderChange entry at offset 3, durable here and fetched by 2: now all commit.
  core.on_log_changed(Offset(4),
                      {{Epoch(1), Offset(0)}, {Epoch(2), Offset(2)}, {Epoch(3), Offset(3)}});
  core.on_durable(Offset(4));
  core.on_fetch_request({ReplicaId(2), Epoch(3), Offset(4), Epoch(3)}, now);
  EXPECT_EQ(core.high_watermark(), Offset(4));
}

TEST(RaftCore, PlantedFlawCommitsEarlierEpochByCount) {
  CoreSettings settings;
  settings.self = ReplicaId(1);
  settings.voters = {ReplicaId(1), ReplicaId(2), ReplicaId(3)};
  settings.flaws.commit_previous_epoch_by_count = true;
  runtime::Random random(1);
  const Instant now = Instant::from_nanoseconds(1'000'000'000);
  RaftCore core(settings, random, QuorumState{Epoch(2), std::nullopt, std::nullopt}, Offset(3),
                {{Epoch(1), Offset(0)}, {Epoch(2), Offset(2)}}, now);
  core.on_durable(Offset(3));
  core.tick(now + milliseconds(5000));
  auto pre_vote = std::get<VoteRequest>(core.take_outbox()[0].message);
  core.on_vote_response(ReplicaId(2), pre_vote, {protocol::ErrorCode::none, Epoch(2), {}, true},
                        now);
  auto vote = std::get<VoteRequest>(core.take_outbox()[0].message);
  core.on_vote_response(ReplicaId(2), vote, {protocol::ErrorCode::none, Epoch(3), {}, true}, now);
  ASSERT_TRUE(core.is_leader());
  core.on_fetch_request({ReplicaId(2), Epoch(3), Offset(3), Epoch(2)}, now);
  EXPECT_EQ(core.high_watermark(), Offset(3));
}

// A lone voter, last in epoch 4 with the log given, that elects itself leader of epoch 5.
struct LoneVoter {
  LoneVoter(Offset log_end, std::vector<EpochStart> epochs, SnapshotId log_start = {})
      : core(settings(), random, QuorumState{Epoch(4), std::nullopt, std::nullopt}, log_end,
             std::move(epochs), now, log_start) {}
  static CoreSettings settings() {
    CoreSettings settings;
    settings.self = ReplicaId(1);
    settings.voters = {ReplicaId(1)};
    return settings;
  }
  runtime::Random random{1};
  const Instant now = Instant::from_nanoseconds(1'000'000'000);
  RaftCore core;
};

TEST(RaftCore, DivergingEpochAnswer) {
  LoneVoter voter(Offset(10),
                  {{Epoch(1), Offset(0)}, {Epoch(3), Offset(4)}, {Epoch(4), Offset(8)}});
  RaftCore& core = voter.core;
  const Instant now = voter.now;
  core.tick(now);
  ASSERT_TRUE(core.is_leader());
  // A follower whose last entry is of epoch 2 (unknown here) at offset 6: epoch 1 ends at 4.
  auto decision = core.on_fetch_request({ReplicaId(2), Epoch(5), Offset(6), Epoch(2)}, now);
  ASSERT_TRUE(decision.diverging);
  EXPECT_EQ(decision.diverging->epoch, Epoch(1));
  EXPECT_EQ(decision.diverging->offset, Offset(4));
  EXPECT_FALSE(decision.read_from);
  EXPECT_EQ(core.end_offset_for_epoch(Epoch(3)), (LogPosition{Offset(8), Epoch(3)}));
  EXPECT_EQ(core.end_offset_for_epoch(Epoch(0)), (LogPosition{Offset(0), Epoch(-1)}));
}

TEST(RaftCore, FetchersBehindTheSnapshotAreSentIt) {
  // Entries below 8 are in snapshot (8, 3); the log holds 8..12, epoch 4 from 10.
  const SnapshotId snapshot{Offset(8), Epoch(3)};
  LoneVoter voter(Offset(12), {{Epoch(3), Offset(8)}, {Epoch(4), Offset(10)}}, snapshot);
  RaftCore& core = voter.core;
  const Instant now = voter.now;
  EXPECT_EQ(core.high_watermark(), Offset(8)) << "a snapshot is committed";
  core.tick(now);
  ASSERT_TRUE(core.is_leader());
  const auto fetch = [&](int64_t offset, int epoch) {
    return core.on_fetch_request({ReplicaId(2), Epoch(5), Offset(offset), Epoch(epoch)}, now);
  };
  // Behind the log start, or at it in another epoch, or with a last epoch the
  // snapshot already ended: only the snapshot can help.
  for (const auto& [offset, epoch] : {std::pair{0, 0}, {5, 3}, {8, 2}, {9, 2}}) {
    const FetchDecision decision = fetch(offset, epoch);
    ASSERT_TRUE(decision.snapshot) << offset << "/" << epoch;
    EXPECT_EQ(*decision.snapshot, snapshot);
    EXPECT_FALSE(decision.read_from);
    EXPECT_FALSE(decision.diverging);
  }
  // At the log start in the snapshot's epoch, or past it: an ordinary fetch.
  EXPECT_EQ(fetch(8, 3).read_from, Offset(8));
  EXPECT_FALSE(fetch(8, 3).snapshot);
  EXPECT_EQ(fetch(10, 3).read_from, Offset(10));
  // An epoch that ended inside the snapshot ends, as far as this log knows, there.
  EXPECT_EQ(core.end_offset_for_epoch(Epoch(3)), (LogPosition{Offset(10), Epoch(3)}));
  EXPECT_EQ(core.end_offset_for_epoch(Epoch(2)), (LogPosition{Offset(0), Epoch(-1)}));
}

TEST(RaftCore, FollowerToldOfASnapshotFetchesItAndStartsAfterIt) {
  CoreSettings settings;
  settings.self = ReplicaId(2);
  settings.voters = {ReplicaId(1), ReplicaId(2), ReplicaId(3)};
  runtime::Random random(1);
  const Instant now = Instant::from_nanoseconds(1'000'000'000);
  RaftCore core(settings, random, QuorumState{Epoch(4), std::nullopt, ReplicaId(1)}, Offset(2),
                {{Epoch(1), Offset(0)}}, now);
  ASSERT_EQ(core.role(), Role::follower);
  ReplicaId target;
  const auto request = core.next_fetch(target);
  ASSERT_TRUE(request);
  EXPECT_EQ(target, ReplicaId(1));
  FetchDecision decision;
  decision.epoch = Epoch(4);
  decision.leader = ReplicaId(1);
  decision.high_watermark = Offset(9);
  decision.snapshot = SnapshotId{Offset(8), Epoch(3)};
  const FetchOutcome outcome = core.on_fetch_response(*request, decision, now);
  ASSERT_EQ(outcome.action, FetchOutcome::Action::fetch_snapshot);
  EXPECT_EQ(outcome.snapshot, (SnapshotId{Offset(8), Epoch(3)}));
  // The driver installed it: an empty log that starts at 8, whose last epoch is 3.
  core.on_log_changed(Offset(8), {}, SnapshotId{Offset(8), Epoch(3)});
  EXPECT_EQ(core.last_position(), (LogPosition{Offset(8), Epoch(3)}));
  EXPECT_EQ(core.high_watermark(), Offset(8));
  const auto next = core.next_fetch(target);
  ASSERT_TRUE(next);
  EXPECT_EQ(next->fetch_offset, Offset(8));
  EXPECT_EQ(next->last_fetched_epoch, Epoch(3));
  // A diverging answer never truncates into the snapshot.
  FetchDecision diverging = decision;
  diverging.snapshot.reset();
  diverging.diverging = LogPosition{Offset(5), Epoch(2)};
  EXPECT_EQ(core.on_fetch_response(*next, diverging, now).action, FetchOutcome::Action::none);
}

TEST(RaftCore, LeaderWithoutAMajorityResigns) {
  Quorum quorum(3);
  quorum.run_for(milliseconds(5000));
  const int leader = *quorum.leader();
  for (int id = 1; id <= 3; id++) {
    if (id != leader) quorum.at(id).up = false;
  }
  quorum.run_for(milliseconds(4000));
  EXPECT_EQ(quorum.at(leader).core->role(), Role::resigned);
}

TEST(QuorumStateFile, RoundTripsAndRejectsDamage) {
  const std::vector<ReplicaId> voters = {ReplicaId(1), ReplicaId(2), ReplicaId(3)};
  const QuorumState state{Epoch(7), ReplicaId(2), ReplicaId(2)};
  const std::string text = format_quorum_state(state, voters);
  EXPECT_EQ(parse_quorum_state(text), state);
  EXPECT_NE(text.find("\"leaderEpoch\":7"), std::string::npos);
  std::string damaged = text;
  damaged[damaged.find("\"leaderEpoch\":7") + 14] = '3';
  EXPECT_FALSE(parse_quorum_state(damaged));
  EXPECT_EQ(parse_quorum_state(format_quorum_state(QuorumState{}, voters)), QuorumState{});
  EXPECT_FALSE(parse_quorum_state("{}"));
}

}  // namespace
}  // namespace weir::raft
