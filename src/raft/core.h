// RaftCore: KRaft's consensus rules as a deterministic state machine (STYLE.md:
// protocols as state machines, fibers at the edges). No I/O, no clock, no fibers: the
// driver (raft/node.h) feeds it messages, log changes and the time, performs what it
// decides (sends, appends, truncations), and persists `quorum_state()` before any
// message leaves the node. The unit tests drive it directly.
//
// The protocol is KIP-595's pull-based Raft:
//  - Voters elect a leader with Vote, after a pre-vote round (KIP-996) that does not
//    disturb a healthy quorum: a voter grants a pre-vote only when it has not heard
//    from a leader within the fetch timeout.
//  - The leader announces itself with BeginQuorumEpoch; followers (voters) and
//    observers (brokers) replicate by Fetch(fetch offset, last fetched epoch). A fetch
//    whose last epoch diverges from the leader's log is answered with the diverging
//    epoch and its end offset; the follower truncates there and fetches again.
//  - The high watermark is the commit point: the largest offset a majority of voters
//    have durably (the leader's own log counts once fsynced), and only once an entry of
//    the leader's own epoch is among them (Raft's figure 8).
//  - A leader that hears from no majority within 1.5 fetch timeouts resigns (check
//    quorum); a leader shutting down resigns with EndQuorumEpoch, naming the most
//    caught-up voters as preferred successors.
//
// Invariants (asserted):
//  - At most one vote per epoch; a voter never grants a Vote for an epoch below its own.
//  - A leader was elected in its epoch by a majority (itself included) and never
//    leaves it except to a higher epoch or by resigning.
//  - The high watermark never decreases within an incarnation, never exceeds the log
//    end, and a truncation never goes below it.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include <absl/container/btree_map.h>
#include <absl/container/btree_set.h>

#include "protocol/errors.h"
#include "raft/types.h"
#include "runtime/clock.h"
#include "runtime/random.h"

namespace weir::raft {

using runtime::Duration;
using runtime::Instant;

enum class Role { unattached, follower, prospective, candidate, leader, resigned };
const char* to_string(Role role);

struct CoreSettings {
  ReplicaId self;
  // The static voter set (controller.quorum.voters). `self` need not be in it: then
  // this node is an observer (a broker following the metadata log).
  std::vector<ReplicaId> voters;
  Duration election_timeout = runtime::milliseconds(1000);
  Duration fetch_timeout = runtime::milliseconds(2000);
  Duration election_backoff_max = runtime::milliseconds(1000);
  // How often a new leader re-sends BeginQuorumEpoch to voters that have not fetched.
  Duration begin_epoch_retry = runtime::milliseconds(250);
  RaftFlaws flaws;
};

// --- Messages (the wire mapping is raft/wire.h) ----------------------------------------

struct VoteRequest {
  Epoch candidate_epoch;
  ReplicaId candidate;
  LogPosition last;  // the candidate's log end and last epoch
  bool pre_vote = false;
};
struct VoteResponse {
  protocol::ErrorCode error = protocol::ErrorCode::none;
  Epoch epoch;  // the voter's epoch
  std::optional<ReplicaId> leader;
  bool granted = false;
};
struct BeginEpochRequest {
  Epoch epoch;
  ReplicaId leader;
};
struct EndEpochRequest {
  Epoch epoch;
  ReplicaId leader;
  std::vector<ReplicaId> preferred_successors;
};
// The answer to BeginQuorumEpoch and EndQuorumEpoch.
struct EpochResponse {
  protocol::ErrorCode error = protocol::ErrorCode::none;
  Epoch epoch;
  std::optional<ReplicaId> leader;
};
struct FetchRequest {
  ReplicaId replica;
  Epoch current_leader_epoch;
  Offset fetch_offset;
  Epoch last_fetched_epoch;
};
// The leader's decision on a fetch; the driver adds the records from `read_from`.
struct FetchDecision {
  protocol::ErrorCode error = protocol::ErrorCode::none;
  Epoch epoch;
  std::optional<ReplicaId> leader;
  Offset high_watermark{-1};
  std::optional<LogPosition> diverging;  // truncate to this (epoch, end offset)
  std::optional<Offset> read_from;       // send records from here
  // The fetcher is behind the leader's log start (or its log there diverges): it must
  // fetch this snapshot (FetchSnapshot) and start its log after it.
  std::optional<SnapshotId> snapshot;
};
// What a fetching replica must do with a fetch response.
struct FetchOutcome {
  enum class Action { none, append, truncate, fetch_snapshot };
  Action action = Action::none;
  Offset truncate_to{0};
  SnapshotId snapshot;  // fetch_snapshot: which one
};

// A message the core wants sent to one voter.
using Outgoing = std::variant<VoteRequest, BeginEpochRequest, EndEpochRequest>;
struct Envelope {
  ReplicaId to;
  Outgoing message;
};

// One row of DescribeQuorum.
struct ReplicaProgress {
  ReplicaId replica;
  Offset end_offset{-1};
  std::optional<Instant> last_fetch;
  std::optional<Instant> last_caught_up;
};

class RaftCore {
 public:
  // Starts from the durable quorum state and the log as recovered. `log_start` is the
  // snapshot the log starts after ({0, 0} when it starts at the beginning): everything
  // below it is committed, and the log's last epoch is its epoch while the log is empty.
  RaftCore(CoreSettings settings, runtime::Random& random, QuorumState durable, Offset log_end,
           std::vector<EpochStart> epochs, Instant now, SnapshotId log_start = {});

  // --- Inputs ---------------------------------------------------------------------------
  // Timeouts: elections, fetch timeouts, check quorum, BeginQuorumEpoch retries.
  void tick(Instant now);
  VoteResponse on_vote_request(const VoteRequest& request, Instant now);
  void on_vote_response(ReplicaId from, const VoteRequest& sent, const VoteResponse& response,
                        Instant now);
  EpochResponse on_begin_epoch(const BeginEpochRequest& request, Instant now);
  void on_begin_epoch_response(ReplicaId from, const EpochResponse& response, Instant now);
  EpochResponse on_end_epoch(const EndEpochRequest& request, Instant now);
  // The leader's side of a fetch. Records a voter's progress and may advance the high
  // watermark.
  FetchDecision on_fetch_request(const FetchRequest& request, Instant now);
  // The fetching side. `sent` is the request this answers.
  FetchOutcome on_fetch_response(const FetchRequest& sent, const FetchDecision& response,
                                 Instant now);
  // After a successful append of a fetch's records: the leader's high watermark, which
  // this replica may adopt up to its own log end.
  void on_follower_high_watermark(Offset leader_high_watermark);
  // The log changed (an append, a truncation, a snapshot taken or installed): its end,
  // epochs and start.
  void on_log_changed(Offset log_end, std::vector<EpochStart> epochs, SnapshotId log_start = {});
  // The leader's own log is durable below `offset`.
  void on_durable(Offset offset);
  // Graceful shutdown of a leader: resign and tell the other voters.
  void resign(Instant now);

  // --- Outputs --------------------------------------------------------------------------
  // Messages to send; the driver persists quorum_state() before sending any of them.
  std::vector<Envelope> take_outbox();
  // The next instant tick() has something to do.
  Instant next_deadline() const;
  // Where to fetch from: the leader when known; for an observer that knows no leader,
  // some voter (its answer names the leader). nullopt while a voter waits for an
  // election.
  std::optional<FetchRequest> next_fetch(ReplicaId& target);

  // --- State ----------------------------------------------------------------------------
  Role role() const { return role_; }
  const QuorumState& quorum_state() const { return state_; }
  Epoch epoch() const { return state_.epoch; }
  std::optional<ReplicaId> leader() const { return state_.leader; }
  bool is_leader() const { return role_ == Role::leader; }
  bool is_voter() const { return is_voter_; }
  Offset high_watermark() const { return high_watermark_; }
  Offset log_end() const { return log_end_; }
  // The snapshot the log starts after ({0, 0}: none).
  SnapshotId log_start() const { return log_start_; }
  const std::vector<EpochStart>& epochs() const { return epochs_; }
  LogPosition last_position() const;
  // Leader: the first offset of its epoch (its LeaderChange entry), once appended.
  std::optional<Offset> epoch_start_offset() const;
  // (epoch, end offset) as OffsetsForLeaderEpoch answers: the largest epoch <= `epoch`
  // that the log holds and where it ends; (-1, 0) if none.
  LogPosition end_offset_for_epoch(Epoch epoch) const;
  // Leader only: voters and observers with their progress, for DescribeQuorum.
  std::vector<ReplicaProgress> voter_progress() const;
  std::vector<ReplicaProgress> observer_progress() const;
  const std::vector<ReplicaId>& voters() const { return settings_.voters; }
  const CoreSettings& settings() const { return settings_; }

 private:
  size_t majority() const { return settings_.voters.size() / 2 + 1; }
  bool is_voter(ReplicaId id) const;
  // Moves to `epoch` (> current) knowing `leader` or not; votes and roles reset.
  void transition_to_epoch(Epoch epoch, std::optional<ReplicaId> leader, Instant now);
  void become_follower(ReplicaId leader, Instant now);
  void become_unattached(Instant now);
  void become_prospective(Instant now);
  void become_candidate(Instant now);
  void become_leader(Instant now);
  // Adopts what a response from `epoch` says about the leader. Returns true if this
  // node moved to a new epoch or leader (the response is then stale for its sender).
  bool observe_epoch(Epoch epoch, std::optional<ReplicaId> leader, Instant now);
  void send_votes(bool pre_vote);
  Instant random_election_deadline(Instant now);
  void update_leader_high_watermark();
  void check_invariants() const;

  CoreSettings settings_;
  runtime::Random& random_;
  bool is_voter_ = false;
  Role role_ = Role::unattached;
  QuorumState state_;
  Offset log_end_{0};
  SnapshotId log_start_;
  std::vector<EpochStart> epochs_;
  Offset high_watermark_{0};
  std::vector<Envelope> outbox_;

  // Timers. Which ones matter depends on the role.
  Instant election_deadline_ = Instant::max();      // unattached, prospective, candidate, resigned
  Instant fetch_deadline_ = Instant::max();         // follower: no successful fetch since
  Instant check_quorum_deadline_ = Instant::max();  // leader
  Instant begin_epoch_deadline_ = Instant::max();   // leader: re-send BeginQuorumEpoch
  // Follower: when it last fetched successfully from the leader (pre-vote refusal).
  std::optional<Instant> last_leader_contact_;

  // Elections: who granted this round (prospective: pre-votes; candidate: votes).
  absl::btree_set<ReplicaId> granted_;
  absl::btree_set<ReplicaId> rejected_;

  // Leader state.
  Offset durable_end_{0};
  struct Progress {
    Offset end_offset{-1};
    std::optional<Instant> last_fetch;
    std::optional<Instant> last_caught_up;
    bool acknowledged_epoch = false;  // fetched or answered BeginQuorumEpoch
  };
  absl::btree_map<ReplicaId, Progress> voter_progress_;
  absl::btree_map<ReplicaId, Progress> observer_progress_;
};

}  // namespace weir::raft
