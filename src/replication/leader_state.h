// LeaderState: a partition's replication as its leader sees it, for one leader epoch —
// a pure state machine (as raft::RaftCore is), driven by the broker's fibers: they feed
// it follower fetches, local appends, the committed partition state from the metadata
// image, answers to its AlterPartition proposals and the time, and act on what it
// returns. It never suspends, reads a clock or touches a log.
//
// What it decides, as Kafka's Partition does:
//  - Follower progress: each follower's log end is the offset it fetches from (a
//    follower fetches again only once what it has is as durable as its flush policy
//    makes it); its last caught-up time is the latest time t at which its fetch offset
//    reached the leader's log end as of t (Kafka's Replica.lastCaughtUpTimeMs).
//  - The high watermark: the smallest log end among the leader (its durable end under
//    the fsync policy) and the replicas of the *maximal* ISR (KIP-497: the committed ISR
//    plus a proposed expansion; a proposed shrink counts only once committed), and of
//    caught-up eligible replicas outside it (so a catching-up follower is not left
//    behind). A follower whose log end this leadership has not heard yet holds it. It
//    never moves while the committed ISR is smaller than min.insync.replicas (KIP-966's
//    strict rule), and never backwards.
//  - ISR changes are proposals (AlterPartition, partition epoch checked): a shrink
//    after replica.lag.time.max.ms without catching up, an expansion once a follower's
//    log end reaches the high watermark and this epoch's start. One is in flight at a
//    time; none is applied before the controller commits it (the answer, or the image).
//  - Produce: acks=all is refused with NOT_ENOUGH_REPLICAS when the committed ISR is
//    below min.insync.replicas, and an appended batch is acknowledged once the high
//    watermark passes it — with NOT_ENOUGH_REPLICAS_AFTER_APPEND if the maximal ISR
//    shrank below min.insync.replicas meanwhile.
//
// Invariants (VERIFY-ed): the leader is in the committed and the maximal ISR; the
// maximal ISR contains the committed one on an expansion and equals it otherwise; the
// high watermark never decreases and never passes the leader's counted end.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include <absl/container/btree_map.h>

#include "metadata/image.h"
#include "protocol/errors.h"
#include "record/types.h"
#include "runtime/clock.h"

namespace weir::replication {

using metadata::BrokerEpoch;
using metadata::PartitionEpoch;
using record::Offset;
using ReplicaId = NodeId;
using runtime::Instant;

struct LeaderSettings {
  runtime::Duration replica_lag_max = runtime::seconds(30);  // replica.lag.time.max.ms
  int32_t min_insync_replicas = 1;                           // the topic's, dynamic
};

// The brokers the image says may join the ISR (registered, unfenced, not shutting
// down), with their broker epochs: a follower whose fetches carry another epoch is a
// past incarnation and is not taken into the ISR.
using EligibleBrokers = absl::btree_map<ReplicaId, BrokerEpoch>;

struct FollowerProgress {
  std::optional<Offset> log_end;  // unknown until it fetches in this leadership
  Offset last_fetch_leader_end{-1};
  std::optional<Instant> last_fetch;
  std::optional<Instant> last_caught_up;  // never, until it catches up
  BrokerEpoch broker_epoch{-1};
  // Fetches received in this leadership: a leadership check counts those that arrive
  // after it began (Broker::confirm_leadership_wait).
  uint64_t fetches = 0;
};

struct IsrMember {
  ReplicaId replica;
  BrokerEpoch broker_epoch{-1};  // -1: not known
  bool operator==(const IsrMember&) const = default;
};

// An AlterPartition proposal for this partition.
struct IsrProposal {
  enum class Kind { expand, shrink };
  Kind kind = Kind::shrink;
  std::vector<IsrMember> new_isr;
  LeaderEpoch leader_epoch{-1};
  PartitionEpoch partition_epoch{-1};  // of the committed state it changes
  bool operator==(const IsrProposal&) const = default;
};

// The controller's answer to a proposal: the partition's state after it, or an error.
struct IsrAnswer {
  protocol::ErrorCode error = protocol::ErrorCode::none;
  std::vector<ReplicaId> isr;
  LeaderEpoch leader_epoch{-1};
  PartitionEpoch partition_epoch{-1};
};

enum class AckState { waiting, done, not_enough_replicas_after_append };

class LeaderState {
 public:
  // Becomes leader of `committed` (whose leader is `self`) in its leader epoch, with the
  // log as it is: `log_end` and `counted_end` (the leader's own contribution to the high
  // watermark: its durable end under the fsync policy, else its log end), the high
  // watermark it knew as a follower, and this epoch's start (the log end when the epoch
  // was assigned). Followers in the ISR count as caught up now.
  //
  // `in_flight`: a proposal this node sent in this leader epoch from this committed
  // state, by a LeaderState since replaced (the log was recovered mid-leadership). The
  // controller may commit it still, so it is in flight here too: an expansion's
  // follower counts toward the high watermark from the start, as it did for the
  // sender, or the high watermark could pass an offset that follower lacks while the
  // controller makes it leader (a completed reassignment does: replication seed 559).
  LeaderState(ReplicaId self, BrokerEpoch self_epoch, const metadata::PartitionState& committed,
              const EligibleBrokers& eligible, Offset log_end, Offset counted_end,
              Offset high_watermark, Offset epoch_start, Instant now, LeaderSettings settings,
              const std::optional<IsrProposal>& in_flight = std::nullopt);

  // The image's committed state of the partition, still led by this node in this
  // epoch (the caller ends this LeaderState otherwise), and who may join the ISR.
  void on_image(const metadata::PartitionState& committed, const EligibleBrokers& eligible,
                Instant now);
  void set_settings(const LeaderSettings& settings, Instant now);

  // The local log grew (or became durable further).
  void on_local_end(Offset log_end, Offset counted_end, Instant now);

  // A follower fetched from `fetch_offset` while the leader's log ended at
  // `leader_end_at_read` (taken before the read). Returns an expansion to propose, if
  // this fetch made the follower eligible and none is in flight.
  std::optional<IsrProposal> on_follower_fetch(ReplicaId follower, BrokerEpoch broker_epoch,
                                               Offset fetch_offset, Offset leader_end_at_read,
                                               Instant now);

  // The periodic check (every replica.lag.time.max.ms / 2): a shrink to propose, if any
  // ISR follower fell behind and none is in flight.
  std::optional<IsrProposal> tick(Instant now);

  // The in-flight proposal to (re)send: present while one waits for an answer that
  // may still succeed. After an answer that says to wait for the image, absent.
  std::optional<IsrProposal> proposal_to_send() const;
  void on_answer(const IsrProposal& sent, const IsrAnswer& answer, Instant now);

  // Produce admission for `acks` (-1 = all): NOT_ENOUGH_REPLICAS under the minimum.
  std::optional<protocol::ErrorCode> admit(int16_t acks) const;
  // Whether an appended batch ending at `end` (exclusive) is acknowledged (acks=all).
  AckState ack_state(Offset end) const;

  Offset high_watermark() const { return high_watermark_; }
  Offset epoch_start() const { return epoch_start_; }
  LeaderEpoch leader_epoch() const { return committed_.leader_epoch; }
  const metadata::ReplicaList& isr() const { return committed_.isr; }
  const metadata::ReplicaList& maximal_isr() const { return maximal_isr_; }
  bool in_flight() const { return pending_.has_value(); }
  const absl::btree_map<ReplicaId, FollowerProgress>& followers() const { return followers_; }
  // The minimum ISR size that applies: min.insync.replicas, at most the replica count.
  int32_t effective_min_isr() const;

  // Test-only flaw (the simulator's isr-shrink-before-commit): apply a shrink to the
  // ISR the high watermark uses as soon as it is proposed, as a leader that does not
  // wait for the controller would.
  bool flaw_shrink_before_commit = false;
  // Test-only flaw (hw-under-min-isr): the high watermark moves with the committed ISR
  // below min.insync.replicas (Kafka before KAFKA-15583): a replica that left the ISR
  // then lacks committed records, and an eligible leader replica election loses them.
  bool flaw_high_watermark_under_min_isr = false;

 private:
  bool caught_up(const FollowerProgress& progress, Instant now) const;
  bool eligible(ReplicaId replica, const FollowerProgress& progress) const;
  void adopt(const metadata::ReplicaList& isr, PartitionEpoch partition_epoch);
  void advance_high_watermark(Instant now);
  IsrProposal propose(IsrProposal::Kind kind, const metadata::ReplicaList& new_isr);
  void check_invariants() const;

  ReplicaId self_;
  BrokerEpoch self_epoch_;
  metadata::PartitionState committed_;
  metadata::ReplicaList maximal_isr_;
  EligibleBrokers eligible_;
  LeaderSettings settings_;
  Offset log_end_;
  Offset counted_end_;
  Offset high_watermark_;
  Offset epoch_start_;
  absl::btree_map<ReplicaId, FollowerProgress> followers_;
  std::optional<IsrProposal> pending_;
  // The pending proposal's answer said to wait for the image (it may have been
  // applied, or the partition changed under it): not resent.
  bool awaiting_image_ = false;
};

}  // namespace weir::replication
