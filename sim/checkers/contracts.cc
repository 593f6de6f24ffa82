#include "sim/checkers/contracts.h"

#include <algorithm>

#include <fmt/format.h>

#include "base/assert.h"

namespace weir::sim::checkers {

namespace {

// Notes at most this many permitted losses of each kind per stream: the counts are in
// the summary.
constexpr size_t kNotesPerPermit = 3;

std::string explain(Permit permit, int32_t partition, const WriteContract& contract) {
  switch (permit) {
    case Permit::acks1_leader_replaced:
      return fmt::format("acks=1 and partition {}'s leader was replaced", partition);
    case Permit::unclean_election:
      return fmt::format("an unclean election of partition {} (unclean.leader.election.enable={})",
                         partition, contract.unclean_allowed);
    case Permit::unsynced_power_loss:
      return fmt::format(
          "flush.messages > 1 and a replica of partition {} that lost its unsynced writes "
          "(power loss, or a disk fault that reopened its log from what is durable) led it "
          "before catching up",
          partition);
  }
  return "";
}

// Whether a leadership that may have served at or after `since` was superseded by an
// election of an epoch above it that `epoch_matches` accepts.
template <typename EpochMatches>
bool superseded_after(const PartitionEvents& events, runtime::Instant since,
                      EpochMatches epoch_matches) {
  return std::ranges::any_of(events.leaderships, [&](const Leadership& leadership) {
    return (!leadership.ended || *leadership.ended > since) &&
           epoch_matches(leadership.leader_epoch);
  });
}

}  // namespace

void EpochLedger::record(int32_t partition, int32_t broker, int32_t leader_epoch,
                         int64_t base_offset, int64_t last_offset, uint32_t crc) {
  constexpr size_t kViolationsKept = 10;
  auto [leader, first] = leaders_.try_emplace({partition, leader_epoch}, broker);
  // Each second leader of an epoch once, however many batches it wrote.
  if (!first && leader->second != broker &&
      second_leaders_.emplace(partition, leader_epoch, broker).second &&
      violations_.size() < kViolationsKept) {
    violations_.push_back(
        fmt::format("partition {}: leader epoch {} was written by brokers {} "
                    "and {}",
                    partition, leader_epoch, leader->second, broker));
  }
  const Batch batch{last_offset, crc, broker};
  auto [it, inserted] = batches_.try_emplace({partition, leader_epoch, base_offset}, batch);
  if (!inserted && (it->second.last != batch.last || it->second.crc != batch.crc) &&
      violations_.size() < kViolationsKept) {
    violations_.push_back(fmt::format(
        "partition {}: offset {} of leader epoch {} holds [{}..{}] crc {:08x} (broker {}) and "
        "[{}..{}] crc {:08x} (broker {})",
        partition, base_offset, leader_epoch, base_offset, it->second.last, it->second.crc,
        it->second.broker, base_offset, batch.last, batch.crc, broker));
  }
}

void EpochLedger::check(const std::string& name, CheckResult& result) const {
  for (const std::string& violation : violations_) {
    result.fail(Verdict::correctness, fmt::format("{}: {}", name, violation));
  }
}

const char* to_string(Permit permit) {
  switch (permit) {
    case Permit::acks1_leader_replaced: return "acks1-leader-replaced";
    case Permit::unclean_election: return "unclean-election";
    case Permit::unsynced_power_loss: return "unsynced-power-loss";
  }
  return "?";
}

std::string ContractReport::summary() const {
  std::string out;
  auto list = [&](const char* what, const absl::btree_map<Permit, size_t>& counts) {
    for (const auto& [permit, count] : counts) {
      out += fmt::format("{}{}[{}]={}", out.empty() ? "" : " ", what, to_string(permit), count);
    }
  };
  list("lost", lost_writes);
  list("changed_reads", changed_reads);
  if (plain_duplicates > 0) {
    out += fmt::format("{}plain_duplicates={}", out.empty() ? "" : " ", plain_duplicates);
  }
  return out;
}

std::optional<Permit> loss_permit(const WriteContract& contract, const ReplicationEvents& events,
                                  int32_t partition, runtime::Instant since,
                                  runtime::Instant until) {
  VERIFY(partition >= 0 && static_cast<size_t>(partition) < events.partitions.size());
  const PartitionEvents& p = events.partitions[static_cast<size_t>(partition)];
  // An unclean election after `since`, or one that superseded a leadership still
  // serving then (a zombie leader that kept acknowledging).
  for (const auto& [unclean_epoch, applied] : p.unclean_elections) {
    if (applied > until) continue;  // after the loss was seen: it explains nothing
    if (applied > since ||
        superseded_after(p, since, [unclean = unclean_epoch](int32_t epoch) {
          return epoch < unclean;  // (a copy: clang 14 cannot capture a structured binding)
        })) {
      return Permit::unclean_election;
    }
  }
  // acks=1: any leadership serving at or after `since` that a later one replaced may
  // have acknowledged the write alone.
  if (contract.acks == 1 &&
      superseded_after(p, since, [&](int32_t epoch) { return epoch < p.highest_epoch; })) {
    return Permit::acks1_leader_replaced;
  }
  // Unsynced writes: a broker that lost them after `since` led afterwards without
  // having caught up since — elected either before the controllers learned of its
  // restart (it was still in the ISR: a power loss looks like a pause until the broker
  // registers again, and a disk fault that reopened its log in place is never seen), or
  // as the last known leader (KIP-966's balanced recovery, which Kafka runs whatever
  // unclean.leader.election.enable says). A broker the controllers knew had restarted
  // uncleanly and elected from the ISR or the ELR anyway is no permit: that is the bug
  // KIP-966's unclean-shutdown rule exists for. Every replica losing power is one case.
  if (!contract.fsync) {
    const auto within = [](const std::vector<runtime::Instant>* times, runtime::Instant from,
                           runtime::Instant to) {
      return times != nullptr &&
             std::ranges::any_of(*times, [&](runtime::Instant t) { return t > from && t < to; });
    };
    const auto times_of = [](const absl::btree_map<int32_t, std::vector<runtime::Instant>>& map,
                             int32_t broker) -> const std::vector<runtime::Instant>* {
      auto it = map.find(broker);
      return it == map.end() ? nullptr : &it->second;
    };
    for (const Leadership& leadership : p.leaderships) {
      if (leadership.began > until) continue;
      const auto* losses = times_of(events.power_losses, leadership.broker);
      if (losses == nullptr) continue;
      auto elected = p.elected_at.find(leadership.leader_epoch);
      const runtime::Instant elected_at =
          elected == p.elected_at.end() ? leadership.began : elected->second;
      const bool last_known = p.last_known_leader_elections.contains(leadership.leader_epoch);
      const auto* expansions = times_of(p.isr_expansions, leadership.broker);
      const auto* registrations = times_of(events.registrations, leadership.broker);
      const bool permits = std::ranges::any_of(*losses, [&](runtime::Instant t) {
        if (t <= since || t > leadership.began) return false;
        // Caught up between the loss and the leadership: it led with the data again.
        if (within(expansions, t, leadership.began)) return false;
        return last_known || !within(registrations, t, elected_at + runtime::Duration(1));
      });
      if (permits) return Permit::unsynced_power_loss;
    }
  }
  return std::nullopt;
}

ContractReport check_log_contracts(const LogHistory& history, const WriteContract& contract,
                                   const ReplicationEvents& events, const std::string& name,
                                   CheckResult& result) {
  VERIFY(history.final_log.has_value());
  ContractReport report;
  auto note = [&](absl::btree_map<Permit, size_t>& counts, Permit permit, std::string what,
                  int32_t partition) {
    if (counts[permit]++ < kNotesPerPermit) {
      result.note(
          fmt::format("{}: {}, permitted by {}", name, what, explain(permit, partition, contract)));
    }
  };

  // Unclean elections the topic's config forbade.
  for (size_t p = 0; p < events.partitions.size(); p++) {
    if (contract.unclean_allowed) break;
    for (const auto& [epoch, applied] : events.partitions[p].unclean_elections) {
      result.fail(Verdict::correctness,
                  fmt::format("{}: partition {} elected a leader uncleanly (epoch {}, at {}s) "
                              "with unclean.leader.election.enable=false",
                              name, p, epoch, applied));
    }
  }

  // Integrity: increasing offsets, values somebody wrote, each stored once unless a
  // producer without idempotence retried it.
  absl::btree_map<uint64_t, size_t> written;
  for (size_t i = 0; i < history.writes.size(); i++) written.emplace(history.writes[i].value, i);
  absl::btree_map<uint64_t, LogPosition> stored;
  absl::btree_map<LogPosition, uint64_t> at;
  for (size_t p = 0; p < history.final_log->size(); p++) {
    int64_t previous = -1;
    for (const auto& [offset, value] : (*history.final_log)[p]) {
      const LogPosition position{static_cast<int32_t>(p), offset};
      at.emplace(position, value);
      if (offset <= previous) {
        result.fail(Verdict::correctness, fmt::format("{}: partition {}: offset {} follows {}",
                                                      name, p, offset, previous));
      }
      previous = offset;
      if (value == 0 || !written.contains(value)) {
        result.fail(Verdict::correctness, fmt::format("{}: partition {} offset {} holds {}, "
                                                      "which nobody wrote",
                                                      name, p, offset, value));
      } else if (auto [it, inserted] = stored.emplace(value, position); !inserted) {
        if (contract.idempotent) {
          result.fail(Verdict::correctness,
                      fmt::format("{}: value {} stored twice by an idempotent producer: at "
                                  "partition {} offset {} and offset {}",
                                  name, value, it->second.first, it->second.second, offset));
        } else {
          report.plain_duplicates++;
        }
      }
    }
  }

  // Durability: each acknowledged write at its acknowledged position, or a permit.
  for (const LogWrite& write : history.writes) {
    if (write.outcome != Outcome::ok) continue;
    auto it = at.find(LogPosition{write.partition, write.offset});
    if (it != at.end() && it->second == write.value) continue;
    const std::string what = fmt::format(
        "acknowledged write {} (acks={}, sent at {}s) at partition {} offset {} {}", write.value,
        contract.acks, write.invoked, write.partition, write.offset,
        it == at.end() ? std::string("lost") : fmt::format("replaced by {}", it->second));
    if (auto permit = loss_permit(contract, events, write.partition, write.invoked)) {
      note(report.lost_writes, *permit, what, write.partition);
    } else {
      result.fail(Verdict::correctness, fmt::format("{}: {}, and nothing permits it", name, what));
    }
  }

  // Reads: what a consumer saw was committed; it may change only by a permit.
  WriteContract committed = contract;
  committed.acks = -1;
  // `until`: when the change was seen (the event permitting it came before).
  auto judge_read = [&](const LogPosition& position, const LogRead& read, const std::string& what,
                        runtime::Instant until) {
    std::optional<Permit> permit;
    if (read.at) permit = loss_permit(committed, events, position.first, *read.at, until);
    if (permit) {
      note(report.changed_reads, *permit, what, position.first);
    } else {
      result.fail(Verdict::correctness, fmt::format("{}: {}, and nothing permits it", name, what));
    }
  };
  auto read_text = [](const LogRead& read) {
    return read.at ? fmt::format("{} at {}s", read.reader, *read.at) : read.reader;
  };
  for (const auto& [position, read] : history.read_conflicts) {
    const LogRead& first = history.reads.at(position);
    judge_read(
        position, first,
        fmt::format("partition {} offset {} read as {} ({}) and as {} ({})", position.first,
                    position.second, first.value, read_text(first), read.value, read_text(read)),
        read.at.value_or(runtime::Instant::max()));
  }
  for (const auto& [position, read] : history.reads) {
    auto it = at.find(position);
    if (it != at.end() && it->second == read.value) continue;
    judge_read(position, read,
               fmt::format("{} read {} at partition {} offset {}; the final log has {}",
                           read_text(read), read.value, position.first, position.second,
                           it == at.end() ? std::string("nothing") : std::to_string(it->second)),
               runtime::Instant::max());
  }
  return report;
}

}  // namespace weir::sim::checkers
