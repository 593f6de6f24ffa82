#include "sim/workloads/raft_quorum.h"

#include <algorithm>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "raft/node.h"
#include "raft/service.h"
#include "record/batch.h"
#include "sim/checkers/log.h"
#include "sim/checkers/raft.h"

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

using checkers::LogWrite;
using Entry = checkers::RaftEntry;

// What every node observed; it lives in the workload, so it survives crashes.
struct History {
  int voters = 3;
  raft::RaftFlaws flaws;
  checkers::ElectionHistory elections;
  // The appends (partition 0 of a log of unique values) and how each ended.
  checkers::LogHistory appends;
  uint64_t next_value = 1;
  // What the state machines applied, each new leader's log, each commit by a leader.
  checkers::CommitHistory commits;
  // The state machine's digest after applying everything below an offset.
  checkers::DigestHistory digests;
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
  checkers::FinalLogs final;
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

// The epochs of a node's log, for the checkers.
checkers::LogShape shape_of(const raft::RaftCore& core) {
  return checkers::LogShape{core.epochs(), core.log_end()};
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
      // For the commitment rule (Raft §5.4.2): the epoch of the entry just below the new
      // commit point.
      const raft::RaftCore& core = node_->core();
      checkers::record_leader_commit(history_.commits, id_, core.epoch(), high_watermark.value(),
                                     checkers::epoch_at(shape_of(core), high_watermark - 1));
    };
    settings.on_vote_granted = [this](Epoch epoch, ReplicaId candidate) {
      checkers::record_vote(history_.elections, id_, epoch, candidate.value());
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
    checkers::record_leader(history_.elections, epoch, id_);
    // For leader completeness: the log the new leader holds.
    checkers::record_election(history_.commits, id_, epoch, shape_of(node_->core()));
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
      const size_t index = history_.appends.writes.size();
      LogWrite& append = history_.appends.writes.emplace_back();
      append.value = history_.next_value++;
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
        history_.appends.writes[index].outcome =
            end.error() == protocol::ErrorCode::not_leader_or_follower ? Outcome::failed
                                                                       : Outcome::unknown;
        continue;
      }
      const bool committed = node_->wait_committed(*end, epoch, env_.clock.now() + seconds(5));
      LogWrite& done = history_.appends.writes[index];
      done.outcome = committed ? Outcome::ok : Outcome::unknown;
      done.offset = (*end - 1).value();
    }
  }

  // Reads committed entries in order, as a state machine applies them.
  void apply_loop() {
    Offset next{0};
    uint64_t digest = 0xcbf29ce484222325ULL;
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
        checkers::record_applied(history_.commits, id_, next.value(), entry);
        // The state applied is the entries' content; the epoch is the log's business.
        digest = (digest ^ entry.crc) * 0x100000001b3ULL;
        next = batch.header.last_offset() + 1;
        checkers::record_digest(history_.digests, id_, next.value(), digest);
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
    history_.final.logs[id_] = std::move(entries);
    history_.final.high_watermarks[id_] = node_->high_watermark().value();
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

  CheckResult check(World&) override {
    CheckResult result;
    checkers::check_election_safety(history_.elections, result);
    checkers::check_vote_safety(history_.elections, result);
    checkers::check_commitment_rule(history_.commits, result);
    checkers::check_leader_completeness(history_.commits, result);
    checkers::check_applied_entries(history_.commits, result);
    checkers::check_digests(history_.digests, result);
    checkers::check_final_logs_read(history_.final, static_cast<size_t>(history_.voters), result);
    checkers::check_log_matching(history_.final, result);
    checkers::check_applied_survive(history_.commits, history_.final, result);
    checkers::check_final_convergence(history_.final, result);
    checkers::check_append_durability(history_.appends.writes, history_.final, result);
    checkers::check_log_progress(history_.appends, history_.healed_at, result);
    result.summary =
        fmt::format("voters={} epochs={} appends={} acked={} committed={} failovers={}",
                    history_.voters, history_.elections.leaders.size(),
                    history_.appends.writes.size(), checkers::acknowledged_writes(history_.appends),
                    history_.commits.applied.size(), history_.failovers.size());
    return result;
  }

 private:
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
    const auto& appends = workload.history_.appends.writes;
    const bool committed = std::any_of(appends.begin(), appends.end(),
                                       [](const LogWrite& a) { return a.outcome == Outcome::ok; });
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
