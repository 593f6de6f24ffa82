#include "sim/workloads/metadata_cluster.h"

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <absl/container/btree_map.h>
#include <absl/container/btree_set.h>
#include <fmt/format.h>
#include <fmt/ranges.h>

#include "client/connection.h"
#include "sim/node_process.h"
#include "sim/workloads/raft_quorum.h"

namespace weir::sim {

using protocol::error_value;
using protocol::ErrorCode;
using raft::Epoch;
using raft::ReplicaId;
using runtime::Instant;
using runtime::milliseconds;
using runtime::seconds;

namespace {

constexpr uint16_t kControllerPort = 9093;
constexpr uint16_t kBrokerPort = 9092;
constexpr const char* kAdminHost = "admin";
// Broker node ids, after the voters' (1..5).
constexpr int kFirstBroker = 11;
constexpr int kBrokers = 3;
constexpr const char* kConfigKey = "retention.ms";

std::string controller_host(int id) { return fmt::format("c{}", id); }
std::string broker_host(int id) { return fmt::format("b{}", id); }

enum class Outcome { pending, ok, failed, unknown };
enum class OpKind { create, remove, configure };

struct Op {
  OpKind kind = OpKind::create;
  std::string topic;
  std::string value;  // configure: the retention.ms asked for
  int broker = 0;
  Instant invoked;
  Instant completed = Instant::max();
  Outcome outcome = Outcome::pending;
  protocol::Uuid topic_id;  // create, when acknowledged
  int16_t error = 0;
};

// A Metadata request (every topic) an admin sent to one broker, and what it listed.
struct Probe {
  int broker = 0;
  Instant sent;
  absl::btree_map<std::string, protocol::Uuid> topics;
};

struct History {
  int voters = 3;
  raft::RaftFlaws raft_flaws;
  bool answer_before_commit = false;
  bool snapshot_without_configs = false;
  // Snapshots every this many applied bytes (0: Kafka's default, never reached here)
  // and the metadata log's segment size, so that snapshots drop segments.
  int64_t snapshot_bytes = 0;
  runtime::Duration snapshot_interval{0};
  int64_t segment_bytes = 0;
  int64_t snapshots_taken = 0;
  int64_t snapshots_installed = 0;
  absl::btree_map<Epoch, absl::btree_set<int>> leaders;
  // The image digest after applying everything below an offset, as the first node
  // to get there saw it.
  absl::btree_map<int64_t, uint64_t> digests;
  std::vector<Op> ops;
  std::vector<Probe> probes;
  uint64_t next_topic = 1;
  // Topics some admin saw created (candidates for deletion and config changes).
  std::vector<std::string> known_topics;
  bool quiesced = false;
  Instant healed_at = Instant::max();
  // After the final restart: each node's latest image and whether a controller led.
  absl::btree_map<int, std::pair<int64_t, metadata::Image>> final_images;
  // After the final restart: each broker's last reconciliation, the image and the
  // partition directories its disk then listed.
  absl::btree_map<int, std::pair<metadata::Image, std::vector<std::string>>> final_disks;
  bool final_leader = false;
  std::vector<std::string> violations;

  void violation(std::string text) {
    if (violations.size() < 20) violations.push_back(std::move(text));
  }
};

// The config every node of the cluster shares, as server.properties lines.
std::vector<std::string> common_config(const History& history) {
  std::string voters;
  for (int voter = 1; voter <= history.voters; voter++) {
    voters += fmt::format("{}{}@{}:{}", voter == 1 ? "" : ",", voter, controller_host(voter),
                          kControllerPort);
  }
  std::vector<std::string> lines = {
      fmt::format("controller.quorum.voters={}", voters),
      "controller.listener.names=CONTROLLER",
      "controller.quorum.election.timeout.ms=500",
      "controller.quorum.fetch.timeout.ms=1000",
      "broker.session.timeout.ms=3000",
      "broker.heartbeat.interval.ms=500",
  };
  if (history.snapshot_bytes > 0) {
    lines.push_back(
        fmt::format("metadata.log.max.record.bytes.between.snapshots={}", history.snapshot_bytes));
    lines.push_back(fmt::format("metadata.log.segment.bytes={}", history.segment_bytes));
  }
  lines.push_back(fmt::format(
      "metadata.log.max.snapshot.interval.ms={}",
      std::chrono::duration_cast<std::chrono::milliseconds>(history.snapshot_interval).count()));
  return lines;
}

// The hooks every node gets: election safety, state-machine safety, snapshot counts,
// and on brokers the partitions on disk after each reconciliation.
server::NodeHooks node_hooks(History& history, int id) {
  const bool final = history.quiesced;
  server::NodeHooks hooks;
  hooks.raft_flaws = history.raft_flaws;
  hooks.flaw_answer_before_commit = history.answer_before_commit;
  hooks.flaw_snapshot_without_configs = history.snapshot_without_configs;
  hooks.on_leader = [&history, id, final](Epoch epoch) {
    history.leaders[epoch].insert(id);
    if (history.leaders[epoch].size() > 1) {
      history.violation(fmt::format("election safety: epoch {} has leaders {}", epoch,
                                    fmt::join(history.leaders[epoch], ", ")));
    }
    if (final) history.final_leader = true;
  };
  hooks.on_snapshot = [&history](raft::SnapshotId, bool installed) {
    (installed ? history.snapshots_installed : history.snapshots_taken)++;
  };
  hooks.on_applied = [&history, id, final](record::Offset end, const metadata::Image& image) {
    const uint64_t digest = image.digest();
    auto [it, fresh] = history.digests.emplace(end.value(), digest);
    if (!fresh && it->second != digest) {
      history.violation(fmt::format(
          "state machine safety: node {}'s image at metadata offset {} has digest {:016x}, "
          "another node's {:016x}",
          id, end.value(), digest, it->second));
    }
    if (final) history.final_images[id] = {end.value(), image};
  };
  if (final) {
    hooks.broker.on_reconciled = [&history, id](const metadata::Image& image,
                                                const std::vector<std::string>& directories) {
      history.final_disks[id] = {image, directories};
    };
  }
  return hooks;
}

std::unique_ptr<Process> controller_process(NodeContext& context, History& history, int id) {
  std::vector<std::string> lines = common_config(history);
  lines.push_back("process.roles=controller");
  lines.push_back(fmt::format("node.id={}", id));
  lines.push_back(
      fmt::format("listeners=CONTROLLER://{}:{}", controller_host(id), kControllerPort));
  return std::make_unique<NodeProcess>(context, node_config(lines), node_hooks(history, id));
}

std::unique_ptr<Process> broker_process(NodeContext& context, History& history, int id) {
  std::vector<std::string> lines = common_config(history);
  lines.push_back("process.roles=broker");
  lines.push_back(fmt::format("node.id={}", id));
  lines.push_back(fmt::format("listeners=PLAINTEXT://{}:{}", broker_host(id), kBrokerPort));
  return std::make_unique<NodeProcess>(context, node_config(lines), node_hooks(history, id));
}

// Admin clients (weir's client over the simulated network), one loop per broker: each
// sends admin requests to its broker, which forwards them to the active controller, and
// after each asks that broker for Metadata.
class AdminProcess final : public Process {
 public:
  AdminProcess(NodeContext& context, History& history) : env_(context.env), history_(history) {}

  void run() override {
    if (history_.quiesced) return;
    for (int id = kFirstBroker; id < kFirstBroker + kBrokers; id++) {
      env_.scheduler.spawn(fmt::format("admin-{}", id), [this, id] { admin_loop(id); });
    }
  }

 private:
  // Suspends. A connection to broker `id`, kept while it works.
  client::Connection* connection(int id) {
    // No reference into the map across the suspension below: another admin loop may
    // insert meanwhile.
    if (auto it = connections_.find(id); it != connections_.end() && it->second->is_open()) {
      return it->second.get();
    }
    client::ConnectionOptions options;
    options.client_id = fmt::format("admin-{}", id);
    options.connect_timeout = seconds(2);
    // A forwarded request may wait out an election and the broker's catch-up.
    options.request_timeout = seconds(40);
    auto connected =
        client::Connection::connect(env_, runtime::Address{broker_host(id), kBrokerPort}, options);
    if (!connected) {
      connections_.erase(id);
      return nullptr;
    }
    auto& held = connections_[id];
    held = std::move(*connected);
    return held.get();
  }

  // Asks broker `id` for every topic; records what it lists.
  void probe(int id) {
    client::Connection* broker = connection(id);
    if (broker == nullptr) return;
    Probe probe;
    probe.broker = id;
    probe.sent = env_.clock.now();
    protocol::MetadataRequest request;
    request.topics = std::nullopt;
    auto answer = broker->send_and_wait(std::move(request));
    if (!answer) return;
    const auto* metadata = std::get_if<protocol::MetadataResponse>(answer->get());
    if (metadata == nullptr) return;
    for (const auto& topic : metadata->topics) {
      if (topic.error_code == 0 && topic.name) probe.topics[*topic.name] = topic.topic_id;
    }
    history_.probes.push_back(std::move(probe));
  }

  // One request at a time to broker `id`, each followed by a Metadata probe.
  void admin_loop(int id) {
    while (!history_.quiesced) {
      env_.scheduler.sleep_for(milliseconds(env_.random.between(50, 400)));
      if (history_.quiesced) break;
      const size_t index = history_.ops.size();
      Op& op = history_.ops.emplace_back();
      op.broker = id;
      op.invoked = env_.clock.now();
      const int64_t roll = env_.random.between(0, 99);
      protocol::RequestBody request;
      if (roll < 60 || history_.known_topics.empty()) {
        op.kind = OpKind::create;
        op.topic = fmt::format("t{}", history_.next_topic++);
        protocol::CreateTopicsRequest create;
        protocol::CreateTopicsRequest::CreatableTopic topic;
        topic.name = op.topic;
        topic.num_partitions = static_cast<int32_t>(env_.random.between(1, 4));
        topic.replication_factor = static_cast<int16_t>(env_.random.between(1, kBrokers));
        create.topics.push_back(std::move(topic));
        create.timeout_ms = 5000;
        request = std::move(create);
      } else {
        const auto pick = static_cast<size_t>(
            env_.random.between(0, static_cast<int64_t>(history_.known_topics.size()) - 1));
        op.topic = history_.known_topics[pick];
        if (roll < 80) {
          op.kind = OpKind::remove;
          protocol::DeleteTopicsRequest remove;
          protocol::DeleteTopicsRequest::DeleteTopicState topic;
          topic.name = op.topic;
          remove.topics.push_back(std::move(topic));
          remove.timeout_ms = 5000;
          request = std::move(remove);
        } else {
          op.kind = OpKind::configure;
          op.value = fmt::format("{}", 60000 + index);
          protocol::IncrementalAlterConfigsRequest alter;
          protocol::IncrementalAlterConfigsRequest::AlterConfigsResource resource;
          resource.resource_type = 2;  // TOPIC
          resource.resource_name = op.topic;
          protocol::IncrementalAlterConfigsRequest::AlterableConfig config;
          config.name = kConfigKey;
          config.config_operation = 0;  // SET
          config.value = op.value;
          resource.configs.push_back(std::move(config));
          alter.resources.push_back(std::move(resource));
          request = std::move(alter);
        }
      }
      // One attempt from the client; the broker forwarding it retries a controller's
      // NOT_CONTROLLER, so a refusal may follow an attempt that took effect (below).
      client::Connection* broker = connection(id);
      auto answer = broker != nullptr ? broker->send_and_wait(std::move(request))
                                      : client::ResponseResult(unexpected(client::Error{}));
      Op& done = history_.ops[index];
      done.outcome = Outcome::unknown;
      if (!answer) continue;
      done.completed = env_.clock.now();
      int16_t code = -1;
      if (const auto* r = std::get_if<protocol::CreateTopicsResponse>(answer->get())) {
        if (r->topics.size() == 1) {
          code = r->topics[0].error_code;
          done.topic_id = r->topics[0].topic_id;
        }
      } else if (const auto* d = std::get_if<protocol::DeleteTopicsResponse>(answer->get())) {
        if (d->responses.size() == 1) code = d->responses[0].error_code;
      } else if (const auto* c =
                     std::get_if<protocol::IncrementalAlterConfigsResponse>(answer->get())) {
        if (c->responses.size() == 1) code = c->responses[0].error_code;
      }
      done.error = code;
      if (code == 0) {
        done.outcome = Outcome::ok;
        if (done.kind == OpKind::create) history_.known_topics.push_back(done.topic);
      } else if (code > 0 && code != error_value(ErrorCode::not_controller) &&
                 code != error_value(ErrorCode::request_timed_out) &&
                 !(done.kind == OpKind::create &&
                   code == error_value(ErrorCode::topic_already_exists))) {
        // TOPIC_ALREADY_EXISTS for a name only this op uses: an earlier attempt of
        // the broker's retry created it. Unknown, as the other ambiguous answers.
        done.outcome = Outcome::failed;
      }
      probe(id);
    }
  }

  runtime::Env& env_;
  History& history_;
  absl::btree_map<int, std::unique_ptr<client::Connection>> connections_;
};

class MetadataClusterWorkload final : public Workload {
 public:
  explicit MetadataClusterWorkload(const RunOptions& options) {
    history_.voters = options.seed % 2 == 1 ? 3 : 5;
    // Half the seeds (of each quorum size) snapshot every 1-8 KiB, so followers and
    // brokers that fall behind the leader's log start are sent snapshots; half of
    // those also every second (metadata.log.max.snapshot.interval.ms).
    if ((options.seed / 2) % 2 == 0) {
      history_.snapshot_bytes = int64_t{1024} << ((options.seed / 4) % 4);
      history_.segment_bytes = 4 * history_.snapshot_bytes;
      if ((options.seed / 16) % 2 == 1) history_.snapshot_interval = runtime::seconds(1);
    }
    history_.raft_flaws = raft_flaws_of(options.flaws);
    history_.answer_before_commit = options.flaws.answer_before_commit;
    history_.snapshot_without_configs = options.flaws.snapshot_without_configs;
  }

  void setup(World& world) override {
    for (int id = 1; id <= history_.voters; id++) {
      world.add_node(controller_host(id), [this, id](NodeContext& context) {
        return controller_process(context, history_, id);
      });
    }
    for (int id = kFirstBroker; id < kFirstBroker + kBrokers; id++) {
      world.add_node(broker_host(id), [this, id](NodeContext& context) {
        return broker_process(context, history_, id);
      });
    }
    world.add_node(
        kAdminHost,
        [this](NodeContext& context) { return std::make_unique<AdminProcess>(context, history_); },
        NodeOptions{.faulty = false});
  }
  void on_heal(World& world) override { history_.healed_at = world.now(); }
  void quiesce(World&) override { history_.quiesced = true; }

  CheckResult check(World&) override {
    CheckResult result;
    for (const std::string& violation : history_.violations) {
      result.fail(Verdict::correctness, violation);
    }
    // The most advanced controller's image after the final restart.
    const metadata::Image* final = nullptr;
    int64_t final_end = -1;
    for (const auto& [node, entry] : history_.final_images) {
      if (node <= history_.voters && entry.first > final_end) {
        final_end = entry.first;
        final = &entry.second;
      }
    }
    if (final == nullptr) {
      result.fail(Verdict::liveness, "no controller replayed the metadata log after the restart");
      return result;
    }
    check_operations(*final, result);
    if (!history_.final_leader) {
      result.fail(Verdict::liveness, "no controller led after the final restart");
    }
    for (int id = kFirstBroker; id < kFirstBroker + kBrokers; id++) {
      const metadata::BrokerRegistration* broker = final->broker(metadata::BrokerId(id));
      if (broker == nullptr || broker->fenced) {
        result.fail(Verdict::liveness,
                    fmt::format("broker {} is {} after the final restart", id,
                                broker == nullptr ? "not registered" : "fenced"));
      }
    }
    check_read_your_writes(result);
    check_disks(result);
    size_t acknowledged = 0;
    bool progress_after_heal = false;
    for (const Op& op : history_.ops) {
      if (op.outcome != Outcome::ok) continue;
      acknowledged++;
      if (op.invoked >= history_.healed_at) progress_after_heal = true;
    }
    if (!progress_after_heal) {
      result.fail(Verdict::liveness, "no admin operation was acknowledged after healing");
    }
    result.summary = fmt::format(
        "voters={} epochs={} admin_ops={} acked={} topics={} partitions={} offset={} "
        "snapshots={}/{}",
        history_.voters, history_.leaders.size(), history_.ops.size(), acknowledged,
        final->topic_count(), final->partition_count(), final_end, history_.snapshots_taken,
        history_.snapshots_installed);
    return result;
  }

 private:
  // A broker that acknowledged a creation or deletion shows it in every Metadata answer
  // it gives afterwards (it answers once its own image has the change), as long as
  // no other operation touched the topic.
  void check_read_your_writes(CheckResult& result) {
    absl::btree_map<std::string, int> deletions_tried;
    for (const Op& op : history_.ops) {
      if (op.kind == OpKind::remove) deletions_tried[op.topic]++;
    }
    for (const Op& op : history_.ops) {
      if (op.outcome != Outcome::ok || op.kind == OpKind::configure) continue;
      for (const Probe& probe : history_.probes) {
        if (probe.broker != op.broker || probe.sent < op.completed) continue;
        auto listed = probe.topics.find(op.topic);
        if (op.kind == OpKind::create && !deletions_tried.contains(op.topic) &&
            (listed == probe.topics.end() || listed->second != op.topic_id)) {
          result.fail(Verdict::correctness,
                      fmt::format("read-your-writes: broker {} acknowledged the creation of {} "
                                  "at {}, then answered Metadata at {} without it",
                                  op.broker, op.topic, op.completed, probe.sent));
          return;
        }
        if (op.kind == OpKind::remove && listed != probe.topics.end()) {
          result.fail(Verdict::correctness,
                      fmt::format("read-your-writes: broker {} acknowledged the deletion of {} "
                                  "at {}, then listed it in Metadata at {}",
                                  op.broker, op.topic, op.completed, probe.sent));
          return;
        }
      }
    }
  }

  // After the final restart each broker's disk holds exactly the partitions its image
  // places on it: deleted topics' directories are gone, placed ones exist.
  void check_disks(CheckResult& result) {
    for (int id = kFirstBroker; id < kFirstBroker + kBrokers; id++) {
      auto it = history_.final_disks.find(id);
      if (it == history_.final_disks.end()) {
        result.fail(Verdict::liveness,
                    fmt::format("broker {} never reconciled its partitions after the final "
                                "restart",
                                id));
        continue;
      }
      const auto& [image, directories] = it->second;
      absl::btree_set<std::string> placed;
      for (const auto& [name, topic_id] : image.topic_names()) {
        const metadata::TopicImage& topic = *image.topic(topic_id);
        for (size_t index = 0; index < topic.partitions.size(); index++) {
          if (topic.partitions[index].is_replica(metadata::BrokerId(id))) {
            placed.insert(fmt::format("{}-{}", name, index));
          }
        }
      }
      const absl::btree_set<std::string> present(directories.begin(), directories.end());
      if (placed != present) {
        std::vector<std::string> missing;
        std::vector<std::string> stray;
        for (const std::string& name : placed) {
          if (!present.contains(name)) missing.push_back(name);
        }
        for (const std::string& name : present) {
          if (!placed.contains(name)) stray.push_back(name);
        }
        result.fail(Verdict::correctness,
                    fmt::format("broker {}'s disk does not match its image: missing [{}], "
                                "not placed there [{}]",
                                id, fmt::join(missing, ", "), fmt::join(stray, ", ")));
      }
    }
  }

  void check_operations(const metadata::Image& final, CheckResult& result) {
    absl::btree_set<std::string> deletion_tried;
    absl::btree_map<std::string, absl::btree_set<std::string>> values_asked;
    for (const Op& op : history_.ops) {
      if (op.kind == OpKind::remove) deletion_tried.insert(op.topic);
      if (op.kind == OpKind::configure && op.outcome != Outcome::failed) {
        values_asked[op.topic].insert(op.value);
      }
    }
    for (const Op& op : history_.ops) {
      const metadata::TopicImage* topic = final.topic(op.topic);
      switch (op.kind) {
        case OpKind::create:
          if (op.outcome == Outcome::ok && !deletion_tried.contains(op.topic) &&
              (topic == nullptr || topic->id.uuid != op.topic_id)) {
            result.fail(Verdict::correctness,
                        fmt::format("linearizability: the acknowledged creation of {} (broker {}, "
                                    "at {}) is {} in the final image",
                                    op.topic, op.broker, op.invoked,
                                    topic == nullptr ? "missing" : "under another id"));
          }
          if (op.outcome == Outcome::failed && topic != nullptr) {
            result.fail(Verdict::correctness,
                        fmt::format("linearizability: the creation of {} was refused (error {}) "
                                    "but the topic exists",
                                    op.topic, op.error));
          }
          break;
        case OpKind::remove:
          if (op.outcome == Outcome::ok && topic != nullptr) {
            result.fail(Verdict::correctness,
                        fmt::format("linearizability: the acknowledged deletion of {} (at {}) "
                                    "was undone",
                                    op.topic, op.invoked));
          }
          break;
        case OpKind::configure: break;
      }
    }
    for (const auto& [name, topic_id] : final.topic_names()) {
      const auto& config = final.topic_config(name);
      auto it = config.find(kConfigKey);
      if (it == config.end()) continue;
      if (!values_asked[name].contains(it->second)) {
        result.fail(Verdict::correctness,
                    fmt::format("{} of {} is {}, a value no acknowledged or pending request set",
                                kConfigKey, name, it->second));
      }
    }
  }

  History history_;
};

}  // namespace

std::unique_ptr<Workload> make_metadata_cluster_workload(const RunOptions& options) {
  return std::make_unique<MetadataClusterWorkload>(options);
}

}  // namespace weir::sim
