#include "sim/checkers/raft.h"

#include <algorithm>
#include <string>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "base/assert.h"

namespace weir::sim::checkers {

void record_leader(ElectionHistory& history, raft::Epoch epoch, int node) {
  history.leaders[epoch].insert(node);
}

void record_vote(ElectionHistory& history, int voter, raft::Epoch epoch, int candidate) {
  history.votes[{voter, epoch}].insert(candidate);
}

void check_election_safety(const ElectionHistory& history, CheckResult& result) {
  for (const auto& [epoch, leaders] : history.leaders) {
    if (leaders.size() > 1) {
      result.fail(Verdict::correctness, fmt::format("election safety: epoch {} has leaders {}",
                                                    epoch, fmt::join(leaders, ", ")));
    }
  }
}

void check_vote_safety(const ElectionHistory& history, CheckResult& result) {
  for (const auto& [key, candidates] : history.votes) {
    if (candidates.size() > 1) {
      result.fail(Verdict::correctness,
                  fmt::format("vote safety: node {} voted for {} in epoch {}", key.first,
                              fmt::join(candidates, " and "), key.second));
    }
  }
}

void record_digest(DigestHistory& history, int node, int64_t offset, uint64_t digest) {
  history.digests[offset].emplace(digest, node);
}

void check_digests(const DigestHistory& history, CheckResult& result) {
  const std::pair<const int64_t, absl::btree_map<uint64_t, int>>* first = nullptr;
  size_t differing = 0;
  for (const auto& entry : history.digests) {
    if (entry.second.size() < 2) continue;
    if (first == nullptr) first = &entry;
    differing++;
  }
  if (first == nullptr) return;
  std::vector<std::string> seen;
  for (const auto& [digest, node] : first->second) {
    seen.push_back(fmt::format("{:016x} (first on node {})", digest, node));
  }
  result.fail(Verdict::correctness,
              fmt::format("state machine safety: the states applied below offset {} differ: {}; "
                          "{} offsets differ in all",
                          first->first, fmt::join(seen, ", "), differing));
}

std::optional<raft::Epoch> epoch_at(const LogShape& log, record::Offset offset) {
  if (offset >= log.end) return std::nullopt;
  std::optional<raft::Epoch> found;
  for (const raft::EpochStart& start : log.epochs) {
    if (start.start > offset) break;
    found = start.epoch;
  }
  return found;
}

void record_applied(CommitHistory& history, int node, int64_t offset, const RaftEntry& entry) {
  std::vector<CommitHistory::Applied>& seen = history.applied[offset];
  for (const CommitHistory::Applied& applied : seen) {
    if (applied.entry == entry) return;
  }
  seen.push_back({entry, node, history.sequence++});
}

void record_election(CommitHistory& history, int node, raft::Epoch epoch, LogShape log) {
  history.elections.push_back({node, epoch, std::move(log), history.sequence});
}

void record_leader_commit(CommitHistory& history, int node, raft::Epoch epoch,
                          int64_t high_watermark, std::optional<raft::Epoch> last_entry_epoch) {
  history.leader_commits.push_back({node, epoch, high_watermark, last_entry_epoch});
}

void check_applied_entries(const CommitHistory& history, CheckResult& result) {
  for (const auto& [offset, seen] : history.applied) {
    VERIFY(!seen.empty());
    for (size_t i = 1; i < seen.size(); i++) {
      result.fail(Verdict::correctness,
                  fmt::format("state machine safety: offset {} applied as epoch {} crc {:08x} "
                              "(node {}) and as epoch {} crc {:08x} (node {})",
                              offset, seen[0].entry.epoch, seen[0].entry.crc, seen[0].node,
                              seen[i].entry.epoch, seen[i].entry.crc, seen[i].node));
    }
  }
}

void check_leader_completeness(const CommitHistory& history, CheckResult& result) {
  // Raft promises a committed entry to the leaders of every epoch above the one that
  // committed it. That epoch existed when the entry was first applied; a leader of an
  // epoch no higher than every epoch elected by then may be a candidate whose votes
  // arrived late (it can commit nothing) and need not hold it (raft seed 554 of the
  // long sweep: a stale leader of epoch 2 after epoch 3 had committed).
  auto newest_epoch_before = [&](size_t sequence) {
    std::optional<raft::Epoch> newest;
    for (const CommitHistory::Election& election : history.elections) {
      if (election.applied_before > sequence) break;  // recorded in sequence order
      if (!newest || election.epoch > *newest) newest = election.epoch;
    }
    return newest;
  };
  for (const CommitHistory::Election& election : history.elections) {
    for (const auto& [offset, seen] : history.applied) {
      const CommitHistory::Applied& first = seen.front();
      if (first.sequence >= election.applied_before) continue;
      if (const auto newest = newest_epoch_before(first.sequence);
          newest && election.epoch <= *newest) {
        continue;
      }
      const auto held = epoch_at(election.log, record::Offset(offset));
      if (held != first.entry.epoch) {
        result.fail(Verdict::correctness,
                    fmt::format("leader completeness: node {} leads epoch {} without committed "
                                "offset {} (epoch {}); it holds {}",
                                election.node, election.epoch, offset, first.entry.epoch,
                                held ? fmt::format("epoch {}", *held) : std::string("nothing")));
        break;
      }
    }
  }
}

void check_commitment_rule(const CommitHistory& history, CheckResult& result) {
  for (const CommitHistory::LeaderCommit& commit : history.leader_commits) {
    if (commit.last_entry_epoch != commit.epoch) {
      result.fail(Verdict::correctness,
                  fmt::format("commitment rule: node {}, leader of epoch {}, moved the high "
                              "watermark to {} over an entry of epoch {} (counted by replicas)",
                              commit.node, commit.epoch, commit.high_watermark,
                              commit.last_entry_epoch ? fmt::format("{}", *commit.last_entry_epoch)
                                                      : std::string("?")));
    }
  }
}

void check_final_logs_read(const FinalLogs& final, size_t nodes, CheckResult& result) {
  if (final.logs.size() != nodes) {
    result.fail(Verdict::liveness,
                fmt::format("only {} of {} nodes read their log after the final restart",
                            final.logs.size(), nodes));
  }
}

void check_log_matching(const FinalLogs& final, CheckResult& result) {
  for (const auto& [a, log_a] : final.logs) {
    for (const auto& [b, log_b] : final.logs) {
      if (b <= a) continue;
      const size_t common = std::min(log_a.size(), log_b.size());
      std::optional<size_t> first_difference;
      for (size_t i = 0; i < common; i++) {
        if (log_a[i] != log_b[i]) {
          if (!first_difference) first_difference = i;
        } else if (first_difference) {
          result.fail(Verdict::correctness,
                      fmt::format("log matching: node {} and node {} agree at offset {} (epoch "
                                  "{}) but differ before it, at offset {}",
                                  a, b, log_a[i].first, log_a[i].second.epoch,
                                  log_a[*first_difference].first));
          break;
        }
      }
    }
  }
}

void check_applied_survive(const CommitHistory& history, const FinalLogs& final,
                           CheckResult& result) {
  for (const auto& [node, log] : final.logs) {
    const absl::btree_map<int64_t, RaftEntry> by_offset(log.begin(), log.end());
    for (const auto& [offset, seen] : history.applied) {
      const RaftEntry& entry = seen.front().entry;
      auto it = by_offset.find(offset);
      if (it == by_offset.end() || it->second != entry) {
        result.fail(
            Verdict::correctness,
            fmt::format("committed offset {} (epoch {}) is {} in node {}'s final log", offset,
                        entry.epoch, it == by_offset.end() ? "missing" : "different", node));
        break;
      }
    }
  }
}

void check_append_durability(const std::vector<LogWrite>& appends, const FinalLogs& final,
                             CheckResult& result) {
  for (const LogWrite& append : appends) {
    if (append.outcome != Outcome::ok) continue;
    for (const auto& [node, log] : final.logs) {
      auto it = std::lower_bound(log.begin(), log.end(), append.offset,
                                 [](const auto& entry, int64_t o) { return entry.first < o; });
      if (it == log.end() || it->first != append.offset || it->second.value != append.value) {
        result.fail(Verdict::correctness,
                    fmt::format("durability: acknowledged append {} at offset {} is not in "
                                "node {}'s final log",
                                append.value, append.offset, node));
        break;
      }
    }
  }
}

void check_final_convergence(const FinalLogs& final, CheckResult& result) {
  absl::btree_set<int64_t> high_watermarks;
  for (const auto& [node, high_watermark] : final.high_watermarks) {
    high_watermarks.insert(high_watermark);
  }
  if (high_watermarks.size() > 1) {
    result.fail(Verdict::liveness, fmt::format("the final high watermarks differ: {}",
                                               fmt::join(high_watermarks, ", ")));
  }
}

}  // namespace weir::sim::checkers
