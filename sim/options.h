// What one simulated run is made of: the seed, the phases, which fault kinds may be
// switched on, and test-only flaws. A run is a pure function of these and the binary.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "base/result.h"
#include "runtime/clock.h"
#include "runtime/random.h"
#include "sim/faults.h"

namespace weir::sim {

// Deliberate bugs, switched on only by tests and `weir-sim --flaw`, to show that the
// checkers catch what they exist for.
struct Flaws {
  bool ack_before_fsync = false;  // workload: acknowledge a write before it is durable
  bool partition_leak = false;    // network: deliver bytes across a cut link
  bool skip_checksum = false;     // workload: trust a disk read without verifying it
  // raft (raft/types.h RaftFlaws): the quorum workloads plant these in every controller.
  bool vote_twice = false;                // grant two votes in one epoch
  bool vote_before_persist = false;       // answer Vote before the vote is durable
  bool commit_by_count = false;           // commit an earlier epoch's entries by count
  bool no_divergence_truncation = false;  // never tell a diverging follower to truncate
  // metadata: the controller answers an admin request once its records are appended,
  // before they commit.
  bool answer_before_commit = false;
  // metadata: snapshots leave out the config records (a state machine whose snapshot
  // forgets part of its state).
  bool snapshot_without_configs = false;
  // metadata: a broker answers a forwarded admin request before its own image shows
  // the change (read-your-writes through the broker asked is lost).
  bool answer_before_catch_up = false;
  // metadata: a broker never deletes the directories of partitions no longer placed on
  // it (a deleted topic's data stays on disk).
  bool keep_stray_partitions = false;
  // replication: a leader acknowledges acks=all once it has the batch itself, without
  // waiting for the ISR (what acks=all meant before weir replicated).
  bool ack_on_leader = false;
  // replication: a leader counts an ISR shrink toward the high watermark as soon as it
  // proposes it, before the controller commits it (KIP-497's rule broken).
  bool shrink_isr_early = false;
  // replication: a follower ignores the leader's DivergingEpoch and keeps records no
  // leader committed.
  bool skip_follower_truncation = false;
  // replication: the leader serves a follower from its fetch offset without checking
  // the epoch of the records before it (Kafka before KIP-101, when followers were
  // matched by offset alone): a follower's uncommitted tail of an old epoch stays
  // under newer records, and the follower joins the ISR diverged.
  bool skip_divergence_check = false;
  // replication: a broker that becomes a follower truncates its log to its high
  // watermark (Kafka before KIP-101), dropping acknowledged records its high watermark
  // had not caught up with yet.
  bool truncate_to_high_watermark = false;
  // replication: the leader serves consumers up to its log end, as it serves followers,
  // not up to the high watermark: consumers see records that a failover then removes
  // (the rule KIP-392's follower fetching had to keep for consumers).
  bool serve_past_high_watermark = false;
  // replication: a deposed leader that has reconciled its successor's epoch but not yet
  // ended its own leadership appends once more, stamped with the successor's epoch:
  // two leaders write one epoch, and no divergence check can tell their records apart
  // (a bug weir itself had until the replication workload's mixes found it).
  bool stamp_successor_epoch = false;
  // replication: a diverging follower truncates to the offset the leader answered
  // without checking that it has the epoch the leader answered for (KIP-101 as first
  // shipped; KIP-279 / KAFKA-6361 fixed it): after two fast leader changes the
  // replicas keep different records at the same offsets.
  bool truncate_to_leader_offset = false;
  // replication: the leader moves the high watermark while the ISR is below
  // min.insync.replicas (Kafka before KIP-966's strict rule, KAFKA-15583): a replica
  // that left the ISR lacks committed records, and its election from the ELR loses them.
  bool high_watermark_under_min_isr = false;
  // replication: the controller keeps a broker that restarted without a clean shutdown
  // in the ELR (KIP-966 without its unclean-shutdown rule): after a power loss took its
  // unflushed tail, it may still be elected cleanly.
  bool keep_elr_on_unclean_restart = false;
  // groups (broker::GroupFlaws): a rebalance keeps the generation number; OffsetCommit
  // skips the member and generation checks; OffsetCommit answers before the commit is
  // durable; a new coordinator loads __consumer_offsets only up to its high watermark.
  bool group_same_generation = false;
  bool group_commit_any_generation = false;
  bool group_commit_before_durable = false;
  bool group_load_to_high_watermark = false;
  // groups-consumer (KIP-848): a partition goes to its new owner before the old one
  // revoked it (broker::GroupFlaws::assign_before_revoke).
  bool group_assign_before_revoke = false;
  // groups-consumer: a new coordinator ignores the KIP-848 groups' records
  // (broker::GroupFlaws::forget_consumer_groups).
  bool group_forget_consumer_state = false;
};

// Every flaw by its --flaw name, for parsing and printing.
struct FlawName {
  const char* name;
  bool Flaws::*field;
};
inline constexpr FlawName flaw_names[] = {
    {"ack-before-fsync", &Flaws::ack_before_fsync},
    {"partition-leak", &Flaws::partition_leak},
    {"skip-checksum", &Flaws::skip_checksum},
    {"vote-twice", &Flaws::vote_twice},
    {"vote-before-persist", &Flaws::vote_before_persist},
    {"commit-by-count", &Flaws::commit_by_count},
    {"no-divergence-truncation", &Flaws::no_divergence_truncation},
    {"answer-before-commit", &Flaws::answer_before_commit},
    {"snapshot-without-configs", &Flaws::snapshot_without_configs},
    {"answer-before-catch-up", &Flaws::answer_before_catch_up},
    {"keep-stray-partitions", &Flaws::keep_stray_partitions},
    {"ack-on-leader", &Flaws::ack_on_leader},
    {"shrink-isr-early", &Flaws::shrink_isr_early},
    {"skip-follower-truncation", &Flaws::skip_follower_truncation},
    {"skip-divergence-check", &Flaws::skip_divergence_check},
    {"truncate-to-hw", &Flaws::truncate_to_high_watermark},
    {"truncate-to-leader-offset", &Flaws::truncate_to_leader_offset},
    {"serve-past-hw", &Flaws::serve_past_high_watermark},
    {"stamp-successor-epoch", &Flaws::stamp_successor_epoch},
    {"hw-under-min-isr", &Flaws::high_watermark_under_min_isr},
    {"elr-keep-unclean-restart", &Flaws::keep_elr_on_unclean_restart},
    {"group-same-generation", &Flaws::group_same_generation},
    {"group-commit-any-generation", &Flaws::group_commit_any_generation},
    {"group-commit-before-durable", &Flaws::group_commit_before_durable},
    {"group-load-to-hw", &Flaws::group_load_to_high_watermark},
    {"group-assign-before-revoke", &Flaws::group_assign_before_revoke},
    {"group-forget-consumer-state", &Flaws::group_forget_consumer_state},
};

// Which fault kinds a run may use. Within the allowed kinds, each seed draws its own
// profile (swarm testing).
struct FaultSwitches {
  bool process = true;
  bool network = true;
  bool disk = true;
  bool clock = true;
  bool buggify = true;
  // Running out of file descriptors (EMFILE) on accept, connect and open: a kind of
  // its own that fires only where network or disk faults are on.
  bool descriptors = true;
};

struct FaultProfile {
  DiskFaults disk;
  NetworkFaults network;
  ProcessFaults process;
  ClockFaults clock;
  bool descriptors = false;  // network and disk too_many_open_files are non-zero
  bool buggify = false;
  double buggify_site_probability = 0;
  double buggify_fire_probability = 0;

  // Draws a profile for one seed: each allowed kind is on with probability 3/4, and
  // its rates are drawn log-uniformly over a range that keeps runs meaningful.
  static FaultProfile draw(runtime::Random& random, const FaultSwitches& switches);
  std::string describe() const;
};

struct RunOptions {
  uint64_t seed = 0;
  std::string workload = "replicated_log";
  runtime::Duration faulty = runtime::seconds(20);
  runtime::Duration healed = runtime::seconds(20);
  FaultSwitches faults;
  Flaws flaws;
  bool keep_trace = false;

  // The weir-sim arguments (other than the seed) that reproduce these options.
  std::string replay_arguments() const;
};

enum class Verdict { ok, crash, liveness, correctness };
const char* to_string(Verdict verdict);
// weir-sim's exit code for a verdict (usage errors exit 2).
int exit_code(Verdict verdict);

}  // namespace weir::sim

namespace weir::sim {

// weir-sim's command line, parsed.
struct Command {
  RunOptions run;
  uint64_t seed_first = 0;
  uint64_t seed_last = 0;
  std::string trace_file;  // empty: no trace file
  bool verbose = false;    // print problems and fault counts for passing seeds too
  bool help = false;
};

// Parses weir-sim's arguments (without the program name). On error, returns a message
// that names the offending argument.
Result<Command, std::string> parse_command_line(const std::vector<std::string>& arguments);
std::string usage();

}  // namespace weir::sim
