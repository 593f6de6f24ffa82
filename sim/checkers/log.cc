#include "sim/checkers/log.h"

#include <fmt/format.h>

#include "base/assert.h"

namespace weir::sim::checkers {

namespace {

std::string position_text(const LogPosition& position) {
  return fmt::format("partition {} offset {}", position.first, position.second);
}

std::string read_text(const LogRead& read) {
  return read.at ? fmt::format("{} at {}s", read.reader, *read.at) : read.reader;
}

// Where each position of the final log is, by position.
absl::btree_map<LogPosition, uint64_t> final_values(const LogHistory& history) {
  VERIFY(history.final_log.has_value());
  absl::btree_map<LogPosition, uint64_t> at;
  for (size_t p = 0; p < history.final_log->size(); p++) {
    for (const auto& [offset, value] : (*history.final_log)[p]) {
      at.emplace(LogPosition{static_cast<int32_t>(p), offset}, value);
    }
  }
  return at;
}

}  // namespace

void record_read(LogHistory& history, LogPosition position, uint64_t value, std::string reader,
                 std::optional<runtime::Instant> at) {
  history.read_count++;
  LogRead read{value, std::move(reader), at};
  auto it = history.reads.find(position);
  if (it == history.reads.end()) {
    history.reads.emplace(position, std::move(read));
    return;
  }
  if (it->second.value == value) return;
  // Every later read of a diverged position differs too: a few show the bug.
  if (history.read_conflicts.size() < 10) {
    history.read_conflicts.emplace_back(position, std::move(read));
  }
}

void check_log_integrity(const LogHistory& history, CheckResult& result) {
  VERIFY(history.final_log.has_value());
  absl::btree_map<uint64_t, size_t> written;  // value → write
  for (size_t i = 0; i < history.writes.size(); i++) written.emplace(history.writes[i].value, i);
  absl::btree_map<uint64_t, LogPosition> stored;
  for (size_t p = 0; p < history.final_log->size(); p++) {
    int64_t previous = -1;
    for (const auto& [offset, value] : (*history.final_log)[p]) {
      const LogPosition position{static_cast<int32_t>(p), offset};
      if (offset <= previous) {
        result.fail(Verdict::correctness,
                    fmt::format("partition {}: offset {} follows {}", p, offset, previous));
      }
      previous = offset;
      if (value == 0 || !written.contains(value)) {
        result.fail(Verdict::correctness,
                    fmt::format("{} holds {}, which nobody wrote", position_text(position), value));
      } else if (auto [it, inserted] = stored.emplace(value, position); !inserted) {
        result.fail(Verdict::correctness,
                    fmt::format("value {} stored twice: at {} and at {}", value,
                                position_text(it->second), position_text(position)));
      }
    }
  }
}

void check_log_durability(const LogHistory& history, CheckResult& result) {
  const absl::btree_map<LogPosition, uint64_t> at = final_values(history);
  for (const LogWrite& write : history.writes) {
    if (write.outcome != Outcome::ok) continue;
    const LogPosition position{write.partition, write.offset};
    auto it = at.find(position);
    if (it == at.end()) {
      result.fail(Verdict::correctness, fmt::format("acknowledged write {} at {} lost", write.value,
                                                    position_text(position)));
    } else if (it->second != write.value) {
      result.fail(Verdict::correctness,
                  fmt::format("acknowledged write {} at {} replaced by {}", write.value,
                              position_text(position), it->second));
    }
  }
}

void check_log_reads(const LogHistory& history, CheckResult& result) {
  for (const auto& [position, read] : history.read_conflicts) {
    const LogRead& first = history.reads.at(position);
    result.fail(Verdict::correctness,
                fmt::format("{} read as {} ({}) and as {} ({})", position_text(position),
                            first.value, read_text(first), read.value, read_text(read)));
  }
  const absl::btree_map<LogPosition, uint64_t> at = final_values(history);
  for (const auto& [position, read] : history.reads) {
    auto it = at.find(position);
    if (it == at.end() || it->second != read.value) {
      result.fail(
          Verdict::correctness,
          fmt::format("{} read {} at {}; the final log has {}", read_text(read), read.value,
                      position_text(position),
                      it == at.end() ? std::string("nothing") : std::to_string(it->second)));
    }
  }
}

void check_log_progress(const LogHistory& history, runtime::Instant healed_at,
                        CheckResult& result) {
  for (const LogWrite& write : history.writes) {
    if (write.outcome == Outcome::ok && write.invoked >= healed_at) return;
  }
  result.fail(Verdict::liveness, "no write was acknowledged after healing");
}

size_t acknowledged_writes(const LogHistory& history) {
  size_t count = 0;
  for (const LogWrite& write : history.writes) count += write.outcome == Outcome::ok;
  return count;
}

size_t final_records(const LogHistory& history) {
  size_t count = 0;
  if (history.final_log) {
    for (const auto& partition : *history.final_log) count += partition.size();
  }
  return count;
}

}  // namespace weir::sim::checkers
