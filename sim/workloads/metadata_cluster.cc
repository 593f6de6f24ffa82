#include "sim/workloads/metadata_cluster.h"

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <absl/container/btree_map.h>
#include <fmt/format.h>

#include "rpc/connection.h"
#include "sim/checkers/admin.h"
#include "sim/checkers/disk.h"
#include "sim/checkers/raft.h"
#include "sim/node_process.h"
#include "sim/workloads/kraft_cluster.h"
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

using kraft::kBrokerPort;
using kraft::kControllerPort;
constexpr const char* kAdminHost = "admin";
// Broker node ids, after the voters' (1..5).
constexpr int kFirstBroker = 11;
constexpr int kBrokers = 3;
constexpr const char* kConfigKey = "retention.ms";

using kraft::broker_host;
using kraft::controller_host;

using checkers::AdminKind;
using checkers::AdminOp;
using checkers::MetadataProbe;

struct History {
  int voters = 3;
  raft::RaftFlaws raft_flaws;
  bool answer_before_commit = false;
  bool snapshot_without_configs = false;
  bool answer_before_catch_up = false;
  bool keep_stray_partitions = false;
  // Snapshots every this many applied bytes (0: Kafka's default, never reached here)
  // and the metadata log's segment size, so that snapshots drop segments.
  int64_t snapshot_bytes = 0;
  runtime::Duration snapshot_interval{0};
  int64_t segment_bytes = 0;
  int64_t snapshots_taken = 0;
  int64_t snapshots_installed = 0;
  checkers::ElectionHistory elections;
  // Every node's image digest after applying everything below an offset.
  checkers::DigestHistory digests;
  // The admins' operations, and the Metadata answers they got after each.
  checkers::AdminHistory admin;
  uint64_t next_topic = 1;
  // Topics some admin saw created (candidates for deletion and config changes).
  std::vector<std::string> known_topics;
  bool quiesced = false;
  Instant healed_at = Instant::max();
  // After the final restart: each node's latest image and whether a controller led.
  absl::btree_map<int, std::pair<int64_t, metadata::Image>> final_images;
  // After the final restart: each broker's last reconciliation, the image and the
  // partition directories its disk then listed.
  checkers::DiskHistory final_disks;
  bool final_leader = false;
};

// The config every node of the cluster shares, as server.properties lines.
std::vector<std::string> common_config(const History& history) {
  std::vector<std::string> lines = kraft::quorum_config(history.voters);
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
  hooks.broker.answer_before_catch_up = history.answer_before_catch_up;
  hooks.broker.keep_stray_partitions = history.keep_stray_partitions;
  hooks.on_leader = [&history, id, final](Epoch epoch) {
    checkers::record_leader(history.elections, epoch, id);
    if (final) history.final_leader = true;
  };
  hooks.on_snapshot = [&history](raft::SnapshotId, bool installed) {
    (installed ? history.snapshots_installed : history.snapshots_taken)++;
  };
  hooks.on_applied = [&history, id, final](record::Offset end, const metadata::Image& image) {
    checkers::record_digest(history.digests, id, end.value(), image.digest());
    if (final) history.final_images[id] = {end.value(), image};
  };
  if (final) {
    hooks.broker.on_reconciled = [&history, id](const metadata::Image& image,
                                                const std::vector<std::string>& directories) {
      history.final_disks[id] = checkers::DiskObservation{image, directories};
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
// after each asks that broker for Metadata. One more loop sends them straight to a
// controller (as an AdminClient with bootstrap.controllers does, KIP-919), so what the
// controller answers is checked without a broker's catch-up in between.
class AdminProcess final : public Process {
 public:
  AdminProcess(NodeContext& context, History& history) : env_(context.env), history_(history) {}

  void run() override {
    if (history_.quiesced) return;
    for (int id = kFirstBroker; id < kFirstBroker + kBrokers; id++) {
      env_.scheduler.spawn(fmt::format("admin-{}", id), [this, id] { admin_loop(id); });
    }
    env_.scheduler.spawn("admin-controllers", [this] { admin_loop(kToControllers); });
  }

 private:
  // The admin loop that talks to the controllers, a random voter for each request.
  static constexpr int kToControllers = 0;

  // Suspends. A connection to broker `id` (controller -id when negative), kept while it
  // works.
  rpc::Connection* connection(int id) {
    // No reference into the map across the suspension below: another admin loop may
    // insert meanwhile.
    if (auto it = connections_.find(id); it != connections_.end() && it->second->is_open()) {
      return it->second.get();
    }
    rpc::ConnectionOptions options;
    options.client_id = fmt::format("admin-{}", id);
    options.connect_timeout = seconds(2);
    // A forwarded request may wait out an election and the broker's catch-up.
    options.request_timeout = seconds(40);
    const runtime::Address address = id > 0
                                         ? runtime::Address{broker_host(id), kBrokerPort}
                                         : runtime::Address{controller_host(-id), kControllerPort};
    auto connected = rpc::Connection::connect(env_, address, options);
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
    rpc::Connection* broker = connection(id);
    if (broker == nullptr) return;
    MetadataProbe probe;
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
    history_.admin.probes.push_back(std::move(probe));
  }

  // One request at a time to broker `id`, each followed by a Metadata probe.
  void admin_loop(int id) {
    while (!history_.quiesced) {
      env_.scheduler.sleep_for(milliseconds(env_.random.between(50, 400)));
      if (history_.quiesced) break;
      const size_t index = history_.admin.ops.size();
      AdminOp& op = history_.admin.ops.emplace_back();
      op.broker = id;
      op.invoked = env_.clock.now();
      const int64_t roll = env_.random.between(0, 99);
      protocol::RequestBody request;
      if (roll < 60 || history_.known_topics.empty()) {
        op.kind = AdminKind::create;
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
          op.kind = AdminKind::remove;
          protocol::DeleteTopicsRequest remove;
          protocol::DeleteTopicsRequest::DeleteTopicState topic;
          topic.name = op.topic;
          remove.topics.push_back(std::move(topic));
          remove.timeout_ms = 5000;
          request = std::move(remove);
        } else {
          op.kind = AdminKind::configure;
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
      // The controllers' loop stays with the voter that last answered as the active
      // controller, and moves on after NOT_CONTROLLER or a failure, as an AdminClient
      // with bootstrap.controllers finds the active one.
      const int target = id != kToControllers ? id : -controller_target_;
      rpc::Connection* broker = connection(target);
      auto answer = broker != nullptr ? broker->send_and_wait(std::move(request))
                                      : rpc::ResponseResult(unexpected(rpc::Error{}));
      AdminOp& done = history_.admin.ops[index];
      done.outcome = Outcome::unknown;
      auto next_controller = [&] {
        if (id == kToControllers) controller_target_ = controller_target_ % history_.voters + 1;
      };
      if (!answer) {
        next_controller();
        continue;
      }
      done.completed = env_.clock.now();
      int16_t code = -1;
      if (const auto* r = std::get_if<protocol::CreateTopicsResponse>(answer->get())) {
        if (r->topics.size() == 1) {
          code = r->topics[0].error_code;
          done.topic_id = r->topics[0].topic_id;
        }
      } else if (const auto* d = std::get_if<protocol::DeleteTopicsResponse>(answer->get())) {
        if (d->responses.size() == 1) {
          code = d->responses[0].error_code;
          done.topic_id = d->responses[0].topic_id;
        }
      } else if (const auto* c =
                     std::get_if<protocol::IncrementalAlterConfigsResponse>(answer->get())) {
        if (c->responses.size() == 1) code = c->responses[0].error_code;
      }
      done.error = code;
      if (code == error_value(ErrorCode::not_controller) || code < 0) next_controller();
      if (code == 0) {
        done.outcome = Outcome::ok;
        if (done.kind == AdminKind::create) history_.known_topics.push_back(done.topic);
      } else if (code > 0 && code != error_value(ErrorCode::not_controller) &&
                 code != error_value(ErrorCode::request_timed_out) &&
                 !(done.kind == AdminKind::create &&
                   code == error_value(ErrorCode::topic_already_exists))) {
        // TOPIC_ALREADY_EXISTS for a name only this op uses: an earlier attempt of
        // the broker's retry created it. Unknown, as the other ambiguous answers.
        done.outcome = Outcome::failed;
      }
      if (id != kToControllers) probe(id);
    }
  }

  runtime::Env& env_;
  History& history_;
  absl::btree_map<int, std::unique_ptr<rpc::Connection>> connections_;
  // The voter the controllers' loop sends to (1..voters).
  int controller_target_ = 1;
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
    history_.answer_before_catch_up = options.flaws.answer_before_catch_up;
    history_.keep_stray_partitions = options.flaws.keep_stray_partitions;
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
    checkers::check_election_safety(history_.elections, result);
    checkers::check_digests(history_.digests, result);
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
    checkers::check_admin_linearizable(history_.admin, *final, kConfigKey, result);
    if (!history_.final_leader) {
      result.fail(Verdict::liveness, "no controller led after the final restart");
    }
    std::vector<int> brokers;
    for (int id = kFirstBroker; id < kFirstBroker + kBrokers; id++) {
      brokers.push_back(id);
      const metadata::BrokerRegistration* broker = final->broker(metadata::BrokerId(id));
      if (broker == nullptr || broker->fenced) {
        result.fail(Verdict::liveness,
                    fmt::format("broker {} is {} after the final restart", id,
                                broker == nullptr ? "not registered" : "fenced"));
      }
    }
    checkers::check_read_your_writes(history_.admin, result);
    checkers::check_disk_convergence(history_.final_disks, brokers, result);
    checkers::check_admin_progress(history_.admin, history_.healed_at, result);
    result.summary = fmt::format(
        "voters={} epochs={} admin_ops={} acked={} topics={} partitions={} offset={} "
        "snapshots={}/{}",
        history_.voters, history_.elections.leaders.size(), history_.admin.ops.size(),
        checkers::acknowledged_ops(history_.admin), final->topic_count(), final->partition_count(),
        final_end, history_.snapshots_taken, history_.snapshots_installed);
    return result;
  }

 private:
  History history_;
};

}  // namespace

std::unique_ptr<Workload> make_metadata_cluster_workload(const RunOptions& options) {
  return std::make_unique<MetadataClusterWorkload>(options);
}

}  // namespace weir::sim
