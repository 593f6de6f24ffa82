#include "sim/workloads/consumer_groups.h"

#include <algorithm>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <absl/container/btree_map.h>
#include <absl/container/btree_set.h>
#include <fmt/format.h>

#include "client/admin.h"
#include "client/cluster.h"
#include "client/group_consumer.h"
#include "sim/checkers/groups.h"
#include "sim/node_process.h"
#include "sim/workloads/kraft_cluster.h"
#include "sim/workloads/log_client.h"

namespace weir::sim {

namespace {

using kraft::broker_host;
using kraft::controller_host;
using kraft::kBrokerPort;
using kraft::kControllerPort;
using runtime::Instant;
using runtime::milliseconds;
using runtime::seconds;

constexpr int kVoters = 3;
constexpr int kBrokers = 3;
constexpr int kFirstBroker = 11;
constexpr const char* kTopic = "events";
constexpr const char* kGroup = "g";
// After healing, the group must be Stable with every partition assigned within this:
// a crashed member's session (3 s) expires, the rebalance's join phase waits at most
// max.poll.interval (6 s) for the members, and a coordinator may move once.
constexpr runtime::Duration kStableBound = seconds(15);
// group.consumer.session.timeout.ms of the groups-consumer workload.
constexpr runtime::Duration kConsumerSession = seconds(3);

std::vector<std::string> common_config(bool consumer_protocol) {
  std::vector<std::string> lines = kraft::quorum_config(kVoters);
  lines.insert(lines.end(),
               {
                   "replica.lag.time.max.ms=2000",
                   "replica.fetch.wait.max.ms=200",
                   "replica.fetch.backoff.ms=100",
                   "default.replication.factor=3",
                   "min.insync.replicas=2",
                   // The coordinator at the simulator's pace: few offsets partitions (so
                   // coordinator moves are frequent), short sessions and a short first-join delay.
                   "offsets.topic.num.partitions=3",
                   "offsets.topic.replication.factor=3",
                   "group.min.session.timeout.ms=1000",
                   "group.initial.rebalance.delay.ms=300",
               });
  if (consumer_protocol) {
    // KIP-848 at the same pace: a 3 s session, a heartbeat every 500 ms.
    lines.insert(lines.end(), {"group.consumer.session.timeout.ms=3000",
                               "group.consumer.heartbeat.interval.ms=500"});
  }
  return lines;
}

// What the members, the prober and the checks share; outlives every incarnation.
struct GroupsState {
  bool consumer_protocol = false;  // members use KIP-848
  // KIP-848 member id -> member name, as each member learns its id (for the removals
  // the coordinators report).
  absl::btree_map<std::string, std::string> member_names;
  const World* world = nullptr;    // for the recorder's clock (global_now)
  checkers::GroupHistory group;
  bool quiesced = false;
  Instant healed_at = Instant::max();
  size_t commits_refused = 0;  // manual commits the coordinator answered with an error
};

client::ClusterOptions cluster_options(const std::vector<runtime::Address>& bootstrap) {
  client::ClusterOptions options;
  options.bootstrap_servers = bootstrap;
  options.connection.request_timeout = seconds(3);
  return options;
}

// A group member: polls, records what it was assigned and read, and commits after
// processing (or lets auto commit do it).
class MemberProcess final : public Process {
 public:
  MemberProcess(NodeContext& context, GroupsState& state, std::vector<runtime::Address> bootstrap,
                bool auto_commit)
      : env_(context.env), name_(context.host), state_(state), bootstrap_(std::move(bootstrap)),
        auto_commit_(auto_commit) {}

  void run() override {
    if (state_.quiesced) return;  // the runner's final restart: the checks need no member
    client::Cluster cluster(env_, cluster_options(bootstrap_));
    client::GroupConsumerConfig config;
    config.group_id = kGroup;
    config.session_timeout = seconds(3);
    config.heartbeat_interval = milliseconds(500);
    config.max_poll_interval = seconds(6);
    config.enable_auto_commit = auto_commit_;
    const client::GroupConsumer* self = nullptr;  // set once the consumer exists
    if (state_.consumer_protocol) {
      config.protocol = client::GroupProtocol::consumer;
      // Every change of what the member holds, when it happens (inside poll), on the
      // world's clock.
      config.on_assignment = [this, &self](int32_t epoch,
                                           const std::vector<client::TopicPartition>& held,
                                           bool lost) {
        if (self != nullptr && !self->member_id().empty()) {
          state_.member_names[self->member_id()] = name_;
        }
        std::vector<int32_t> partitions;
        for (const client::TopicPartition& tp : held) {
          if (tp.topic == kTopic) partitions.push_back(tp.partition);
        }
        state_.group.assignments.push_back(
            {name_, epoch, std::move(partitions), global_now(), lost});
      };
      config.on_poll_timeout_leave = [this] {
        state_.group.removals.push_back({name_, global_now()});
      };
    }
    config.auto_commit_interval = seconds(1);
    config.consumer.auto_offset_reset = client::OffsetReset::earliest;
    config.consumer.fetch_max_wait = milliseconds(200);
    config.consumer.max_poll_records = 200;
    client::GroupConsumer consumer(cluster, config);
    self = &consumer;
    consumer.subscribe({kTopic});
    while (!state_.quiesced) {
      // KIP-848: the records a poll returns belong to the assignment it applied first,
      // whose epoch is the one before the call (the heartbeat fiber may move the
      // epoch, or drop it to 0 on a fencing, while poll waits for records).
      const int32_t before = consumer.generation();
      auto records = consumer.poll(milliseconds(200));
      const Instant now = env_.clock.now();
      const int32_t generation = consumer.generation();
      if (state_.consumer_protocol) {
        if (!consumer.member_id().empty()) state_.member_names[consumer.member_id()] = name_;
        if (auto heard = consumer.last_heartbeat_ok(); heard && heard != last_heard_) {
          last_heard_ = heard;
          // On the world's clock, as the other members' holds are (the node's may be
          // skewed).
          state_.group.contacts.push_back({name_, global_now() - (now - *heard)});
        }
      }
      if (!records) {
        env_.scheduler.sleep_for(milliseconds(100));
        continue;
      }
      if (!state_.consumer_protocol) note_assignment(consumer, generation, now);
      const int32_t read_generation = state_.consumer_protocol ? before : generation;
      // Poll applies any new assignment before it fetches: the records are the latest's.
      const uint64_t assignment = consumer.assignments_applied();
      for (const client::ConsumerRecord& record : *records) {
        state_.group.reads.push_back({name_, read_generation, record.partition.partition,
                                      record.offset.value(), decode_log_value(record.value), now,
                                      assignment});
      }
      if (!auto_commit_ && !records->empty()) commit(consumer, generation);
    }
    (void)consumer.close();
    // Closed (left the group): it holds nothing from here on.
    const Instant closed_at = state_.consumer_protocol ? global_now() : env_.clock.now();
    state_.group.assignments.push_back({name_, consumer.generation(), {}, closed_at});
  }

  // The world's time, not this node's (skewed) clock: KIP-848's exclusive ownership is
  // judged across members in one time. Only recorded, never acted on.
  Instant global_now() const { return state_.world->now(); }

 private:
  void note_assignment(const client::GroupConsumer& consumer, int32_t generation, Instant now) {
    std::vector<int32_t> partitions;
    for (const client::TopicPartition& tp : consumer.assignment()) {
      if (tp.topic == kTopic) partitions.push_back(tp.partition);
    }
    std::ranges::sort(partitions);
    // KIP-848: a loss (the coordinator had dropped us) is recorded as such.
    const bool lost = consumer.losses() != last_losses_;
    last_losses_ = consumer.losses();
    if (generation < 0 ||
        (!lost && generation == last_generation_ && partitions == last_partitions_)) {
      return;
    }
    last_generation_ = generation;
    last_partitions_ = partitions;
    state_.group.assignments.push_back({name_, generation, std::move(partitions), now, lost});
  }

  // Commits the positions of what poll returned (all of it is recorded: processed).
  void commit(client::GroupConsumer& consumer, int32_t generation) {
    absl::btree_map<client::TopicPartition, record::Offset> offsets;
    for (const client::TopicPartition& tp : consumer.assignment()) {
      if (auto position = consumer.position(tp)) offsets[tp] = *position;
    }
    if (offsets.empty()) return;
    const size_t first = state_.group.commits.size();
    for (const auto& [tp, offset] : offsets) {
      state_.group.commits.push_back({name_, generation, tp.partition, offset.value(),
                                      env_.clock.now(), Outcome::pending, Instant()});
    }
    auto committed = consumer.commit_wait(offsets);
    const Instant now = env_.clock.now();
    if (!committed) state_.commits_refused++;
    for (size_t i = first; i < first + offsets.size(); i++) {
      // An error may still have been applied (a timeout): only ok is known.
      state_.group.commits[i].outcome = committed ? Outcome::ok : Outcome::unknown;
      state_.group.commits[i].completed = now;
    }
  }

  runtime::Env& env_;
  std::string name_;
  GroupsState& state_;
  std::vector<runtime::Address> bootstrap_;
  bool auto_commit_;
  int32_t last_generation_ = -1;
  std::vector<int32_t> last_partitions_;
  uint64_t last_losses_ = 0;
  std::optional<Instant> last_heard_;
};

// Reads the group's committed offsets every 300 ms and, after healing, its state; after
// the runner's final restart, the final committed offsets.
class ProberProcess final : public Process {
 public:
  ProberProcess(NodeContext& context, GroupsState& state, std::vector<runtime::Address> bootstrap)
      : env_(context.env), state_(state), bootstrap_(std::move(bootstrap)) {}

  void run() override {
    client::Cluster cluster(env_, cluster_options(bootstrap_));
    client::Admin admin(cluster);
    if (state_.quiesced) {
      while (!state_.group.final_committed) {
        if (auto offsets = admin.list_group_offsets_wait(kGroup)) {
          state_.group.final_committed = to_vector(*offsets);
        } else {
          env_.scheduler.sleep_for(milliseconds(200));
        }
      }
      return;
    }
    while (!state_.quiesced) {
      env_.scheduler.sleep_for(milliseconds(300));
      const Instant invoked = env_.clock.now();
      if (auto offsets = admin.list_group_offsets_wait(kGroup)) {
        const std::vector<int64_t> committed = to_vector(*offsets);
        for (size_t p = 0; p < committed.size(); p++) {
          state_.group.probes.push_back(
              {static_cast<int32_t>(p), committed[p], invoked, env_.clock.now()});
        }
      }
      if (invoked >= state_.healed_at && !state_.group.stable_at) check_stable(admin);
    }
  }

 private:
  std::vector<int64_t> to_vector(
      const absl::btree_map<client::TopicPartition, record::Offset>& offsets) const {
    std::vector<int64_t> out(static_cast<size_t>(state_.group.partitions), -1);
    for (const auto& [tp, offset] : offsets) {
      if (tp.topic == kTopic && tp.partition >= 0 && tp.partition < state_.group.partitions) {
        out[static_cast<size_t>(tp.partition)] = offset.value();
      }
    }
    return out;
  }

  void check_stable(client::Admin& admin) {
    auto description = admin.describe_group_wait(kGroup);
    if (!description || description->state != "Stable") return;
    absl::btree_set<int32_t> assigned;
    for (const client::GroupMemberDescription& member : description->members) {
      for (const client::TopicPartition& tp : member.assignment) {
        if (tp.topic == kTopic) assigned.insert(tp.partition);
      }
    }
    if (static_cast<int32_t>(assigned.size()) == state_.group.partitions) {
      state_.group.stable_at = env_.clock.now();
    }
  }

  runtime::Env& env_;
  GroupsState& state_;
  std::vector<runtime::Address> bootstrap_;
};

class ConsumerGroupsWorkload final : public Workload {
 public:
  ConsumerGroupsWorkload(const RunOptions& options, bool consumer_protocol)
      : flaws_(options.flaws) {
    state_.consumer_protocol = consumer_protocol;
  }

  void setup(World& world) override {
    runtime::Random& random = world.random();
    const auto partitions = static_cast<int32_t>(random.between(2, 8));
    members_ = static_cast<int>(random.between(3, 5));
    for (int m = 0; m < members_; m++) auto_commit_.push_back(random.chance(0.3));
    state_.group.group = kGroup;
    state_.group.partitions = partitions;
    state_.world = &world;

    for (int id = 1; id <= kVoters; id++) {
      world.add_node(controller_host(id), [this, id](NodeContext& context) {
        std::vector<std::string> lines = common_config(state_.consumer_protocol);
        lines.push_back("process.roles=controller");
        lines.push_back(fmt::format("node.id={}", id));
        lines.push_back(
            fmt::format("listeners=CONTROLLER://{}:{}", controller_host(id), kControllerPort));
        return std::make_unique<NodeProcess>(context, node_config(lines), server::NodeHooks{});
      });
    }
    std::vector<runtime::Address> bootstrap;
    for (int id = kFirstBroker; id < kFirstBroker + kBrokers; id++) {
      bootstrap.push_back(runtime::Address{broker_host(id), kBrokerPort});
      world.add_node(broker_host(id), [this, id](NodeContext& context) {
        std::vector<std::string> lines = common_config(state_.consumer_protocol);
        lines.push_back("process.roles=broker");
        lines.push_back(fmt::format("node.id={}", id));
        lines.push_back(fmt::format("listeners=PLAINTEXT://{}:{}", broker_host(id), kBrokerPort));
        server::NodeHooks hooks;
        hooks.broker.group_flaws = group_flaws();
        hooks.broker.on_consumer_member_removed = [this](const std::string&,
                                                         const std::string& member_id) {
          auto it = state_.member_names.find(member_id);
          if (it != state_.member_names.end() && state_.world != nullptr) {
            state_.group.removals.push_back({it->second, state_.world->now()});
          }
        };
        return std::make_unique<NodeProcess>(context, node_config(lines), std::move(hooks));
      });
    }
    LogStream stream;
    stream.topic = kTopic;
    stream.partitions = partitions;
    stream.replication_factor = 3;
    stream.configs = {{"min.insync.replicas", "2"}};
    world.add_node(
        "producer",
        [this, bootstrap, stream](NodeContext& context) {
          return make_log_client(context, producer_, LogClientOptions{bootstrap, {stream}, {}});
        },
        NodeOptions{.faulty = false});
    for (int m = 0; m < members_; m++) {
      const bool auto_commit = auto_commit_[static_cast<size_t>(m)];
      member_nodes_[world.node_count()] = fmt::format("m{}", m + 1);
      world.add_node(
          fmt::format("m{}", m + 1), [this, bootstrap, auto_commit](NodeContext& context) {
            return std::make_unique<MemberProcess>(context, state_, bootstrap, auto_commit);
          });
    }
    world.add_node(
        "prober",
        [this, bootstrap](NodeContext& context) {
          return std::make_unique<ProberProcess>(context, state_, bootstrap);
        },
        NodeOptions{.faulty = false});
    // A member that goes down holds nothing (the exclusive-ownership check ends its
    // holds there). Only records: the run is unchanged.
    world.on_down = [this, &world](size_t node, bool) {
      if (auto it = member_nodes_.find(node); it != member_nodes_.end()) {
        state_.group.downs.push_back({it->second, world.now()});
      }
    };
  }

  void on_heal(World& world) override {
    state_.healed_at = world.now();
    producer_.healed_at = world.now();
  }

  void quiesce(World&) override {
    state_.quiesced = true;
    producer_.quiesced = true;
  }

  CheckResult check(World&) override {
    CheckResult result;
    const std::string produced = check_log_client(producer_, result);
    checkers::GroupHistory& group = state_.group;
    if (!group.final_committed) {
      result.fail(Verdict::liveness, "the final OffsetFetch did not finish after the last restart");
    }
    if (state_.consumer_protocol) {
      // Epochs start afresh at each coordinator (the group's state is not persisted
      // yet), so ownership is judged in time rather than per epoch.
      checkers::check_group_exclusive(group, kConsumerSession, result);
    } else {
      checkers::check_group_ownership(group, result);
    }
    checkers::check_group_commits(group, result);
    if (const auto& final_log =
            producer_.streams.empty() ? std::nullopt : producer_.streams[0].final_log) {
      checkers::check_group_reads(group, *final_log, result);
    }
    checkers::check_group_liveness(group, state_.healed_at, kStableBound, result);

    absl::btree_set<int32_t> generations;
    for (const checkers::GroupAssignment& assignment : group.assignments) {
      generations.insert(assignment.generation);
    }
    size_t commits_ok = 0;
    for (const checkers::GroupCommit& commit : group.commits) {
      commits_ok += commit.outcome == Outcome::ok ? 1 : 0;
    }
    int auto_committers = 0;
    for (bool auto_commit : auto_commit_) auto_committers += auto_commit ? 1 : 0;
    result.summary = fmt::format(
        "partitions={} members={} (auto commit {}) generations={} assignments={} reads={} "
        "commits_ok={} commits_refused={} probes={} stable_after_heal_s={} {}",
        group.partitions, members_, auto_committers, generations.size(), group.assignments.size(),
        group.reads.size(), commits_ok, state_.commits_refused, group.probes.size(),
        group.stable_at ? fmt::format("{}", Instant() + (*group.stable_at - state_.healed_at))
                        : std::string("never"),
        produced);
    return result;
  }

 private:
  broker::GroupFlaws group_flaws() const {
    broker::GroupFlaws out;
    out.same_generation = flaws_.group_same_generation;
    out.commit_any_generation = flaws_.group_commit_any_generation;
    out.commit_before_durable = flaws_.group_commit_before_durable;
    out.load_to_high_watermark = flaws_.group_load_to_high_watermark;
    out.assign_before_revoke = flaws_.group_assign_before_revoke;
    out.forget_consumer_groups = flaws_.group_forget_consumer_state;
    return out;
  }

  Flaws flaws_;
  absl::btree_map<size_t, std::string> member_nodes_;  // node index -> member name
  int members_ = 3;
  std::vector<bool> auto_commit_;
  GroupsState state_;
  LogClientHistory producer_;
};

}  // namespace

std::unique_ptr<Workload> make_consumer_groups_workload(const RunOptions& options,
                                                        bool consumer_protocol) {
  return std::make_unique<ConsumerGroupsWorkload>(options, consumer_protocol);
}

}  // namespace weir::sim
