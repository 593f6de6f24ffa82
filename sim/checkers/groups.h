// Checkers over a consumer group's history (issue 15's group checker): what each member
// was assigned per generation, the offsets it committed and how each commit ended, what
// OffsetFetch answered, what each member read, and — after healing — the committed
// offsets, the group's last stable assignment and the topic's whole log.
//
// The properties are the ones Kafka's group protocol exists for, and the ones Jepsen's
// Kafka tests found broken in the wild:
//  - ownership: no partition is owned by two members of one generation; with KIP-848's
//    consumer protocol, by two members at once (a partition moves only after its owner
//    revoked it);
//  - committed offsets: once acknowledged, a commit is never lost, and the committed
//    offset never moves backwards, except by an explicit reset or delete;
//  - at-least-once: a consumer that commits after processing skips no record (Jepsen's
//    poll-skip), and its reads of a partition within one assignment only go forwards
//    (nonmonotonic-poll); every record below the final committed offset was read;
//  - liveness: after healing the group reaches Stable with every partition assigned.
//
// Members are named by the workload ("c3"); a member that rejoins under a new member id
// keeps its name, and generations tell its assignments apart. A partition is an index
// into the group's one topic.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "runtime/clock.h"
#include "sim/checkers/result.h"

namespace weir::sim::checkers {

// A member's assignment in a generation, as SyncGroup (or the consumer protocol's
// heartbeat) answered it.
struct GroupAssignment {
  std::string member;
  int32_t generation = -1;
  std::vector<int32_t> partitions;
  runtime::Instant at;
  // KIP-848: this view came from giving everything up because the coordinator had
  // dropped the member (fenced, or forgotten after a pause past its session).
  bool lost = false;
};

// KIP-848: the coordinator answered one of the member's heartbeats (the member's time of
// receipt: the coordinator heard from it no later).
struct GroupContact {
  std::string member;
  runtime::Instant at;
};

// KIP-848: the member was dropped, whatever it believes: the coordinator removed it (its
// session expired, or it did not revoke within its rebalance timeout), or it left on
// its own for a missed poll interval while the application still held what it had.
struct GroupRemoval {
  std::string member;
  runtime::Instant at;
};

// A member's process went down (crash or kill): from then on it holds nothing.
struct GroupMemberDown {
  std::string member;
  runtime::Instant at;
};

struct GroupCommit {
  std::string member;
  int32_t generation = -1;
  int32_t partition = 0;
  int64_t offset = 0;  // the next offset to read, as Kafka commits it
  runtime::Instant invoked;
  Outcome outcome = Outcome::pending;
  runtime::Instant completed;  // once ok or failed
};

// An OffsetFetch answer for one partition: the committed offset, or -1 for none.
struct GroupOffsetProbe {
  int32_t partition = 0;
  int64_t offset = -1;
  runtime::Instant invoked;
  runtime::Instant answered;
};

// A record a member's poll returned.
struct GroupRead {
  std::string member;
  int32_t generation = -1;
  int32_t partition = 0;
  int64_t offset = 0;
  uint64_t value = 0;
  runtime::Instant at;
  // Which of the member's assignments the read belongs to (it counts each one it
  // applied): a rejoin may be answered with the same generation, and positions then
  // start over from the committed offsets.
  uint64_t assignment = 0;
};

// An explicit move of committed offsets (reset-offsets, delete-offsets, DeleteGroups):
// between `invoked` and `completed` a partition's committed offset may go anywhere.
struct GroupReset {
  int32_t partition = 0;
  runtime::Instant invoked;
  runtime::Instant completed;
};

struct GroupHistory {
  std::string group;
  int32_t partitions = 0;  // of the subscribed topic
  std::vector<GroupAssignment> assignments;
  std::vector<GroupCommit> commits;
  std::vector<GroupOffsetProbe> probes;
  std::vector<GroupRead> reads;
  std::vector<GroupReset> resets;
  std::vector<GroupMemberDown> downs;
  std::vector<GroupContact> contacts;
  std::vector<GroupRemoval> removals;
  // After healing: when the group was first seen Stable with every partition assigned.
  std::optional<runtime::Instant> stable_at;
  // After healing: each partition's committed offset (-1: none).
  std::optional<std::vector<int64_t>> final_committed;
};

// No partition is owned by two members of one generation; every assigned partition
// exists.
void check_group_ownership(const GroupHistory& history, CheckResult& result);
// KIP-848's promise, stronger than ownership per generation: no partition is held by
// two members at once. A member holds what its latest assignment gave it, until its
// next assignment or until it went down. An overlap is excused only when the coordinator
// had a reason to count the earlier holder out before the later hold began: it removed
// it (GroupRemoval: a session or rebalance timeout, or the member's own leave for a
// missed poll interval), or the earlier holder had not heard from the coordinator for a
// whole `session_timeout` (partitioned away or paused, which Kafka's coordinator
// expires too); or the later hold itself ended in a loss (a dropped member applying
// an assignment it had been sent before). The earlier holder's loss (`lost`: the
// member learning it was dropped) is no excuse by itself: a coordinator that forgets a
// group's state drops members it never removed.
void check_group_exclusive(const GroupHistory& history, runtime::Duration session_timeout,
                           CheckResult& result);
// An acknowledged commit is never lost: every later OffsetFetch answer, and the final
// committed offset, is at least its offset; and committed offsets never move backwards
// between two answers — unless a reset came between.
void check_group_commits(const GroupHistory& history, CheckResult& result);
// Within one assignment (member, generation, partition) reads go strictly forwards and
// skip no record of `final_log` (the topic's records, per partition: (offset, value) in
// log order); and every record below a partition's final committed offset was read.
void check_group_reads(const GroupHistory& history,
                       const std::vector<std::vector<std::pair<int64_t, uint64_t>>>& final_log,
                       CheckResult& result);
// After healing at `healed_at`, the group reached Stable with every partition assigned
// within `bound`.
void check_group_liveness(const GroupHistory& history, runtime::Instant healed_at,
                          runtime::Duration bound, CheckResult& result);

}  // namespace weir::sim::checkers
