#include "sim/workloads/raft_quorum.h"

#include <algorithm>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <absl/container/btree_map.h>
#include <absl/container/btree_set.h>
#include <fmt/format.h>
#include <fmt/ranges.h>

#include "raft/node.h"
#include "raft/service.h"
#include "record/batch.h"

namespace weir::sim {

using raft::Epoch;
using raft::ReplicaId;
using record::Offset;
using runtime::Duration;
using runtime::Instant;
using runtime::milliseconds;
using runtime::seconds;

namespace {

constexpr uint16_t controller_port = 9093;
constexpr const char* cluster_id = "weir-sim-quorum";

std::string controller_host(int id) { return fmt::format("c{}", id); }

// One log entry as the checkers compare them: the batch CRC covers its content (not
// its offset or epoch, which the log assigns).
struct Entry {
  Epoch epoch;
  uint32_t crc = 0;
  uint64_t value = 0;  // the appended value; 0 for a LeaderChange entry
  bool operator==(const Entry&) const = default;
};

enum class Outcome { pending, ok, failed, unknown };

struct Append {
  uint64_t value = 0;
  int node = 0;
  Instant invoked;
  Outcome outcome = Outcome::pending;
  Offset offset{-1};
};

// What every node observed; it lives in the workload, so it survives crashes.
struct History {
  int voters = 3;
  raft::RaftFlaws flaws;
  absl::btree_map<Epoch, absl::btree_set<int>> leaders;
  // (voter, epoch) → the candidate it voted for.
  absl::btree_map<std::pair<int, Epoch>, int> votes;
  std::vector<Append> appends;
  uint64_t next_value = 1;
  // Committed entries by offset, as the first node to apply them saw them.
  absl::btree_map<int64_t, Entry> committed;
  // The state machine's digest after applying everything below an offset.
  absl::btree_map<int64_t, uint64_t> digests;
  std::vector<std::string> violations;
  // Failover: when the node leading last lost its process, and the measured gaps.
  std::optional<Instant> leader_lost_at;
  std::vector<Duration> failovers;
  int current_leader = 0;
  // The nemesis' odds for this seed (0 on half the seeds).
  double crash_after_vote = 0;
  double crash_after_win = 0;
  double crash_after_append = 0;
  // Per seed: whole fetches, or one batch per fetch (a follower then stops between
  // any two entries, e.g. between an old entry and a new leader's first).
  int32_t fetch_max_bytes = 8 << 20;
  bool quiesced = false;
  Instant healed_at = Instant::max();
  // After the final restart: each node's whole log and high watermark.
  absl::btree_map<int, std::vector<std::pair<int64_t, Entry>>> final_logs;
  absl::btree_map<int, int64_t> final_high_watermarks;

  void violation(std::string text) {
    if (violations.size() < 20) violations.push_back(std::move(text));
  }
};

uint64_t value_of(const record::BatchView& batch) {
  if (batch.header.is_control()) return 0;
  auto records = record::decode_records(batch, 1 << 20);
  if (!records || records->size() != 1 || !(*records)[0].value ||
      (*records)[0].value->size() != 8) {
    return 0;
  }
  uint64_t value = 0;
  for (uint8_t byte : *(*records)[0].value) value = (value << 8) | byte;
  return value;
}

// The epoch of the entry at `offset` in a node's log, if it holds one.
std::optional<Epoch> epoch_at(const raft::RaftCore& core, Offset offset) {
  if (offset >= core.log_end()) return std::nullopt;
  std::optional<Epoch> found;
  for (const raft::EpochStart& start : core.epochs()) {
    if (start.start > offset) break;
    found = start.epoch;
  }
  return found;
}

class ControllerProcess final : public Process {
 public:
  ControllerProcess(NodeContext& context, History& history, int id)
      : context_(context), env_(context.env), history_(history), id_(id) {
    raft::RaftSettings settings;
    settings.core.self = ReplicaId(id);
    for (int voter = 1; voter <= history.voters; voter++) {
      settings.core.voters.emplace_back(voter);
      settings.voter_addresses[ReplicaId(voter)] =
          runtime::Address{controller_host(voter), controller_port};
    }
    settings.core.flaws = history.flaws;
    settings.cluster_id = cluster_id;
    // Shorter than Kafka's defaults (1 s, 2 s): more elections per simulated second.
    settings.core.election_timeout = milliseconds(500);
    settings.core.fetch_timeout = milliseconds(1000);
    settings.fetch_max_bytes = history.fetch_max_bytes;
    // The nemesis: crashes at the moments Raft bugs hide behind, on some seeds.
    settings.on_leader = [this](Epoch epoch) {
      on_leader(epoch);
      // Just after winning, before the new epoch's entry spreads.
      if (env_.random.chance(history_.crash_after_win)) crash_soon("nemesis.crash_after_win");
    };
    settings.on_leader_commit = [this](Offset high_watermark) {
      // Raft's commitment rule (§5.4.2): a leader counts replicas only for entries of its
      // own epoch; earlier ones are committed with them. So whenever a leader moves the
      // commit point, the last committed entry is of its epoch.
      const raft::RaftCore& core = node_->core();
      const auto last = epoch_at(core, high_watermark - 1);
      if (last != core.epoch()) {
        history_.violation(fmt::format(
            "commitment rule: c{}, leader of epoch {}, moved the high watermark to {} over an "
            "entry of epoch {} (counted by replicas)",
            id_, core.epoch(), high_watermark, last ? fmt::format("{}", *last) : std::string("?")));
      }
    };
    settings.on_vote_granted = [this](Epoch epoch, ReplicaId candidate) {
      // Vote safety: one vote per voter per epoch, across its restarts.
      auto [it, fresh] = history_.votes.emplace(std::pair{id_, epoch}, candidate.value());
      if (!fresh && it->second != candidate.value()) {
        history_.violation(fmt::format("vote safety: c{} voted for c{} and for c{} in epoch {}",
                                       id_, it->second, candidate, epoch));
      }
      // Just after granting a vote, which must already be durable.
      if (env_.random.chance(history_.crash_after_vote)) crash_soon("nemesis.crash_after_vote");
    };
    node_.emplace(env_, std::move(settings));
    service_.emplace(env_, *node_);
  }

  ~ControllerProcess() override {
    // The process is gone (crash or kill): if it led, the failover clock starts.
    if (history_.current_leader == id_) {
      history_.current_leader = 0;
      history_.leader_lost_at = env_.clock.now();
    }
  }

  void run() override {
    if (auto started = node_->start(); !started) context_.panic(started.error());
    if (auto bound = service_->listen({controller_host(id_), controller_port}); !bound) {
      context_.panic(bound.error());
    }
    env_.scheduler.spawn("applier", [this] { apply_loop(); });
    if (history_.quiesced) {
      env_.scheduler.spawn("final-read", [this] { final_read(); });
    } else {
      env_.scheduler.spawn("appender", [this] { append_loop(); });
    }
    node_->failed().wait();
    context_.panic(node_->failure());
  }

 private:
  void on_leader(Epoch epoch) {
    history_.leaders[epoch].insert(id_);
    if (history_.leaders[epoch].size() > 1) {
      history_.violation(fmt::format("election safety: epoch {} has leaders {}", epoch,
                                     fmt::join(history_.leaders[epoch], ", ")));
    }
    // Leader completeness: everything committed so far is in the new leader's log.
    const raft::RaftCore& core = node_->core();
    for (const auto& [offset, entry] : history_.committed) {
      const auto held = epoch_at(core, Offset(offset));
      if (held != entry.epoch) {
        history_.violation(fmt::format(
            "leader completeness: c{} leads epoch {} without committed offset {} (epoch {}); "
            "it holds {}",
            id_, epoch, offset, entry.epoch,
            held ? fmt::format("epoch {}", *held) : std::string("nothing")));
        break;
      }
    }
    if (history_.leader_lost_at) {
      history_.failovers.push_back(env_.clock.now() - *history_.leader_lost_at);
      history_.leader_lost_at.reset();
    }
    history_.current_leader = id_;
  }

  // Ends this incarnation a few milliseconds from now, from a fiber of its own (the
  // caller may not suspend), as a crash at an interesting moment would.
  void crash_soon(std::string reason) {
    if (context_.world.healed()) return;  // the healed phase injects nothing
    context_.world.stats().count(reason);
    env_.scheduler.spawn("nemesis-crash", [this, reason = std::move(reason)] {
      // Often before the next message leaves (sim latency is 0.05-2 ms), sometimes after.
      env_.scheduler.sleep_for(runtime::microseconds(env_.random.between(0, 3000)));
      context_.panic(reason);
    });
  }

  void append_loop() {
    while (!history_.quiesced) {
      env_.scheduler.sleep_for(milliseconds(env_.random.between(5, 40)));
      const raft::RaftCore& core = node_->core();
      if (!core.is_leader() || !core.epoch_start_offset()) continue;
      const Epoch epoch = core.epoch();
      const size_t index = history_.appends.size();
      Append& append = history_.appends.emplace_back();
      append.value = history_.next_value++;
      append.node = id_;
      append.invoked = env_.clock.now();
      record::Record value_record;
      value_record.value = record::Bytes(8);
      for (size_t i = 0; i < 8; i++) {
        (*value_record.value)[i] = static_cast<uint8_t>(append.value >> (56 - 8 * i));
      }
      const record::Bytes batch = record::encode_batch({}, std::span(&value_record, 1));
      auto end = node_->append(batch);
      // Just after appending, before followers have it.
      if (end && env_.random.chance(history_.crash_after_append)) {
        crash_soon("nemesis.crash_after_append");
      }
      if (!end) {
        history_.appends[index].outcome = end.error() == protocol::ErrorCode::not_leader_or_follower
                                              ? Outcome::failed
                                              : Outcome::unknown;
        continue;
      }
      const bool committed = node_->wait_committed(*end, epoch, env_.clock.now() + seconds(5));
      Append& done = history_.appends[index];
      done.outcome = committed ? Outcome::ok : Outcome::unknown;
      done.offset = *end - 1;
    }
  }

  // Reads committed entries in order, as a state machine applies them.
  void apply_loop() {
    Offset next{0};
    uint64_t digest = 0xcbf29ce484222325ULL;
    bool diverged = false;
    while (true) {
      if (!node_->wait_high_watermark_above(next, env_.clock.now() + seconds(1))) continue;
      auto read = node_->read_committed(next, 1 << 20);
      if (!read || read->empty()) {
        env_.scheduler.sleep_for(milliseconds(50));
        continue;
      }
      auto batches = record::split_batches(*read);
      if (!batches) {
        env_.scheduler.sleep_for(milliseconds(50));  // a flipped bit on read: again
        continue;
      }
      for (const record::BatchView& batch : *batches) {
        if (batch.header.base_offset != next) break;
        const Entry entry{batch.header.partition_leader_epoch, batch.header.crc, value_of(batch)};
        const int64_t offset = next.value();
        auto [it, inserted] = history_.committed.emplace(offset, entry);
        if (!inserted && it->second != entry) {
          history_.violation(fmt::format(
              "state machine safety: offset {} committed as epoch {} crc {:08x} and, on c{}, as "
              "epoch {} crc {:08x}",
              offset, it->second.epoch, it->second.crc, id_, entry.epoch, entry.crc));
        }
        // The state applied is the entries' content; the epoch is the log's business.
        digest = (digest ^ entry.crc) * 0x100000001b3ULL;
        next = batch.header.last_offset() + 1;
        auto [at, fresh] = history_.digests.emplace(next.value(), digest);
        if (!fresh && at->second != digest && !diverged) {
          diverged = true;  // every later digest differs too: report the first
          history_.violation(fmt::format("state machine safety: c{}'s digest at offset {} differs",
                                         id_, next.value()));
        }
      }
    }
  }

  // After the final restart: wait for the quorum to settle, then record the whole log.
  void final_read() {
    env_.scheduler.sleep_for(seconds(7));
    std::vector<std::pair<int64_t, Entry>> entries;
    Offset next{0};
    int damaged = 0;
    while (next < node_->core().log_end()) {
      auto read = node_->read_log(next, 1 << 20);
      std::optional<std::vector<record::BatchView>> batches;
      if (read) {
        if (auto split = record::split_batches(*read); split && !split->empty()) {
          batches = std::move(*split);
        }
      }
      if (!batches) {
        if (++damaged > 20) return;
        env_.scheduler.sleep_for(milliseconds(10));
        continue;
      }
      for (const record::BatchView& batch : *batches) {
        entries.emplace_back(
            batch.header.base_offset.value(),
            Entry{batch.header.partition_leader_epoch, batch.header.crc, value_of(batch)});
        next = batch.header.last_offset() + 1;
      }
    }
    history_.final_logs[id_] = std::move(entries);
    history_.final_high_watermarks[id_] = node_->high_watermark().value();
  }

  NodeContext& context_;
  runtime::Env& env_;
  History& history_;
  int id_;
  std::optional<raft::RaftNode> node_;
  std::optional<raft::RaftService> service_;
};

class RaftQuorumWorkload final : public Workload {
 public:
  explicit RaftQuorumWorkload(const RunOptions& options) {
    history_.voters = options.seed % 2 == 1 ? 3 : 5;
    history_.flaws = raft_flaws_of(options.flaws);
  }

  void setup(World& world) override {
    if (world.random().chance(0.5)) history_.fetch_max_bytes = 1;
    if (world.profile().process.enabled) {
      runtime::Random& random = world.random();
      if (random.chance(0.5)) history_.crash_after_vote = 0.05 + 0.45 * random.unit();
      if (random.chance(0.5)) history_.crash_after_win = 0.05 + 0.45 * random.unit();
      if (random.chance(0.5)) history_.crash_after_append = 0.002 + 0.02 * random.unit();
    }
    for (int id = 1; id <= history_.voters; id++) {
      world.add_node(controller_host(id), [this, id](NodeContext& context) {
        return std::make_unique<ControllerProcess>(context, history_, id);
      });
    }
  }
  void on_heal(World& world) override { history_.healed_at = world.now(); }
  void quiesce(World&) override { history_.quiesced = true; }

  CheckResult check(World& world) override {
    CheckResult result;
    for (const std::string& violation : history_.violations) {
      result.fail(Verdict::correctness, violation);
    }
    check_final_logs(result);
    size_t acknowledged = 0;
    bool progress_after_heal = false;
    for (const Append& append : history_.appends) {
      if (append.outcome != Outcome::ok) continue;
      acknowledged++;
      if (append.invoked >= history_.healed_at) progress_after_heal = true;
      for (const auto& [node, log] : history_.final_logs) {
        auto it = std::lower_bound(log.begin(), log.end(), append.offset.value(),
                                   [](const auto& entry, int64_t o) { return entry.first < o; });
        if (it == log.end() || it->first != append.offset.value() ||
            it->second.value != append.value) {
          result.fail(Verdict::correctness,
                      fmt::format("durability: acknowledged append {} at offset {} is not in "
                                  "c{}'s final log",
                                  append.value, append.offset.value(), node));
          break;
        }
      }
    }
    if (!progress_after_heal) {
      result.fail(Verdict::liveness, "no append committed after healing");
    }
    std::vector<double> failover_ms;
    for (Duration gap : history_.failovers) {
      failover_ms.push_back(static_cast<double>(gap.count()) / 1e6);
    }
    result.summary =
        fmt::format("voters={} epochs={} appends={} acked={} committed={} failovers={}",
                    history_.voters, history_.leaders.size(), history_.appends.size(), acknowledged,
                    history_.committed.size(), history_.failovers.size());
    (void)world;
    return result;
  }

 private:
  void check_final_logs(CheckResult& result) {
    if (history_.final_logs.size() != static_cast<size_t>(history_.voters)) {
      result.fail(Verdict::liveness,
                  fmt::format("only {} of {} controllers read their log after the final restart",
                              history_.final_logs.size(), history_.voters));
    }
    // Log matching, pairwise.
    for (const auto& [a, log_a] : history_.final_logs) {
      for (const auto& [b, log_b] : history_.final_logs) {
        if (b <= a) continue;
        const size_t common = std::min(log_a.size(), log_b.size());
        std::optional<size_t> first_difference;
        for (size_t i = 0; i < common; i++) {
          if (log_a[i] != log_b[i]) {
            if (!first_difference) first_difference = i;
          } else if (first_difference) {
            result.fail(Verdict::correctness,
                        fmt::format("log matching: c{} and c{} agree at offset {} (epoch {}) but "
                                    "differ before it, at offset {}",
                                    a, b, log_a[i].first, log_a[i].second.epoch,
                                    log_a[*first_difference].first));
            break;
          }
        }
      }
    }
    // Committed entries survive in every final log.
    for (const auto& [node, log] : history_.final_logs) {
      absl::btree_map<int64_t, Entry> by_offset(log.begin(), log.end());
      for (const auto& [offset, entry] : history_.committed) {
        auto it = by_offset.find(offset);
        if (it == by_offset.end() || it->second != entry) {
          result.fail(
              Verdict::correctness,
              fmt::format("committed offset {} (epoch {}) is {} in c{}'s final log", offset,
                          entry.epoch, it == by_offset.end() ? "missing" : "different", node));
          break;
        }
      }
    }
    // Liveness: one committed log at the end.
    absl::btree_set<int64_t> high_watermarks;
    for (const auto& [node, high_watermark] : history_.final_high_watermarks) {
      high_watermarks.insert(high_watermark);
    }
    if (high_watermarks.size() > 1) {
      result.fail(Verdict::liveness, fmt::format("the final high watermarks differ: {}",
                                                 fmt::join(high_watermarks, ", ")));
    }
  }

  History history_;
};

// For measure_raft_failover: whoever leads, and when a leader first committed.
class FailoverWorkload final : public Workload {
 public:
  explicit FailoverWorkload(int voters) { history_.voters = voters; }
  void setup(World& world) override {
    for (int id = 1; id <= history_.voters; id++) {
      world.add_node(controller_host(id), [this, id](NodeContext& context) {
        return std::make_unique<ControllerProcess>(context, history_, id);
      });
    }
  }
  CheckResult check(World&) override { return {}; }
  History history_;
};

}  // namespace

raft::RaftFlaws raft_flaws_of(const Flaws& flaws) {
  raft::RaftFlaws raft;
  raft.vote_twice_in_epoch = flaws.vote_twice;
  raft.vote_before_persist = flaws.vote_before_persist;
  raft.commit_previous_epoch_by_count = flaws.commit_by_count;
  raft.no_divergence_truncation = flaws.no_divergence_truncation;
  return raft;
}

std::unique_ptr<Workload> make_raft_quorum_workload(const RunOptions& options) {
  return std::make_unique<RaftQuorumWorkload>(options);
}

std::optional<Duration> measure_raft_failover(uint64_t seed, int voters) {
  FailoverWorkload workload(voters);
  World world(seed, FaultProfile{}, Flaws{}, false);
  workload.setup(world);
  // Run until a leader has committed an append, then kill it.
  const Instant give_up = world.now() + seconds(60);
  while (world.now() < give_up) {
    if (!world.run_for(milliseconds(10))) return std::nullopt;
    const auto& appends = workload.history_.appends;
    const bool committed = std::any_of(appends.begin(), appends.end(),
                                       [](const Append& a) { return a.outcome == Outcome::ok; });
    if (committed && workload.history_.current_leader != 0) break;
  }
  const int leader = workload.history_.current_leader;
  if (leader == 0) return std::nullopt;
  world.kill(static_cast<size_t>(leader - 1));
  const size_t failovers = workload.history_.failovers.size();
  const Instant until = world.now() + seconds(60);
  while (world.now() < until && workload.history_.failovers.size() == failovers) {
    if (!world.run_for(milliseconds(1))) return std::nullopt;
  }
  if (workload.history_.failovers.size() == failovers) return std::nullopt;
  return workload.history_.failovers.back();
}

}  // namespace weir::sim
