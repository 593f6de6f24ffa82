#include "sim/workloads/partition_replication.h"

#include <algorithm>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "record/batch.h"
#include "sim/checkers/contracts.h"
#include "sim/checkers/replicas.h"
#include "sim/node_process.h"
#include "sim/workloads/kraft_cluster.h"
#include "sim/workloads/log_client.h"

namespace weir::sim {

namespace {

using kraft::broker_host;
using kraft::controller_host;
using kraft::kBrokerPort;
using kraft::kControllerPort;

constexpr int kVoters = 3;
constexpr int kFirstBroker = 11;
constexpr const char* kClientHost = "client";
constexpr size_t kStreams = 3;

std::vector<std::string> common_config() {
  std::vector<std::string> lines = kraft::quorum_config(kVoters);
  lines.insert(lines.end(),
               {
                   // Replication at the simulator's pace: a follower leaves the ISR after 2 s.
                   "replica.lag.time.max.ms=2000",
                   "replica.fetch.wait.max.ms=200",
                   "replica.fetch.backoff.ms=100",
                   "default.replication.factor=3",
                   "min.insync.replicas=2",
                   // Leadership returns to preferred replicas every 5 s (Kafka: 300 s).
                   "leader.imbalance.check.interval.seconds=5",
               });
  return lines;
}

// One stream of the seed's mix: its topic's settings and its producer's.
struct StreamMix {
  LogStream stream;
  checkers::WriteContract contract;
  int16_t replication_factor = 3;
  int32_t min_insync = 2;

  std::string describe() const {
    return fmt::format("{}[rf={} min.isr={} acks={}{}{}{}]", stream.topic, replication_factor,
                       min_insync, stream.acks, stream.idempotent ? " idempotent" : "",
                       contract.unclean_allowed ? " unclean" : "",
                       contract.fsync ? "" : " no-fsync");
  }
};

StreamMix draw_stream(runtime::Random& random, size_t index, int brokers) {
  StreamMix mix;
  mix.stream.topic = fmt::format("s{}", index);
  if (index == 0) {
    // The classic durable setup, every seed.
    mix.stream.partitions = 2;
  } else {
    mix.stream.partitions = 1;
    mix.replication_factor = static_cast<int16_t>(random.between(1, std::min(5, brokers)));
    mix.min_insync = static_cast<int32_t>(random.between(1, mix.replication_factor));
    mix.contract.unclean_allowed = random.chance(1.0 / 3);
    mix.contract.fsync = !random.chance(1.0 / 6);
    const int64_t acks = random.between(0, 5);
    mix.stream.acks = acks <= 2 ? -1 : acks <= 4 ? 1 : 0;
    mix.stream.idempotent = mix.stream.acks == -1 && random.chance(2.0 / 3);
  }
  mix.contract.acks = mix.stream.acks;
  mix.contract.idempotent = mix.stream.idempotent;
  mix.stream.replication_factor = mix.replication_factor;
  mix.stream.configs = {
      {"min.insync.replicas", std::to_string(mix.min_insync)},
      {"unclean.leader.election.enable", mix.contract.unclean_allowed ? "true" : "false"},
      {"flush.messages", mix.contract.fsync ? "1" : "10000"},
  };
  return mix;
}

class PartitionReplicationWorkload final : public Workload {
 public:
  explicit PartitionReplicationWorkload(const RunOptions& options)
      : flaws_(options.flaws), nemesis_random_(options.seed ^ 0x6e656d65736973ULL) {}

  void setup(World& world) override {
    world_ = &world;
    runtime::Random& random = world.random();
    brokers_ = random.chance(0.5) ? 3 : static_cast<int>(random.between(4, 5));
    for (size_t s = 0; s < kStreams; s++) {
      mixes_.push_back(draw_stream(random, s, brokers_));
      events_.emplace_back().partitions.resize(
          static_cast<size_t>(mixes_.back().stream.partitions));
    }
    for (int id = 1; id <= kVoters; id++) {
      world.add_node(controller_host(id), [this, id](NodeContext& context) {
        std::vector<std::string> lines = common_config();
        lines.push_back("process.roles=controller");
        lines.push_back(fmt::format("node.id={}", id));
        lines.push_back(
            fmt::format("listeners=CONTROLLER://{}:{}", controller_host(id), kControllerPort));
        server::NodeHooks hooks;
        hooks.flaw_keep_elr_on_unclean_restart = flaws_.keep_elr_on_unclean_restart;
        hooks.on_applied = [this](record::Offset applied_end, const metadata::Image& image) {
          on_controller_applied(applied_end, image);
        };
        return std::make_unique<NodeProcess>(context, node_config(lines), std::move(hooks));
      });
    }
    std::vector<runtime::Address> bootstrap;
    for (int id = kFirstBroker; id < kFirstBroker + brokers_; id++) {
      bootstrap.push_back(runtime::Address{broker_host(id), kBrokerPort});
      const size_t node = world.add_node(broker_host(id), [this, id](NodeContext& context) {
        std::vector<std::string> lines = common_config();
        lines.push_back("process.roles=broker");
        lines.push_back(fmt::format("node.id={}", id));
        lines.push_back(fmt::format("listeners=PLAINTEXT://{}:{}", broker_host(id), kBrokerPort));
        server::NodeHooks hooks;
        hooks.broker.ack_on_leader = flaws_.ack_on_leader;
        hooks.broker.shrink_isr_early = flaws_.shrink_isr_early;
        hooks.broker.skip_follower_truncation = flaws_.skip_follower_truncation;
        hooks.broker.skip_divergence_check = flaws_.skip_divergence_check;
        hooks.broker.truncate_to_leader_offset = flaws_.truncate_to_leader_offset;
        hooks.broker.serve_past_high_watermark = flaws_.serve_past_high_watermark;
        hooks.broker.stamp_successor_epoch = flaws_.stamp_successor_epoch;
        hooks.broker.truncate_to_high_watermark = flaws_.truncate_to_high_watermark;
        hooks.broker.high_watermark_under_min_isr = flaws_.high_watermark_under_min_isr;
        hooks.broker.on_leader_append = [this, id](const std::string& topic, int32_t partition,
                                                   std::span<const uint8_t> batches) {
          on_leader_append(id, topic, partition, batches);
          // The nemesis between an append and its replication: the leader goes before
          // its followers fetched the batch (acks=1's loss, and a tail that the next
          // leader's epoch must make the followers of this one truncate).
          if (nemesis_random_.chance(0.0005)) {
            strike(id, "unreplicated_append", runtime::milliseconds(2), nemesis_random_);
          }
        };
        hooks.broker.on_follower_truncation = [this, id](const std::string&, int32_t) {
          // The nemesis during a follower's truncation: its log, leader epoch cache
          // and producer state are cut in several writes; a crash between them is
          // what recovery must survive (1 in 4, within the truncation's first 2 ms).
          if (nemesis_random_.chance(0.25)) {
            strike(id, "truncation", runtime::milliseconds(2), nemesis_random_);
          }
        };
        hooks.broker.on_reconciled = [this, id](const metadata::Image& image,
                                                const std::vector<std::string>&) {
          on_broker_reconciled(id, image);
        };
        auto process = std::make_unique<NodeProcess>(context, node_config(lines), std::move(hooks));
        broker_processes_[id] = {process.get(), context.incarnation};
        return process;
      });
      broker_of_node_.emplace(node, id);
      node_of_broker_.emplace(id, node);
    }
    world.on_down = [this](size_t node, bool power_loss) { on_node_down(node, power_loss); };
    // A disk fault may cost unsynced writes as a power loss does (a failed fsync forgets
    // them; other failed I/O makes the broker reopen the log from what is durable).
    world.on_unsynced_loss = [this](size_t node) {
      auto broker = broker_of_node_.find(node);
      if (broker != broker_of_node_.end()) power_losses_[broker->second].push_back(world_->now());
    };
    LogClientOptions options{bootstrap, {}, {}};
    for (int id = kFirstBroker; id < kFirstBroker + brokers_; id++) {
      options.reassign_among.push_back(id);
    }
    for (const StreamMix& mix : mixes_) options.streams.push_back(mix.stream);
    world.add_node(
        kClientHost,
        [this, options](NodeContext& context) {
          return make_log_client(context, history_, options);
        },
        NodeOptions{.faulty = false});
  }

  void on_heal(World& world) override { history_.healed_at = world.now(); }

  void quiesce(World& world) override {
    history_.quiesced = true;
    audit_replicas(world);
    // Liveness: the healed cluster has every partition led and fully in sync.
    for (size_t s = 0; s < mixes_.size(); s++) {
      const metadata::TopicImage* topic = s < latest_.size() ? latest_[s].get() : nullptr;
      if (topic == nullptr) {
        unsynced_.push_back(
            fmt::format("{}: the controllers never showed the topic", mixes_[s].stream.topic));
        continue;
      }
      for (size_t p = 0; p < topic->partitions.size(); p++) {
        const metadata::PartitionState& state = topic->partitions[p];
        metadata::ReplicaList isr = state.isr;
        metadata::ReplicaList replicas = state.replicas;
        std::ranges::sort(isr);
        std::ranges::sort(replicas);
        if (!state.has_leader() || isr != replicas) {
          unsynced_.push_back(fmt::format(
              "{}-{}: after healing, leader {} and ISR [{}] of replicas [{}]", topic->name, p,
              state.leader.value(), fmt::join(state.isr, ","), fmt::join(state.replicas, ",")));
        }
      }
    }
  }

  CheckResult check(World&) override {
    CheckResult result;
    if (!check_log_client_reads_finished(history_, result)) {
      // Why: the partitions as the controllers last showed them.
      for (size_t s = 0; s < mixes_.size() && s < latest_.size(); s++) {
        const metadata::TopicImage* topic = latest_[s].get();
        if (topic == nullptr) continue;
        for (size_t p = 0; p < topic->partitions.size(); p++) {
          const metadata::PartitionState& state = topic->partitions[p];
          if (state.has_leader() && state.isr.size() == state.replicas.size()) continue;
          result.fail(Verdict::liveness,
                      fmt::format("{}-{}: at the end leader {}; ISR [{}], ELR [{}], last known "
                                  "leader [{}], replicas [{}]",
                                  topic->name, p, state.leader.value(), fmt::join(state.isr, ","),
                                  fmt::join(state.elr, ","), fmt::join(state.last_known_elr, ","),
                                  fmt::join(state.replicas, ",")));
        }
      }
      return result;
    }
    for (const std::string& line : unsynced_) result.fail(Verdict::liveness, line);
    int replicas_compared = 0;
    for (const auto& [where, audits] : audits_) {
      const auto& [s, p] = where;
      replicas_compared += checkers::check_replicas_agree(
          fmt::format("{}-{}", mixes_[s].stream.topic, p), audits, audit_isr_[where], result);
    }
    std::string summary = fmt::format("brokers={}", brokers_);
    int32_t elections = 0;
    for (size_t s = 0; s < mixes_.size(); s++) {
      const StreamMix& mix = mixes_[s];
      checkers::ReplicationEvents& events = events_[s];
      events.power_losses = power_losses_;
      events.registrations = registrations_;
      for (const checkers::PartitionEvents& partition : events.partitions) {
        elections += partition.highest_epoch;
      }
      const checkers::LogHistory& log = history_.streams[s];
      const checkers::ContractReport report =
          checkers::check_log_contracts(log, mix.contract, events, mix.stream.topic, result);
      ledgers_[s].check(mix.stream.topic, result);
      for (const LogClientHistory::OrderViolation& violation : history_.order_violations) {
        if (violation.stream != s) continue;
        checkers::WriteContract committed = mix.contract;
        committed.acks = -1;
        // Offsets may restart only after the log was cut below what the consumer had
        // read: by an event that permits losing committed records.
        if (!checkers::loss_permit(committed, events, violation.partition, runtime::Instant(),
                                   violation.at)) {
          result.fail(Verdict::correctness,
                      fmt::format("{}-{}: the consumer returned offset {} after {} at {}s",
                                  mix.stream.topic, violation.partition, violation.offset,
                                  violation.previous, violation.at));
        }
      }
      if (mix.stream.acks != 0) checkers::check_log_progress(log, history_.healed_at, result);
      const std::string permitted = report.summary();
      summary += fmt::format(" {}: writes={} acked={} final={}{}{}", mix.describe(),
                             log.writes.size(), checkers::acknowledged_writes(log),
                             checkers::final_records(log), permitted.empty() ? "" : " ", permitted);
    }
    summary += fmt::format(" elections={} reassigned={}/{} replicas_compared={}", elections,
                           history_.reassignments_accepted, history_.reassignments_asked,
                           replicas_compared);
    if (auto failover = failover_summary()) summary += " " + *failover;
    result.summary = std::move(summary);
    return result;
  }

 private:
  // A broker's image: the leaderships it holds begin, the ones it lost end.
  void on_broker_reconciled(int32_t broker, const metadata::Image& image) {
    const runtime::Instant now = world_->now();
    for (size_t s = 0; s < mixes_.size(); s++) {
      const metadata::TopicImage* topic = image.topic(mixes_[s].stream.topic);
      if (topic == nullptr) continue;
      for (size_t p = 0; p < topic->partitions.size() && p < events_[s].partitions.size(); p++) {
        const metadata::PartitionState& state = topic->partitions[p];
        checkers::PartitionEvents& events = events_[s].partitions[p];
        events.highest_epoch = std::max(events.highest_epoch, state.leader_epoch.value());
        const bool leads = state.leader == metadata::BrokerId(broker);
        bool open = false;
        for (checkers::Leadership& leadership : events.leaderships) {
          if (leadership.broker != broker || leadership.ended) continue;
          if (leads && leadership.leader_epoch == state.leader_epoch.value()) {
            open = true;
          } else {
            leadership.ended = now;
          }
        }
        if (leads && !open) {
          events.leaderships.push_back({broker, state.leader_epoch.value(), now, std::nullopt});
        }
      }
    }
  }

  // Every batch a leader appended, into its stream's epoch ledger.
  void on_leader_append(int32_t broker, const std::string& topic, int32_t partition,
                        std::span<const uint8_t> batches) {
    size_t s = 0;
    while (s < mixes_.size() && mixes_[s].stream.topic != topic) s++;
    if (s == mixes_.size()) return;
    auto split = record::split_batches(batches);
    if (!split) return;  // the append validated them
    for (const record::BatchView& batch : *split) {
      const record::BatchHeader& header = batch.header;
      ledgers_[s].record(partition, broker, header.partition_leader_epoch.value(),
                         header.base_offset.value(), header.last_offset().value(), header.crc);
    }
  }

  // A controller's applied image: unclean elections, and the latest state of each topic.
  void on_controller_applied(record::Offset applied_end, const metadata::Image& image) {
    const runtime::Instant now = world_->now();
    const bool latest = applied_end > latest_applied_;
    std::vector<std::shared_ptr<const metadata::TopicImage>> previous;
    if (latest) {
      latest_applied_ = applied_end;
      previous = std::exchange(latest_, std::vector<std::shared_ptr<const metadata::TopicImage>>(
                                            mixes_.size(), nullptr));
    }
    // Registrations: a broker's epoch changes each time it registers.
    for (const auto& [broker, registration] : image.brokers()) {
      auto [known, first] = broker_epochs_.try_emplace(broker.value(), registration.epoch.value());
      if (!first && known->second < registration.epoch.value()) {
        known->second = registration.epoch.value();
        registrations_[broker.value()].push_back(now);
      }
    }
    for (size_t s = 0; s < mixes_.size(); s++) {
      auto id = image.topic_names().find(mixes_[s].stream.topic);
      if (id == image.topic_names().end()) continue;
      const auto& topic = image.topics().at(id->second);
      if (latest) latest_[s] = topic;
      for (size_t p = 0; p < topic->partitions.size() && p < events_[s].partitions.size(); p++) {
        const metadata::PartitionState& state = topic->partitions[p];
        checkers::PartitionEvents& events = events_[s].partitions[p];
        events.highest_epoch = std::max(events.highest_epoch, state.leader_epoch.value());
        if (state.leader_recovery_state == 1) {
          events.unclean_elections.try_emplace(state.leader_epoch.value(), now);
        }
        if (state.has_leader()) events.elected_at.try_emplace(state.leader_epoch.value(), now);
        // The nemesis: a committed ISR change is where replication bugs hide (a
        // follower just taken in may lack what the last leader committed; a shrink
        // just counted may have left the only other copy out), and so is a new leader
        // soon after it took over, once it may have appended alone (fast successive
        // failovers leave replicas with epochs others never saw). Strike the leader.
        const metadata::PartitionState* before =
            latest && s < previous.size() && previous[s] != nullptr &&
                    p < previous[s]->partitions.size()
                ? &previous[s]->partitions[p]
                : nullptr;
        if (before != nullptr && before->leader_epoch != state.leader_epoch && state.has_leader() &&
            before->isr.empty() && before->elr.empty() && before->last_known_elr.size() == 1 &&
            before->last_known_elr[0] == state.leader) {
          events.last_known_leader_elections.insert(state.leader_epoch.value());
        }
        if (before != nullptr && before->leader_epoch == state.leader_epoch) {
          for (metadata::BrokerId broker : state.isr) {
            if (!before->in_isr(broker)) events.isr_expansions[broker.value()].push_back(now);
          }
        }
        if (before != nullptr && state.has_leader()) {
          if (before->isr != state.isr && world_->random().chance(0.25)) {
            strike(state.leader.value(), "isr_change", runtime::milliseconds(100));
          }
          if (before->leader_epoch != state.leader_epoch && world_->random().chance(0.25)) {
            strike(state.leader.value(), "new_leader", runtime::milliseconds(500));
          }
          // KIP-966's case: the ISR is below min.insync.replicas and replicas that left
          // it keep a claim. Kill the last ones in sync, so one of the claimants leads.
          if (!state.elr.empty() && before->elr != state.elr && world_->random().chance(0.5)) {
            strike(state.leader.value(), "elr", runtime::milliseconds(100));
          }
        }
      }
    }
  }

  // Crashes (power loss) or kills the broker soon, and restarts it a little later —
  // only in the faulty phase of a seed whose profile has process faults.
  // `random`: the world's, or the nemesis' own stream for the strikes added after the
  // flaw figures were measured (a seed they never fire in runs as before).
  void strike(int32_t broker, const char* where, runtime::Duration within) {
    strike(broker, where, within, world_->random());
  }
  void strike(int32_t broker, const char* where, runtime::Duration within,
              runtime::Random& random) {
    if (!world_->profile().process.enabled || world_->healed()) return;
    auto node = node_of_broker_.find(broker);
    if (node == node_of_broker_.end()) return;
    World* world = world_;
    const size_t index = node->second;
    const bool power_loss = random.chance(0.5);
    const runtime::Duration delay(random.between(0, within.count()));
    const runtime::Duration down = runtime::milliseconds(random.between(200, 3000));
    const std::string kind = fmt::format("nemesis.{}", where);
    // From a timer callback, never from the node fiber that reported the change.
    world->scheduler().schedule_at(world->now() + delay, [=] {
      if (world->healed() || !world->is_up(index)) return;
      world->stats().count(kind);
      if (power_loss) {
        world->crash(index);
      } else {
        world->kill(index);
      }
      world->scheduler().schedule_at(world->now() + down, [=] {
        if (!world->is_up(index)) world->restart(index);
      });
    });
  }

  void on_node_down(size_t node, bool power_loss) {
    auto broker = broker_of_node_.find(node);
    if (broker == broker_of_node_.end()) return;
    const runtime::Instant now = world_->now();
    if (power_loss) power_losses_[broker->second].push_back(now);
    for (size_t s = 0; s < events_.size(); s++) {
      for (size_t p = 0; p < events_[s].partitions.size(); p++) {
        for (checkers::Leadership& leadership : events_[s].partitions[p].leaderships) {
          if (leadership.broker != broker->second || leadership.ended) continue;
          leadership.ended = now;
          if (now < history_.healed_at) leader_downs_.push_back({s, p, now});
        }
      }
    }
  }

  // The replica checker's evidence (sim/checkers/replicas.h), taken while the world is
  // paused at quiesce: each live broker's partition logs as its memory bounds them (log
  // start and end, high watermark, leadership) and as its disk holds them (the batches
  // of the segment files, read without a trace event: the run does not change).
  void audit_replicas(World& world) {
    for (const auto& [broker, handle] : broker_processes_) {
      const size_t node = node_of_broker_.at(broker);
      if (!world.is_up(node) || world.incarnation(node) != handle.incarnation) continue;
      broker::Broker* serving = handle.process->node().broker();
      if (serving == nullptr || !serving->ready()) continue;
      const SimDisk& disk = world.disk(node);
      for (const broker::Broker::LogState& state : serving->log_states()) {
        size_t s = 0;
        while (s < mixes_.size() && mixes_[s].stream.topic != state.topic) s++;
        if (s == mixes_.size() || state.recovering) continue;
        checkers::ReplicaAudit audit;
        audit.broker = broker;
        audit.leader = state.leader;
        audit.high_watermark = state.high_watermark.value();
        audit.log_start = state.log_start.value();
        audit.log_end = state.log_start.value();  // raised to what the segments show
        for (const std::string& name : disk.peek_list(state.directory)) {
          if (!name.ends_with(".log")) continue;  // segment names sort by base offset
          auto bytes = disk.peek(state.directory + "/" + name);
          if (!bytes) continue;
          std::span<const uint8_t> rest(*bytes);
          while (!rest.empty()) {
            auto batch = record::validate_batch(rest);
            if (!batch) break;  // a torn or unwritten tail: the log ends before it
            const record::BatchHeader& header = batch->header;
            rest = rest.subspan(batch->bytes.size());
            if (header.base_offset >= state.log_end) break;
            audit.batches.push_back({header.base_offset.value(), header.last_offset().value(),
                                     header.partition_leader_epoch.value(), header.crc});
            audit.log_end = header.last_offset().value() + 1;
          }
        }
        const std::pair<size_t, int32_t> where{s, state.partition};
        audits_[where].push_back(std::move(audit));
      }
    }
    for (size_t s = 0; s < mixes_.size() && s < latest_.size(); s++) {
      if (latest_[s] == nullptr) continue;
      for (size_t p = 0; p < latest_[s]->partitions.size(); p++) {
        std::vector<int32_t>& isr = audit_isr_[{s, static_cast<int32_t>(p)}];
        for (metadata::BrokerId member : latest_[s]->partitions[p].isr)
          isr.push_back(member.value());
      }
    }
  }

  // From each leader's going down (kill or power loss, in the faulty phase) to the next
  // write its partition acknowledged, on the acks=all streams: the failover time.
  std::optional<std::string> failover_summary() const {
    std::vector<double> seconds;
    for (const LeaderDown& down : leader_downs_) {
      if (mixes_[down.stream].stream.acks != -1) continue;
      std::optional<runtime::Instant> first;
      for (const checkers::LogWrite& write : history_.streams[down.stream].writes) {
        if (write.outcome != Outcome::ok ||
            write.partition != static_cast<int32_t>(down.partition) ||
            write.acknowledged <= down.at) {
          continue;
        }
        if (!first || write.acknowledged < *first) first = write.acknowledged;
      }
      if (first) seconds.push_back(static_cast<double>((*first - down.at).count()) / 1e9);
    }
    if (seconds.empty()) return std::nullopt;
    std::ranges::sort(seconds);
    return fmt::format("failover_s[n={} p50={:.2f} max={:.2f}]", seconds.size(),
                       seconds[seconds.size() / 2], seconds.back());
  }

  struct LeaderDown {
    size_t stream = 0;
    size_t partition = 0;
    runtime::Instant at;
  };

  Flaws flaws_;
  runtime::Random nemesis_random_;
  World* world_ = nullptr;
  int brokers_ = 3;
  std::vector<StreamMix> mixes_;
  LogClientHistory history_;
  std::vector<checkers::ReplicationEvents> events_;  // per stream
  absl::btree_map<size_t, int32_t> broker_of_node_;
  absl::btree_map<int32_t, size_t> node_of_broker_;
  absl::btree_map<int32_t, std::vector<runtime::Instant>> power_losses_;
  absl::btree_map<int32_t, int64_t> broker_epochs_;  // the newest epoch of each broker seen
  absl::btree_map<int32_t, std::vector<runtime::Instant>> registrations_;
  std::vector<LeaderDown> leader_downs_;
  std::vector<checkers::EpochLedger> ledgers_ =
      std::vector<checkers::EpochLedger>(kStreams);  // per stream
  // The latest committed state of each stream's topic any controller applied.
  record::Offset latest_applied_{-1};
  std::vector<std::shared_ptr<const metadata::TopicImage>> latest_;
  std::vector<std::string> unsynced_;
  // The current incarnation's process of each broker, for the audit at quiesce.
  struct BrokerProcess {
    NodeProcess* process = nullptr;
    uint64_t incarnation = 0;
  };
  absl::btree_map<int32_t, BrokerProcess> broker_processes_;
  // (stream, partition) → each live replica's audit, and the ISR the controllers showed.
  absl::btree_map<std::pair<size_t, int32_t>, std::vector<checkers::ReplicaAudit>> audits_;
  absl::btree_map<std::pair<size_t, int32_t>, std::vector<int32_t>> audit_isr_;
};

}  // namespace

std::unique_ptr<Workload> make_partition_replication_workload(const RunOptions& options) {
  return std::make_unique<PartitionReplicationWorkload>(options);
}

}  // namespace weir::sim
