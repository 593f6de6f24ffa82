#include "sim/workloads/metadata_cluster.h"

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <absl/container/btree_map.h>
#include <absl/container/btree_set.h>
#include <fmt/format.h>
#include <fmt/ranges.h>

#include "cluster/broker_link.h"
#include "cluster/loader.h"
#include "cluster/quorum_controller.h"
#include "raft/node.h"
#include "raft/service.h"
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
constexpr const char* kClusterId = "weir-sim-metadata";
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
  Outcome outcome = Outcome::pending;
  protocol::Uuid topic_id;  // create, when acknowledged
  int16_t error = 0;
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
  uint64_t next_topic = 1;
  // Topics some admin saw created (candidates for deletion and config changes).
  std::vector<std::string> known_topics;
  bool quiesced = false;
  Instant healed_at = Instant::max();
  // After the final restart: each node's latest image and whether a controller led.
  absl::btree_map<int, std::pair<int64_t, metadata::Image>> final_images;
  bool final_leader = false;
  std::vector<std::string> violations;

  void violation(std::string text) {
    if (violations.size() < 20) violations.push_back(std::move(text));
  }
};

raft::RaftSettings quorum_settings(History& history, int self) {
  raft::RaftSettings settings;
  settings.core.self = ReplicaId(self);
  for (int voter = 1; voter <= history.voters; voter++) {
    settings.core.voters.emplace_back(voter);
    settings.voter_addresses[ReplicaId(voter)] =
        runtime::Address{controller_host(voter), kControllerPort};
  }
  settings.core.flaws = history.raft_flaws;
  settings.cluster_id = kClusterId;
  settings.core.election_timeout = milliseconds(500);
  settings.core.fetch_timeout = milliseconds(1000);
  if (history.segment_bytes > 0) settings.segment_bytes = history.segment_bytes;
  settings.on_snapshot = [&history](raft::SnapshotId, bool installed) {
    (installed ? history.snapshots_installed : history.snapshots_taken)++;
  };
  return settings;
}

cluster::LoaderSettings loader_settings(const History& history) {
  cluster::LoaderSettings settings;
  if (history.snapshot_bytes > 0) settings.snapshot_bytes = history.snapshot_bytes;
  settings.snapshot_interval = history.snapshot_interval;
  settings.flaw_snapshot_without_configs = history.snapshot_without_configs;
  return settings;
}

// The loader's hook on every node: state-machine safety over images.
void watch_images(History& history, cluster::MetadataLoader& loader, int node, bool final) {
  loader.on_applied = [&history, node, final](record::Offset end, const metadata::Image& image) {
    const uint64_t digest = image.digest();
    auto [it, fresh] = history.digests.emplace(end.value(), digest);
    if (!fresh && it->second != digest) {
      history.violation(fmt::format(
          "state machine safety: node {}'s image at metadata offset {} has digest {:016x}, "
          "another node's {:016x}",
          node, end.value(), digest, it->second));
    }
    if (final) history.final_images[node] = {end.value(), image};
  };
}

// Runs until the node's log or loader fails, then ends the incarnation.
void serve_until_failure(NodeContext& context, raft::RaftNode& node,
                         cluster::MetadataLoader& loader) {
  while (!node.failed().is_set() && !loader.failed().is_set()) {
    context.env.scheduler.sleep_for(milliseconds(100));
  }
  context.panic(node.failed().is_set() ? node.failure() : loader.failure());
}

class ControllerProcess final : public Process {
 public:
  ControllerProcess(NodeContext& context, History& history, int id)
      : context_(context), env_(context.env), history_(history), id_(id) {
    raft::RaftSettings settings = quorum_settings(history, id);
    const bool final = history.quiesced;
    settings.on_leader = [this, final](Epoch epoch) {
      history_.leaders[epoch].insert(id_);
      if (history_.leaders[epoch].size() > 1) {
        history_.violation(fmt::format("election safety: epoch {} has leaders {}", epoch,
                                       fmt::join(history_.leaders[epoch], ", ")));
      }
      if (final) history_.final_leader = true;
    };
    node_.emplace(env_, std::move(settings));
    service_.emplace(env_, *node_);
    loader_.emplace(env_, *node_, loader_settings(history));
    watch_images(history, *loader_, id, final);
    cluster::QuorumControllerSettings controller;
    controller.controller.cluster_id = kClusterId;
    controller.controller.broker_session_timeout_ms = 3000;
    controller.commit_timeout = seconds(5);
    controller.flaw_answer_before_commit = history.answer_before_commit;
    controller_.emplace(env_, *node_, *loader_, std::move(controller));
    service_->set_extension(&*controller_);
  }

  void run() override {
    if (auto started = node_->start(); !started) context_.panic(started.error());
    loader_->start();
    controller_->start();
    if (auto bound = service_->listen({controller_host(id_), kControllerPort}); !bound) {
      context_.panic(bound.error());
    }
    serve_until_failure(context_, *node_, *loader_);
  }

 private:
  NodeContext& context_;
  runtime::Env& env_;
  History& history_;
  int id_;
  std::optional<raft::RaftNode> node_;
  std::optional<raft::RaftService> service_;
  std::optional<cluster::MetadataLoader> loader_;
  std::optional<cluster::QuorumController> controller_;
};

class BrokerProcess final : public Process {
 public:
  BrokerProcess(NodeContext& context, History& history, int id)
      : context_(context), env_(context.env), history_(history), id_(id) {
    raft::RaftSettings settings = quorum_settings(history, id);
    cluster::BrokerLinkSettings link;
    link.node_id = id;
    link.cluster_id = kClusterId;
    link.controllers = settings.voter_addresses;
    link.heartbeat_interval = milliseconds(500);
    link.request_timeout = seconds(2);
    node_.emplace(env_, std::move(settings));
    loader_.emplace(env_, *node_, loader_settings(history));
    watch_images(history, *loader_, id, history.quiesced);
    link_.emplace(env_, *node_, *loader_, std::move(link));
  }

  void run() override {
    if (auto started = node_->start(); !started) context_.panic(started.error());
    loader_->start();
    cluster::BrokerLink::Listener listener;
    listener.name = "PLAINTEXT";
    listener.host = broker_host(id_);
    listener.port = kBrokerPort;
    link_->start({listener});
    if (!history_.quiesced) env_.scheduler.spawn("admin", [this] { admin_loop(); });
    serve_until_failure(context_, *node_, *loader_);
  }

 private:
  // What a broker forwards for its clients, one request at a time.
  void admin_loop() {
    while (!history_.quiesced) {
      env_.scheduler.sleep_for(milliseconds(env_.random.between(50, 400)));
      if (history_.quiesced) break;
      const size_t index = history_.ops.size();
      Op& op = history_.ops.emplace_back();
      op.broker = id_;
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
      // One attempt: a retry after an ambiguous NOT_CONTROLLER would blur what a
      // definite refusal means.
      auto answer =
          link_->send_to_controller_once(std::move(request), env_.clock.now() + seconds(5));
      Op& done = history_.ops[index];
      done.outcome = Outcome::unknown;
      if (!answer) continue;
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
                 code != error_value(ErrorCode::request_timed_out)) {
        done.outcome = Outcome::failed;
      }
    }
  }

  NodeContext& context_;
  runtime::Env& env_;
  History& history_;
  int id_;
  std::optional<raft::RaftNode> node_;
  std::optional<cluster::MetadataLoader> loader_;
  std::optional<cluster::BrokerLink> link_;
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
        return std::make_unique<ControllerProcess>(context, history_, id);
      });
    }
    for (int id = kFirstBroker; id < kFirstBroker + kBrokers; id++) {
      world.add_node(broker_host(id), [this, id](NodeContext& context) {
        return std::make_unique<BrokerProcess>(context, history_, id);
      });
    }
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
