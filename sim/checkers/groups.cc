#include "sim/checkers/groups.h"

#include <algorithm>
#include <tuple>

#include <absl/container/btree_map.h>
#include <absl/container/btree_set.h>
#include <fmt/format.h>

namespace weir::sim::checkers {

namespace {

// At most this many problems of one kind per group: the first few tell the story.
constexpr size_t kProblemsPerKind = 5;

// Whether a reset of `partition` overlapped [from, to]: committed offsets may have moved
// anywhere then.
bool reset_between(const GroupHistory& history, int32_t partition, runtime::Instant from,
                   runtime::Instant to) {
  return std::ranges::any_of(history.resets, [&](const GroupReset& reset) {
    return reset.partition == partition && reset.invoked <= to && reset.completed >= from;
  });
}

}  // namespace

void check_group_ownership(const GroupHistory& history, CheckResult& result) {
  // (generation, partition) -> the member that owns it.
  absl::btree_map<std::pair<int32_t, int32_t>, const GroupAssignment*> owners;
  size_t reported = 0;
  for (const GroupAssignment& assignment : history.assignments) {
    for (int32_t partition : assignment.partitions) {
      if (partition < 0 || partition >= history.partitions) {
        result.fail(Verdict::correctness,
                    fmt::format("group {}: {} was assigned partition {} of a {}-partition topic "
                                "in generation {}",
                                history.group, assignment.member, partition, history.partitions,
                                assignment.generation));
        continue;
      }
      auto [it, first] = owners.try_emplace({assignment.generation, partition}, &assignment);
      if (first || it->second->member == assignment.member) continue;
      if (reported++ < kProblemsPerKind) {
        result.fail(Verdict::correctness,
                    fmt::format("group {}: partition {} owned by {} (at {}s) and by {} (at {}s) "
                                "in generation {}",
                                history.group, partition, it->second->member, it->second->at,
                                assignment.member, assignment.at, assignment.generation));
      }
    }
  }
}

void check_group_exclusive(const GroupHistory& history, runtime::Duration session_timeout,
                           CheckResult& result) {
  // A member's hold of a partition runs from the first of its assignments that gives
  // the partition to the first later one that lacks it (or the member going down),
  // however many assignments in between keep it.
  struct Hold {
    std::string member;
    int32_t generation;  // of the assignment that started it
    runtime::Instant from;
    runtime::Instant until = runtime::Instant::max();  // max: still held at the end
    bool ended_by_loss = false;
  };
  absl::btree_map<int32_t, std::vector<Hold>> holds;  // partition -> every hold of it
  absl::btree_set<std::string> members;
  for (const GroupAssignment& assignment : history.assignments) members.insert(assignment.member);
  for (const std::string& member : members) {
    // This member's assignments and falls, in time order (a fall first at a tie).
    std::vector<std::pair<runtime::Instant, const GroupAssignment*>> events;
    for (const GroupAssignment& assignment : history.assignments) {
      if (assignment.member == member) events.emplace_back(assignment.at, &assignment);
    }
    for (const GroupMemberDown& down : history.downs) {
      if (down.member == member) events.emplace_back(down.at, nullptr);
    }
    std::stable_sort(events.begin(), events.end(), [](const auto& a, const auto& b) {
      return a.first < b.first || (a.first == b.first && a.second == nullptr && b.second);
    });
    absl::btree_map<int32_t, Hold> open;
    for (const auto& [at, assignment] : events) {
      const std::vector<int32_t> none;
      const std::vector<int32_t>& now_held = assignment ? assignment->partitions : none;
      for (auto it = open.begin(); it != open.end();) {
        if (std::find(now_held.begin(), now_held.end(), it->first) != now_held.end()) {
          ++it;
          continue;
        }
        it->second.until = at;
        it->second.ended_by_loss = assignment != nullptr && assignment->lost;
        holds[it->first].push_back(it->second);
        it = open.erase(it);
      }
      for (int32_t partition : now_held) {
        if (!open.contains(partition)) {
          open.emplace(partition, Hold{member, assignment->generation, at});
        }
      }
    }
    for (auto& [partition, hold] : open) holds[partition].push_back(hold);
  }
  size_t reported = 0;
  for (const auto& [partition, list] : holds) {
    for (size_t a = 0; a < list.size(); a++) {
      for (size_t b = a + 1; b < list.size(); b++) {
        if (list[a].member == list[b].member) continue;
        // Overlap: each starts before the other ends.
        if (!(list[a].from < list[b].until && list[b].from < list[a].until)) continue;
        const Hold& earlier = list[a].from <= list[b].from ? list[a] : list[b];
        const Hold& later = &earlier == &list[a] ? list[b] : list[a];
        // The later holder was a zombie: a dropped member applying an assignment it had
        // been sent before (its hold ends when it hears it was dropped).
        if (later.ended_by_loss) continue;
        // The earlier holder's loss is no excuse by itself: the coordinator must have
        // had a reason to drop it (a removal it reports, a leave, a silent session).
        bool removed = false;
        for (const GroupRemoval& removal : history.removals) {
          removed |= removal.member == earlier.member && removal.at >= earlier.from &&
                     removal.at <= later.from;
        }
        if (removed) continue;
        // Silent for a session when the later hold began: expired, not a double owner.
        std::optional<runtime::Instant> heard;
        for (const GroupContact& contact : history.contacts) {
          if (contact.member == earlier.member && contact.at <= later.from) {
            heard = std::max(heard.value_or(contact.at), contact.at);
          }
        }
        if (!heard || later.from - *heard >= session_timeout) continue;
        if (reported++ < kProblemsPerKind) {
          result.fail(Verdict::correctness,
                      fmt::format("group {}: partition {} held by {} (epoch {}, from {}s) and by "
                                  "{} (epoch {}, from {}s) at once",
                                  history.group, partition, earlier.member, earlier.generation,
                                  earlier.from, later.member, later.generation, later.from));
        }
      }
    }
  }
}

void check_group_commits(const GroupHistory& history, CheckResult& result) {
  size_t lost = 0;
  size_t backwards = 0;
  for (const GroupOffsetProbe& probe : history.probes) {
    // Lost: a commit acknowledged before the probe was sent is not in its answer.
    for (const GroupCommit& commit : history.commits) {
      if (commit.outcome != Outcome::ok || commit.partition != probe.partition ||
          commit.completed >= probe.invoked || probe.offset >= commit.offset ||
          reset_between(history, probe.partition, commit.completed, probe.answered)) {
        continue;
      }
      if (lost++ < kProblemsPerKind) {
        result.fail(Verdict::correctness,
                    fmt::format("group {}: partition {}'s commit of {} by {} (generation {}), "
                                "acknowledged at {}s, is lost: OffsetFetch at {}s answered {}",
                                history.group, probe.partition, commit.offset, commit.member,
                                commit.generation, commit.completed, probe.invoked, probe.offset));
      }
      break;
    }
    // Backwards: an earlier answer (complete before this probe began) was higher.
    for (const GroupOffsetProbe& earlier : history.probes) {
      if (earlier.partition != probe.partition || earlier.answered >= probe.invoked ||
          earlier.offset <= probe.offset ||
          reset_between(history, probe.partition, earlier.invoked, probe.answered)) {
        continue;
      }
      if (backwards++ < kProblemsPerKind) {
        result.fail(Verdict::correctness,
                    fmt::format("group {}: partition {}'s committed offset moved backwards: {} "
                                "at {}s, then {} at {}s",
                                history.group, probe.partition, earlier.offset, earlier.answered,
                                probe.offset, probe.invoked));
      }
      break;
    }
  }
  if (!history.final_committed) return;
  const std::vector<int64_t>& final_committed = *history.final_committed;
  for (const GroupCommit& commit : history.commits) {
    if (commit.outcome != Outcome::ok) continue;
    const auto p = static_cast<size_t>(commit.partition);
    const int64_t final_offset = p < final_committed.size() ? final_committed[p] : -1;
    if (final_offset >= commit.offset ||
        reset_between(history, commit.partition, commit.completed, runtime::Instant::max())) {
      continue;
    }
    if (lost++ < kProblemsPerKind) {
      result.fail(Verdict::correctness,
                  fmt::format("group {}: partition {}'s commit of {} by {} (generation {}), "
                              "acknowledged at {}s, is lost: the final committed offset is {}",
                              history.group, commit.partition, commit.offset, commit.member,
                              commit.generation, commit.completed, final_offset));
    }
  }
}

void check_group_reads(const GroupHistory& history,
                       const std::vector<std::vector<std::pair<int64_t, uint64_t>>>& final_log,
                       CheckResult& result) {
  // Each assignment's reads in the order they were returned.
  using Key = std::tuple<std::string, int32_t, uint64_t, int32_t>;  // member, generation,
                                                                    // assignment, partition
  absl::btree_map<Key, int64_t> last_read;
  absl::btree_map<int32_t, absl::btree_set<uint64_t>> read_values;
  size_t nonmonotonic = 0;
  size_t skipped = 0;
  for (const GroupRead& read : history.reads) {
    read_values[read.partition].insert(read.value);
    auto [it, first] =
        last_read.try_emplace(Key{read.member, read.generation, read.assignment, read.partition},
                              read.offset);
    if (first) continue;
    const int64_t previous = std::exchange(it->second, read.offset);
    if (read.offset <= previous) {
      if (nonmonotonic++ < kProblemsPerKind) {
        result.fail(Verdict::correctness,
                    fmt::format("group {}: {} read partition {} offset {} after offset {} in "
                                "generation {} (at {}s): reads went backwards",
                                history.group, read.member, read.partition, read.offset, previous,
                                read.generation, read.at));
      }
      continue;
    }
    const auto p = static_cast<size_t>(read.partition);
    if (p >= final_log.size()) continue;
    // A record of the log strictly between the two reads was skipped.
    const auto& records = final_log[p];
    auto between = std::ranges::upper_bound(records, previous, {},
                                            [](const auto& record) { return record.first; });
    if (between != records.end() && between->first < read.offset && skipped++ < kProblemsPerKind) {
      result.fail(Verdict::correctness,
                  fmt::format("group {}: {} read partition {} offset {} right after offset {} "
                              "in generation {} (at {}s), skipping offset {}",
                              history.group, read.member, read.partition, read.offset, previous,
                              read.generation, read.at, between->first));
    }
  }
  // At least once: what the group committed past, somebody read.
  if (!history.final_committed) return;
  size_t unread = 0;
  for (size_t p = 0; p < history.final_committed->size() && p < final_log.size(); p++) {
    const int64_t committed = (*history.final_committed)[p];
    const auto& values = read_values[static_cast<int32_t>(p)];
    for (const auto& [offset, value] : final_log[p]) {
      if (offset >= committed) break;
      if (values.contains(value)) continue;
      if (unread++ < kProblemsPerKind) {
        result.fail(Verdict::correctness,
                    fmt::format("group {}: partition {} offset {} is below the committed offset "
                                "{} but no member read it",
                                history.group, p, offset, committed));
      }
    }
  }
}

void check_group_liveness(const GroupHistory& history, runtime::Instant healed_at,
                          runtime::Duration bound, CheckResult& result) {
  if (!history.stable_at) {
    result.fail(Verdict::liveness,
                fmt::format("group {}: never Stable with every partition assigned after healing",
                            history.group));
  } else if (*history.stable_at - healed_at > bound) {
    result.fail(Verdict::liveness,
                fmt::format("group {}: Stable with every partition assigned only at {}s, {}s "
                            "after healing (bound {}s)",
                            history.group, *history.stable_at,
                            runtime::Instant() + (*history.stable_at - healed_at),
                            runtime::Instant() + bound));
  }
}

}  // namespace weir::sim::checkers
