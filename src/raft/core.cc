#include "raft/core.h"

#include <algorithm>
#include <utility>

#include "base/assert.h"

namespace weir::raft {

using protocol::ErrorCode;

const char* to_string(Role role) {
  switch (role) {
    case Role::unattached: return "unattached";
    case Role::follower: return "follower";
    case Role::prospective: return "prospective";
    case Role::candidate: return "candidate";
    case Role::leader: return "leader";
    case Role::resigned: return "resigned";
  }
  return "?";
}

RaftCore::RaftCore(CoreSettings settings, runtime::Random& random, QuorumState durable,
                   Offset log_end, std::vector<EpochStart> epochs, Instant now,
                   SnapshotId log_start)
    : settings_(std::move(settings)), random_(random), state_(durable), log_end_(log_end),
      log_start_(log_start), epochs_(std::move(epochs)), high_watermark_(log_start.offset) {
  VERIFY(!settings_.voters.empty(), "a quorum needs voters");
  VERIFY(std::is_sorted(settings_.voters.begin(), settings_.voters.end()));
  VERIFY(std::adjacent_find(settings_.voters.begin(), settings_.voters.end()) ==
             settings_.voters.end(),
         "a voter is listed twice");
  VERIFY(log_end_ >= Offset(0));
  VERIFY(log_start_.offset <= log_end_, "log start {} beyond log end {}", log_start_.offset,
         log_end_);
  is_voter_ = is_voter(settings_.self);
  if (state_.leader == settings_.self) {
    // A leader that restarts does not lead again in the same epoch: its in-memory
    // progress is gone. It waits out an election timeout as Kafka's Resigned state.
    role_ = Role::resigned;
    election_deadline_ = random_election_deadline(now);
  } else if (state_.leader) {
    become_follower(*state_.leader, now);
  } else {
    become_unattached(now);
    // A lone voter need not wait for anyone.
    if (is_voter_ && settings_.voters.size() == 1) election_deadline_ = now;
  }
  check_invariants();
}

bool RaftCore::is_voter(ReplicaId id) const {
  return std::binary_search(settings_.voters.begin(), settings_.voters.end(), id);
}

LogPosition RaftCore::last_position() const {
  // An empty log after a snapshot ends where the snapshot does, in its epoch.
  if (log_end_ == log_start_.offset && log_start_.offset > Offset(0)) return log_start_;
  return LogPosition{log_end_, epochs_.empty() ? Epoch(0) : epochs_.back().epoch};
}

LogPosition RaftCore::end_offset_for_epoch(Epoch epoch) const {
  // The last epoch entry at or below `epoch`; its end is where the next one starts.
  auto after = std::upper_bound(epochs_.begin(), epochs_.end(), epoch,
                                [](Epoch e, const EpochStart& entry) { return e < entry.epoch; });
  const bool after_snapshot = log_start_.offset > Offset(0) && epoch >= log_start_.epoch;
  if (after == epochs_.begin()) {
    return after_snapshot ? log_start_ : LogPosition{Offset(0), Epoch(-1)};
  }
  const auto found = std::prev(after);
  const Offset end = after == epochs_.end() ? log_end_ : after->start;
  // An epoch that ended inside the snapshot: what the log still knows ends there, in
  // the snapshot's epoch (the entries below are gone, but committed).
  if (after_snapshot && end <= log_start_.offset) return log_start_;
  VERIFY(found->epoch <= epoch);
  VERIFY(end >= found->start);
  return LogPosition{end, found->epoch};
}

Instant RaftCore::random_election_deadline(Instant now) {
  const auto jitter = static_cast<int64_t>(
      random_.below(static_cast<uint64_t>(settings_.election_timeout.count()) + 1));
  return now + settings_.election_timeout + Duration(jitter);
}

// --- Transitions ------------------------------------------------------------------------

void RaftCore::become_unattached(Instant now) {
  role_ = Role::unattached;
  fetch_deadline_ = Instant::max();
  check_quorum_deadline_ = Instant::max();
  begin_epoch_deadline_ = Instant::max();
  election_deadline_ = is_voter_ ? random_election_deadline(now) : Instant::max();
  granted_.clear();
  rejected_.clear();
}

void RaftCore::become_follower(ReplicaId leader, Instant now) {
  VERIFY(leader != settings_.self, "following itself");
  role_ = Role::follower;
  state_.leader = leader;
  fetch_deadline_ = now + settings_.fetch_timeout;
  election_deadline_ = Instant::max();
  check_quorum_deadline_ = Instant::max();
  begin_epoch_deadline_ = Instant::max();
  last_leader_contact_.reset();
  granted_.clear();
  rejected_.clear();
}

void RaftCore::transition_to_epoch(Epoch epoch, std::optional<ReplicaId> leader, Instant now) {
  VERIFY(epoch > state_.epoch, "epochs only grow");
  state_ = QuorumState{epoch, std::nullopt, std::nullopt};
  if (leader && *leader != settings_.self) {
    become_follower(*leader, now);
  } else {
    become_unattached(now);
  }
}

bool RaftCore::observe_epoch(Epoch epoch, std::optional<ReplicaId> leader, Instant now) {
  if (leader && *leader == settings_.self) leader.reset();
  if (epoch > state_.epoch) {
    transition_to_epoch(epoch, leader, now);
    return true;
  }
  if (epoch == state_.epoch && leader && !state_.leader && role_ != Role::leader) {
    become_follower(*leader, now);
    return true;
  }
  return false;
}

void RaftCore::become_prospective(Instant now) {
  VERIFY(is_voter_, "observers never stand for election");
  role_ = Role::prospective;
  fetch_deadline_ = Instant::max();
  check_quorum_deadline_ = Instant::max();
  begin_epoch_deadline_ = Instant::max();
  election_deadline_ = random_election_deadline(now);
  granted_ = {settings_.self};
  rejected_.clear();
  if (granted_.size() >= majority()) {
    become_candidate(now);
    return;
  }
  send_votes(/*pre_vote=*/true);
}

void RaftCore::become_candidate(Instant now) {
  VERIFY(role_ == Role::prospective);
  VERIFY(granted_.size() >= majority(), "a candidate needs a majority of pre-votes");
  state_ = QuorumState{state_.epoch.next(), settings_.self, std::nullopt};
  role_ = Role::candidate;
  election_deadline_ = random_election_deadline(now);
  granted_ = {settings_.self};
  rejected_.clear();
  if (granted_.size() >= majority()) {
    become_leader(now);
    return;
  }
  send_votes(/*pre_vote=*/false);
}

void RaftCore::become_leader(Instant now) {
  VERIFY(role_ == Role::candidate);
  VERIFY(state_.voted_for == settings_.self);
  VERIFY(granted_.size() >= majority(), "elected without a majority");
  role_ = Role::leader;
  state_.leader = settings_.self;
  election_deadline_ = Instant::max();
  fetch_deadline_ = Instant::max();
  durable_end_ = std::min(durable_end_, log_end_);
  voter_progress_.clear();
  observer_progress_.clear();
  for (ReplicaId voter : settings_.voters) {
    if (voter != settings_.self) voter_progress_[voter] = Progress{};
  }
  check_quorum_deadline_ = now + settings_.fetch_timeout * 3 / 2;
  begin_epoch_deadline_ = now;
  tick(now);  // sends BeginQuorumEpoch
}

void RaftCore::send_votes(bool pre_vote) {
  const Epoch epoch = pre_vote ? state_.epoch.next() : state_.epoch;
  for (ReplicaId voter : settings_.voters) {
    if (voter == settings_.self) continue;
    outbox_.push_back(
        Envelope{voter, VoteRequest{epoch, settings_.self, last_position(), pre_vote}});
  }
}

void RaftCore::resign(Instant now) {
  if (role_ != Role::leader) return;
  role_ = Role::resigned;
  check_quorum_deadline_ = Instant::max();
  begin_epoch_deadline_ = Instant::max();
  election_deadline_ = random_election_deadline(now);
  // The most caught-up voters first: they can win the next election soonest.
  std::vector<std::pair<Offset, ReplicaId>> ranked;
  for (const auto& [voter, progress] : voter_progress_)
    ranked.emplace_back(progress.end_offset, voter);
  std::stable_sort(ranked.begin(), ranked.end(),
                   [](const auto& a, const auto& b) { return a.first > b.first; });
  std::vector<ReplicaId> successors;
  for (const auto& entry : ranked) successors.push_back(entry.second);
  for (ReplicaId voter : successors) {
    outbox_.push_back(Envelope{voter, EndEpochRequest{state_.epoch, settings_.self, successors}});
  }
}

// --- Time -------------------------------------------------------------------------------

void RaftCore::tick(Instant now) {
  switch (role_) {
    case Role::follower:
      if (now >= fetch_deadline_) {
        if (is_voter_) {
          become_prospective(now);
        } else {
          // An observer forgets the silent leader and asks the voters again.
          state_.leader.reset();
          become_unattached(now);
        }
      }
      break;
    case Role::prospective:
      // A pre-vote round that did not win while a leader is known: that leader may be
      // alive and this node merely cut off, so go back to fetching from it.
      if (now >= election_deadline_ && state_.leader && *state_.leader != settings_.self) {
        become_follower(*state_.leader, now);
        break;
      }
      [[fallthrough]];
    case Role::unattached:
    case Role::resigned:
    case Role::candidate:
      // A failed or stalled election starts over with a pre-vote round (KIP-996).
      if (is_voter_ && now >= election_deadline_) become_prospective(now);
      break;
    case Role::leader: {
      if (now >= check_quorum_deadline_) {
        size_t heard = 1;  // itself
        const Duration window = settings_.fetch_timeout * 3 / 2;
        for (const auto& [voter, progress] : voter_progress_) {
          if (progress.last_fetch && now - *progress.last_fetch < window) heard++;
        }
        if (heard < majority()) {
          resign(now);
          break;
        }
        check_quorum_deadline_ = now + settings_.fetch_timeout / 2;
      }
      if (now >= begin_epoch_deadline_) {
        bool waiting = false;
        for (const auto& [voter, progress] : voter_progress_) {
          if (progress.acknowledged_epoch) continue;
          waiting = true;
          outbox_.push_back(Envelope{voter, BeginEpochRequest{state_.epoch, settings_.self}});
        }
        begin_epoch_deadline_ = waiting ? now + settings_.begin_epoch_retry : Instant::max();
      }
      break;
    }
  }
  check_invariants();
}

Instant RaftCore::next_deadline() const {
  switch (role_) {
    case Role::follower: return fetch_deadline_;
    case Role::leader: return std::min(check_quorum_deadline_, begin_epoch_deadline_);
    default: return election_deadline_;
  }
}

// --- Elections --------------------------------------------------------------------------

VoteResponse RaftCore::on_vote_request(const VoteRequest& request, Instant now) {
  VoteResponse response;
  if (!is_voter_ || !is_voter(request.candidate)) {
    response.error = ErrorCode::inconsistent_voter_set;
    response.epoch = state_.epoch;
    response.leader = state_.leader;
    return response;
  }
  const bool up_to_date = at_least_as_up_to_date(request.last, last_position());
  if (request.pre_vote) {
    // A pre-vote changes nothing here. Refused while this voter leads or has heard from
    // its leader recently: a node that was merely cut off cannot disturb a healthy
    // quorum when it comes back.
    const bool hears_leader = role_ == Role::follower && last_leader_contact_ &&
                              now - *last_leader_contact_ < settings_.fetch_timeout;
    response.epoch = state_.epoch;
    response.leader = state_.leader;
    response.granted = request.candidate_epoch > state_.epoch && up_to_date &&
                       role_ != Role::leader && !hears_leader;
    return response;
  }
  if (request.candidate_epoch > state_.epoch) {
    transition_to_epoch(request.candidate_epoch, std::nullopt, now);
  }
  response.epoch = state_.epoch;
  bool grant = request.candidate_epoch == state_.epoch && up_to_date;
  if (role_ == Role::leader || role_ == Role::candidate || role_ == Role::resigned) grant = false;
  if (state_.leader) grant = false;  // a leader of this epoch exists: no election
  if (state_.voted_for && *state_.voted_for != request.candidate &&
      !settings_.flaws.vote_twice_in_epoch) {
    grant = false;
  }
  if (grant) {
    VERIFY(role_ == Role::unattached || role_ == Role::prospective);
    state_.voted_for = request.candidate;
    role_ = Role::unattached;
    election_deadline_ = random_election_deadline(now);
    granted_.clear();
    rejected_.clear();
  }
  response.leader = state_.leader;
  response.granted = grant;
  check_invariants();
  return response;
}

void RaftCore::on_vote_response(ReplicaId from, const VoteRequest& sent,
                                const VoteResponse& response, Instant now) {
  if (observe_epoch(response.epoch, response.leader, now)) return;
  const bool current_round =
      sent.pre_vote ? role_ == Role::prospective && sent.candidate_epoch == state_.epoch.next()
                    : role_ == Role::candidate && sent.candidate_epoch == state_.epoch;
  if (!current_round || !is_voter(from)) return;
  if (response.error == ErrorCode::none && response.granted) {
    granted_.insert(from);
  } else {
    rejected_.insert(from);
  }
  if (role_ == Role::prospective && rejected_.size() >= majority() && state_.leader &&
      *state_.leader != settings_.self) {
    become_follower(*state_.leader, now);  // refused: the leader is alive for the others
    return;
  }
  if (granted_.size() >= majority()) {
    if (role_ == Role::prospective) {
      become_candidate(now);
    } else {
      become_leader(now);
    }
  }
  check_invariants();
}

EpochResponse RaftCore::on_begin_epoch(const BeginEpochRequest& request, Instant now) {
  EpochResponse response;
  if (request.epoch < state_.epoch) {
    response.error = ErrorCode::fenced_leader_epoch;
  } else if (request.epoch > state_.epoch) {
    transition_to_epoch(request.epoch, request.leader, now);
  } else if (state_.leader && *state_.leader != request.leader) {
    // Two leaders in one epoch: impossible unless a vote was lost or doubled. Refuse
    // rather than follow both; the election-safety checker reports it.
    response.error = ErrorCode::invalid_request;
  } else if (role_ != Role::follower && request.leader != settings_.self) {
    become_follower(request.leader, now);
  }
  response.epoch = state_.epoch;
  response.leader = state_.leader;
  check_invariants();
  return response;
}

void RaftCore::on_begin_epoch_response(ReplicaId from, const EpochResponse& response, Instant now) {
  if (observe_epoch(response.epoch, response.leader, now)) return;
  if (role_ != Role::leader || response.epoch != state_.epoch) return;
  if (response.error != ErrorCode::none) return;
  auto it = voter_progress_.find(from);
  if (it != voter_progress_.end()) it->second.acknowledged_epoch = true;
}

EpochResponse RaftCore::on_end_epoch(const EndEpochRequest& request, Instant now) {
  EpochResponse response;
  if (request.epoch < state_.epoch) {
    response.error = ErrorCode::fenced_leader_epoch;
  } else {
    if (request.epoch > state_.epoch) transition_to_epoch(request.epoch, request.leader, now);
    if (role_ == Role::follower && state_.leader == request.leader) {
      // The leader is leaving: stand for election soon, the most caught-up first.
      const auto& successors = request.preferred_successors;
      const auto position = std::find(successors.begin(), successors.end(), settings_.self);
      const Duration backoff = position == successors.end()
                                   ? settings_.election_backoff_max
                                   : runtime::milliseconds(100) * (position - successors.begin());
      fetch_deadline_ = std::min(fetch_deadline_, now + backoff);
      last_leader_contact_.reset();
    }
  }
  response.epoch = state_.epoch;
  response.leader = state_.leader;
  check_invariants();
  return response;
}

// --- Replication --------------------------------------------------------------------------

FetchDecision RaftCore::on_fetch_request(const FetchRequest& request, Instant now) {
  FetchDecision decision;
  decision.epoch = state_.epoch;
  decision.leader = state_.leader;
  decision.high_watermark = high_watermark_;
  if (request.current_leader_epoch > state_.epoch) {
    decision.error = ErrorCode::unknown_leader_epoch;
    return decision;
  }
  if (role_ != Role::leader) {
    decision.error = ErrorCode::not_leader_or_follower;
    if (role_ == Role::resigned) decision.leader.reset();
    return decision;
  }
  if (request.current_leader_epoch < state_.epoch) {
    decision.error = ErrorCode::fenced_leader_epoch;
    return decision;
  }
  if (request.fetch_offset < Offset(0)) {
    decision.error = ErrorCode::invalid_request;
    return decision;
  }
  if (log_start_.offset > Offset(0) && (request.fetch_offset < log_start_.offset ||
                                        (request.fetch_offset == log_start_.offset &&
                                         request.last_fetched_epoch != log_start_.epoch) ||
                                        request.last_fetched_epoch < log_start_.epoch)) {
    // The entries the fetcher needs (or the ones its log should match) are in the
    // snapshot only (Kafka's rule in ReplicatedLog.validateOffsetAndEpoch).
    decision.snapshot = log_start_;
    return decision;
  }
  if (request.fetch_offset > Offset(0)) {
    const LogPosition end = end_offset_for_epoch(request.last_fetched_epoch);
    const bool diverges =
        end.epoch != request.last_fetched_epoch || end.offset < request.fetch_offset;
    if (settings_.flaws.no_divergence_truncation) {
      // The planted bug: only a fetch beyond the leader's end is corrected.
      if (request.fetch_offset > log_end_) {
        decision.diverging = last_position();
        return decision;
      }
    } else if (diverges) {
      decision.diverging = end;
      return decision;
    }
  }
  VERIFY(request.fetch_offset <= log_end_);
  auto& table = is_voter(request.replica) ? voter_progress_ : observer_progress_;
  if (request.replica != settings_.self) {
    Progress& progress = table[request.replica];
    progress.end_offset = request.fetch_offset;
    progress.last_fetch = now;
    progress.acknowledged_epoch = true;
    if (request.fetch_offset >= log_end_) progress.last_caught_up = now;
  }
  update_leader_high_watermark();
  decision.high_watermark = high_watermark_;
  decision.read_from = request.fetch_offset;
  check_invariants();
  return decision;
}

void RaftCore::update_leader_high_watermark() {
  VERIFY(role_ == Role::leader);
  std::vector<Offset> ends;
  ends.push_back(std::min(durable_end_, log_end_));
  for (const auto& [voter, progress] : voter_progress_) {
    ends.push_back(std::max(progress.end_offset, Offset(0)));
  }
  VERIFY(ends.size() == settings_.voters.size());
  std::sort(ends.begin(), ends.end(), std::greater<>());
  const Offset replicated = ends[majority() - 1];
  // Raft's figure 8: entries of earlier epochs are committed only indirectly, once an
  // entry of this leader's epoch (its LeaderChange entry first) is on a majority.
  const std::optional<Offset> epoch_start = epoch_start_offset();
  const bool own_epoch_committed = epoch_start && replicated > *epoch_start;
  if (replicated > high_watermark_ &&
      (own_epoch_committed || settings_.flaws.commit_previous_epoch_by_count)) {
    high_watermark_ = replicated;
  }
  VERIFY(high_watermark_ <= log_end_);
}

FetchOutcome RaftCore::on_fetch_response(const FetchRequest& sent, const FetchDecision& response,
                                         Instant now) {
  FetchOutcome outcome;
  if (observe_epoch(response.epoch, response.leader, now)) return outcome;
  if (response.error != ErrorCode::none) return outcome;
  if (role_ != Role::follower || response.epoch != state_.epoch ||
      response.leader != state_.leader || sent.current_leader_epoch != state_.epoch) {
    return outcome;
  }
  last_leader_contact_ = now;
  fetch_deadline_ = now + settings_.fetch_timeout;
  if (sent.fetch_offset != log_end_) return outcome;  // the log moved since: stale
  if (response.snapshot) {
    outcome.action = FetchOutcome::Action::fetch_snapshot;
    outcome.snapshot = *response.snapshot;
    return outcome;
  }
  if (response.diverging) {
    const LogPosition local = end_offset_for_epoch(response.diverging->epoch);
    // Committed entries agree on every log, and a snapshot holds only committed ones,
    // so a correct leader never points below this log's snapshot; a flawed one may.
    const Offset truncate_to =
        std::max(std::min(local.offset, response.diverging->offset), log_start_.offset);
    if (truncate_to >= log_end_) return outcome;
    outcome.action = FetchOutcome::Action::truncate;
    outcome.truncate_to = truncate_to;
    return outcome;
  }
  outcome.action = FetchOutcome::Action::append;
  return outcome;
}

void RaftCore::on_follower_high_watermark(Offset leader_high_watermark) {
  if (role_ != Role::follower) return;
  const Offset adopted = std::min(leader_high_watermark, log_end_);
  if (adopted > high_watermark_) high_watermark_ = adopted;
  check_invariants();
}

void RaftCore::on_log_changed(Offset log_end, std::vector<EpochStart> epochs,
                              SnapshotId log_start) {
  VERIFY(log_end >= Offset(0));
  VERIFY(epochs.empty() || epochs.back().start <= log_end);
  VERIFY(log_start.offset <= log_end);
  VERIFY(log_start.offset >= log_start_.offset, "the log start moved back");
  log_end_ = log_end;
  log_start_ = log_start;
  epochs_ = std::move(epochs);
  durable_end_ = std::min(durable_end_, log_end_);
  // Only a flawed quorum truncates below the commit point; keep the numbers coherent
  // and let the checkers report the lost entries. A snapshot is committed.
  high_watermark_ = std::max(std::min(high_watermark_, log_end_), log_start_.offset);
  if (role_ == Role::leader) update_leader_high_watermark();
  check_invariants();
}

void RaftCore::on_durable(Offset offset) {
  durable_end_ = std::max(durable_end_, std::min(offset, log_end_));
  if (role_ == Role::leader) update_leader_high_watermark();
  check_invariants();
}

std::optional<FetchRequest> RaftCore::next_fetch(ReplicaId& target) {
  const FetchRequest request{settings_.self, state_.epoch, log_end_, last_position().epoch};
  if (role_ == Role::follower && state_.leader) {
    target = *state_.leader;
    return request;
  }
  if (!is_voter_ && role_ == Role::unattached) {
    target = settings_.voters[random_.below(settings_.voters.size())];
    return request;
  }
  return std::nullopt;
}

std::optional<Offset> RaftCore::epoch_start_offset() const {
  if (role_ != Role::leader || epochs_.empty() || epochs_.back().epoch != state_.epoch) {
    return std::nullopt;
  }
  return epochs_.back().start;
}

std::vector<Envelope> RaftCore::take_outbox() { return std::exchange(outbox_, {}); }

std::vector<ReplicaProgress> RaftCore::voter_progress() const {
  std::vector<ReplicaProgress> rows;
  if (role_ != Role::leader) return rows;
  rows.push_back(ReplicaProgress{settings_.self, log_end_, std::nullopt, std::nullopt});
  for (const auto& [voter, progress] : voter_progress_) {
    rows.push_back(
        ReplicaProgress{voter, progress.end_offset, progress.last_fetch, progress.last_caught_up});
  }
  return rows;
}

std::vector<ReplicaProgress> RaftCore::observer_progress() const {
  std::vector<ReplicaProgress> rows;
  if (role_ != Role::leader) return rows;
  for (const auto& [observer, progress] : observer_progress_) {
    rows.push_back(ReplicaProgress{observer, progress.end_offset, progress.last_fetch,
                                   progress.last_caught_up});
  }
  return rows;
}

void RaftCore::check_invariants() const {
  VERIFY(high_watermark_ >= log_start_.offset, "high watermark {} below the log start {}",
         high_watermark_, log_start_.offset);
  VERIFY(high_watermark_ <= log_end_, "high watermark {} beyond log end {}", high_watermark_,
         log_end_);
  if (role_ == Role::leader) {
    VERIFY(state_.leader == settings_.self);
    VERIFY(state_.voted_for == settings_.self, "a leader voted for itself");
  }
  if (role_ == Role::candidate) VERIFY(state_.voted_for == settings_.self);
  if (role_ == Role::follower) VERIFY(state_.leader && *state_.leader != settings_.self);
  if (!is_voter_) VERIFY(role_ == Role::unattached || role_ == Role::follower);
}

}  // namespace weir::raft
