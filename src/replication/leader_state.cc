#include "replication/leader_state.h"

#include <algorithm>

#include "base/assert.h"

namespace weir::replication {

using protocol::ErrorCode;

namespace {

bool contains(const metadata::ReplicaList& list, ReplicaId replica) {
  return std::find(list.begin(), list.end(), replica) != list.end();
}

}  // namespace

LeaderState::LeaderState(ReplicaId self, BrokerEpoch self_epoch,
                         const metadata::PartitionState& committed, const EligibleBrokers& eligible,
                         Offset log_end, Offset counted_end, Offset high_watermark,
                         Offset epoch_start, Instant now, LeaderSettings settings,
                         const std::optional<IsrProposal>& in_flight)
    : self_(self), self_epoch_(self_epoch), committed_(committed), maximal_isr_(committed.isr),
      eligible_(eligible), settings_(settings), log_end_(log_end), counted_end_(counted_end),
      high_watermark_(std::min(high_watermark, counted_end)), epoch_start_(epoch_start) {
  VERIFY(committed.leader == self, "node {} leads a partition whose leader is {}", self,
         committed.leader);
  VERIFY(counted_end <= log_end && epoch_start <= log_end);
  for (ReplicaId replica : committed.replicas) {
    if (replica == self) continue;
    FollowerProgress& progress = followers_[replica];
    // In the ISR: caught up as of now (it was when the ISR last changed); otherwise
    // it must catch up before it counts.
    if (committed.in_isr(replica)) progress.last_caught_up = now;
  }
  if (in_flight) {
    const IsrProposal& sent = *in_flight;
    VERIFY(sent.leader_epoch == committed.leader_epoch, "a proposal of epoch {} resumed in {}",
           sent.leader_epoch, committed.leader_epoch);
    VERIFY(sent.partition_epoch == committed.partition_epoch,
           "a proposal from partition epoch {} resumed at {}", sent.partition_epoch,
           committed.partition_epoch);
    pending_ = sent;  // resent: the answer (or the image) settles it
    if (sent.kind == IsrProposal::Kind::expand) {
      for (const IsrMember& member : sent.new_isr) {
        // Proposed from this committed state: every member is one of its replicas.
        VERIFY(committed.is_replica(member.replica), "proposed ISR member {} is no replica",
               member.replica);
        if (!contains(maximal_isr_, member.replica)) maximal_isr_.push_back(member.replica);
      }
    }
  }
  advance_high_watermark(now);
  check_invariants();
}

int32_t LeaderState::effective_min_isr() const {
  return std::min(settings_.min_insync_replicas, static_cast<int32_t>(committed_.replicas.size()));
}

bool LeaderState::caught_up(const FollowerProgress& progress, Instant now) const {
  if (progress.log_end && *progress.log_end >= log_end_) return true;
  return progress.last_caught_up && now - *progress.last_caught_up <= settings_.replica_lag_max;
}

bool LeaderState::eligible(ReplicaId replica, const FollowerProgress& progress) const {
  auto it = eligible_.find(replica);
  if (it == eligible_.end()) return false;
  return progress.broker_epoch == BrokerEpoch(-1) || progress.broker_epoch == it->second;
}

void LeaderState::adopt(const metadata::ReplicaList& isr, PartitionEpoch partition_epoch) {
  committed_.isr = isr;
  committed_.partition_epoch = partition_epoch;
  maximal_isr_ = isr;
  pending_.reset();
  awaiting_image_ = false;
}

void LeaderState::on_image(const metadata::PartitionState& committed,
                           const EligibleBrokers& eligible, Instant now) {
  VERIFY(committed.leader == self_ && committed.leader_epoch == committed_.leader_epoch,
         "the image moved leadership ({} in epoch {}) under a LeaderState of epoch {}",
         committed.leader, committed.leader_epoch, committed_.leader_epoch);
  eligible_ = eligible;
  if (committed.partition_epoch > committed_.partition_epoch) {
    const metadata::ReplicaList isr = committed.isr;
    const PartitionEpoch epoch = committed.partition_epoch;
    committed_ = committed;
    adopt(isr, epoch);
    for (ReplicaId replica : committed.replicas) {
      if (replica != self_) followers_.try_emplace(replica);
    }
    // Replicas moved away (a reassignment) no longer count.
    absl::erase_if(followers_,
                   [&](const auto& entry) { return !committed.is_replica(entry.first); });
  }
  advance_high_watermark(now);
  check_invariants();
}

void LeaderState::set_settings(const LeaderSettings& settings, Instant now) {
  settings_ = settings;
  advance_high_watermark(now);
}

void LeaderState::on_local_end(Offset log_end, Offset counted_end, Instant now) {
  VERIFY(counted_end <= log_end);
  log_end_ = log_end;
  counted_end_ = counted_end;
  advance_high_watermark(now);
  check_invariants();
}

std::optional<IsrProposal> LeaderState::on_follower_fetch(ReplicaId follower,
                                                          BrokerEpoch broker_epoch,
                                                          Offset fetch_offset,
                                                          Offset leader_end_at_read, Instant now) {
  auto it = followers_.find(follower);
  VERIFY(it != followers_.end(), "replica {} is not a follower of this partition", follower);
  FollowerProgress& progress = it->second;
  progress.fetches++;
  // Kafka's Replica.updateFetchStateOrThrow: caught up now if it reached the leader's
  // end as of this read; caught up as of its previous fetch if it reached the end the
  // leader had then.
  auto caught_up_at = [&](Instant t) {
    progress.last_caught_up = std::max(progress.last_caught_up.value_or(t), t);
  };
  if (fetch_offset >= leader_end_at_read) {
    caught_up_at(now);
  } else if (progress.last_fetch && fetch_offset >= progress.last_fetch_leader_end) {
    caught_up_at(*progress.last_fetch);
  }
  progress.last_fetch_leader_end = std::max(progress.last_fetch_leader_end, leader_end_at_read);
  progress.last_fetch = now;
  progress.log_end = fetch_offset;
  progress.broker_epoch = broker_epoch;
  advance_high_watermark(now);

  std::optional<IsrProposal> proposal;
  // Expansion: caught up to the high watermark and to this epoch's start (below it
  // may be records this leader committed that the follower lacks).
  if (!pending_ && !contains(committed_.isr, follower) && eligible(follower, progress) &&
      fetch_offset >= high_watermark_ && fetch_offset >= epoch_start_) {
    metadata::ReplicaList new_isr = committed_.isr;
    new_isr.push_back(follower);
    proposal = propose(IsrProposal::Kind::expand, new_isr);
    maximal_isr_ = new_isr;
  }
  check_invariants();
  return proposal;
}

std::optional<IsrProposal> LeaderState::tick(Instant now) {
  advance_high_watermark(now);
  if (pending_) return std::nullopt;
  metadata::ReplicaList new_isr;
  for (ReplicaId replica : committed_.isr) {
    if (replica == self_) {
      new_isr.push_back(replica);
      continue;
    }
    auto it = followers_.find(replica);
    if (it != followers_.end() && caught_up(it->second, now)) new_isr.push_back(replica);
  }
  if (new_isr.size() == committed_.isr.size()) return std::nullopt;
  IsrProposal proposal = propose(IsrProposal::Kind::shrink, new_isr);
  if (flaw_shrink_before_commit) maximal_isr_ = new_isr;
  advance_high_watermark(now);
  check_invariants();
  return proposal;
}

IsrProposal LeaderState::propose(IsrProposal::Kind kind, const metadata::ReplicaList& new_isr) {
  IsrProposal proposal;
  proposal.kind = kind;
  proposal.leader_epoch = committed_.leader_epoch;
  proposal.partition_epoch = committed_.partition_epoch;
  for (ReplicaId replica : new_isr) {
    BrokerEpoch epoch = self_epoch_;
    if (replica != self_) {
      auto it = followers_.find(replica);
      epoch = it == followers_.end() ? BrokerEpoch(-1) : it->second.broker_epoch;
    }
    proposal.new_isr.push_back(IsrMember{replica, epoch});
  }
  pending_ = proposal;
  awaiting_image_ = false;
  return proposal;
}

std::optional<IsrProposal> LeaderState::proposal_to_send() const {
  if (!pending_ || awaiting_image_) return std::nullopt;
  return pending_;
}

void LeaderState::on_answer(const IsrProposal& sent, const IsrAnswer& answer, Instant now) {
  if (!pending_ || *pending_ != sent) return;  // an answer to a proposal since replaced
  switch (answer.error) {
    case ErrorCode::none:
      // Kafka's handleAlterPartitionUpdate: an answer of another leader epoch, or older
      // than what is committed, is stale.
      if (answer.leader_epoch == committed_.leader_epoch &&
          answer.partition_epoch >= committed_.partition_epoch &&
          contains(metadata::ReplicaList(answer.isr.begin(), answer.isr.end()), self_)) {
        adopt(metadata::ReplicaList(answer.isr.begin(), answer.isr.end()), answer.partition_epoch);
      } else {
        awaiting_image_ = true;
      }
      break;
    case ErrorCode::operation_not_attempted:
    case ErrorCode::ineligible_replica:
      // Not applied, and the committed state is current: back to it.
      pending_.reset();
      maximal_isr_ = committed_.isr;
      break;
    case ErrorCode::unknown_topic_or_partition:
    case ErrorCode::unknown_topic_id:
    case ErrorCode::fenced_leader_epoch:
    case ErrorCode::invalid_update_version:
    case ErrorCode::invalid_request:
    case ErrorCode::new_leader_elected:
      // The partition changed under the proposal: the image will say how.
      awaiting_image_ = true;
      break;
    default: break;  // not known to be decided (a timeout, another controller): resend
  }
  advance_high_watermark(now);
  check_invariants();
}

std::optional<ErrorCode> LeaderState::admit(int16_t acks) const {
  if (acks == -1 && static_cast<int32_t>(committed_.isr.size()) < effective_min_isr()) {
    return ErrorCode::not_enough_replicas;
  }
  return std::nullopt;
}

AckState LeaderState::ack_state(Offset end) const {
  if (high_watermark_ < end) return AckState::waiting;
  if (static_cast<int32_t>(maximal_isr_.size()) < effective_min_isr()) {
    return AckState::not_enough_replicas_after_append;
  }
  return AckState::done;
}

void LeaderState::advance_high_watermark(Instant now) {
  // KIP-966: under min.insync.replicas nothing more is committed.
  if (static_cast<int32_t>(committed_.isr.size()) < effective_min_isr() &&
      !flaw_high_watermark_under_min_isr) {
    return;
  }
  Offset candidate = counted_end_;
  for (const auto& [replica, progress] : followers_) {
    const bool counts = contains(maximal_isr_, replica) ||
                        (caught_up(progress, now) && eligible(replica, progress));
    if (!counts) continue;
    // Not heard from in this leadership: it holds the high watermark where it is.
    candidate = std::min(candidate, progress.log_end.value_or(high_watermark_));
  }
  high_watermark_ = std::max(high_watermark_, candidate);
}

void LeaderState::check_invariants() const {
  VERIFY(contains(committed_.isr, self_), "the leader {} left its committed ISR", self_);
  VERIFY(contains(maximal_isr_, self_), "the leader {} left its maximal ISR", self_);
  if (!flaw_shrink_before_commit) {
    for (ReplicaId replica : committed_.isr) {
      VERIFY(contains(maximal_isr_, replica), "the maximal ISR lost committed member {}", replica);
    }
  }
  VERIFY(high_watermark_ <= counted_end_, "high watermark {} past the leader's counted end {}",
         high_watermark_, counted_end_);
}

}  // namespace weir::replication
