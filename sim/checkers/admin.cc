#include "sim/checkers/admin.h"

#include <absl/container/btree_set.h>
#include <fmt/format.h>

namespace weir::sim::checkers {

void check_admin_linearizable(const AdminHistory& history, const metadata::Image& final,
                              std::string_view config_key, CheckResult& result) {
  absl::btree_set<std::string> deletion_tried;
  absl::btree_map<std::string, absl::btree_set<std::string>> values_asked;
  for (const AdminOp& op : history.ops) {
    if (op.kind == AdminKind::remove) deletion_tried.insert(op.topic);
    if (op.kind == AdminKind::configure && op.outcome != Outcome::failed) {
      values_asked[op.topic].insert(op.value);
    }
  }
  for (const AdminOp& op : history.ops) {
    const metadata::TopicImage* topic = final.topic(op.topic);
    switch (op.kind) {
      case AdminKind::create:
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
      case AdminKind::remove:
        if (op.outcome == Outcome::ok && topic != nullptr) {
          result.fail(Verdict::correctness,
                      fmt::format("linearizability: the acknowledged deletion of {} (at {}) "
                                  "was undone",
                                  op.topic, op.invoked));
        }
        break;
      case AdminKind::configure: break;
    }
  }
  for (const auto& [name, topic_id] : final.topic_names()) {
    const auto& config = final.topic_config(name);
    auto it = config.find(std::string(config_key));
    if (it == config.end()) continue;
    auto asked = values_asked.find(name);
    if (asked == values_asked.end() || !asked->second.contains(it->second)) {
      result.fail(Verdict::correctness,
                  fmt::format("{} of {} is {}, a value no acknowledged or pending request set",
                              config_key, name, it->second));
    }
  }
}

void check_read_your_writes(const AdminHistory& history, CheckResult& result) {
  absl::btree_set<std::string> deletion_tried;
  for (const AdminOp& op : history.ops) {
    if (op.kind == AdminKind::remove) deletion_tried.insert(op.topic);
  }
  for (const AdminOp& op : history.ops) {
    if (op.outcome != Outcome::ok || op.kind == AdminKind::configure) continue;
    for (const MetadataProbe& probe : history.probes) {
      if (probe.broker != op.broker || probe.sent < op.completed) continue;
      auto listed = probe.topics.find(op.topic);
      if (op.kind == AdminKind::create && !deletion_tried.contains(op.topic) &&
          (listed == probe.topics.end() || listed->second != op.topic_id)) {
        result.fail(Verdict::correctness,
                    fmt::format("read-your-writes: broker {} acknowledged the creation of {} "
                                "at {}, then answered Metadata at {} without it",
                                op.broker, op.topic, op.completed, probe.sent));
        return;
      }
      // The same topic: a topic of that name with another id is a later creation (a
      // create whose request was retried, by the client or the forwarding broker,
      // may take effect again after the deletion — CreateTopics is not idempotent,
      // in Kafka either).
      if (op.kind == AdminKind::remove && listed != probe.topics.end() &&
          (op.topic_id == protocol::Uuid{} || listed->second == op.topic_id)) {
        result.fail(Verdict::correctness,
                    fmt::format("read-your-writes: broker {} acknowledged the deletion of {} "
                                "at {}, then listed it in Metadata at {}",
                                op.broker, op.topic, op.completed, probe.sent));
        return;
      }
    }
  }
}

void check_admin_progress(const AdminHistory& history, runtime::Instant healed_at,
                          CheckResult& result) {
  for (const AdminOp& op : history.ops) {
    if (op.outcome == Outcome::ok && op.invoked >= healed_at) return;
  }
  result.fail(Verdict::liveness, "no admin operation was acknowledged after healing");
}

size_t acknowledged_ops(const AdminHistory& history) {
  size_t count = 0;
  for (const AdminOp& op : history.ops) count += op.outcome == Outcome::ok;
  return count;
}

}  // namespace weir::sim::checkers
