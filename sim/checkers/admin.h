// Checkers of admin operations on cluster metadata (CreateTopics, DeleteTopics,
// IncrementalAlterConfigs) over their history: each operation as its client saw it, and
// the Metadata answers (probes) clients got from brokers afterwards. Judged against the
// final metadata::Image, the controllers' after the final power loss.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <absl/container/btree_map.h>

#include "metadata/image.h"
#include "protocol/wire.h"
#include "runtime/clock.h"
#include "sim/checkers/result.h"

namespace weir::sim::checkers {

enum class AdminKind { create, remove, configure };

struct AdminOp {
  AdminKind kind = AdminKind::create;
  std::string topic;
  std::string value;  // configure: the value asked for
  int broker = 0;     // the broker the client sent it to
  runtime::Instant invoked;
  runtime::Instant completed = runtime::Instant::max();
  Outcome outcome = Outcome::pending;
  // create: the id it got, when acknowledged; remove: the id of the topic deleted, when
  // the answer names it (DeleteTopics v6+).
  protocol::Uuid topic_id;
  int16_t error = 0;
};

// A Metadata request (every topic) a client sent to one broker, and what it listed.
struct MetadataProbe {
  int broker = 0;
  runtime::Instant sent;
  absl::btree_map<std::string, protocol::Uuid> topics;
};

struct AdminHistory {
  std::vector<AdminOp> ops;
  std::vector<MetadataProbe> probes;
};

// Linearizable admin operations, against the final image: an acknowledged creation is
// there with the topic id it was answered with (unless a deletion of that topic was
// attempted); an acknowledged deletion is never undone; a creation refused with a
// definite error never takes effect; a topic's final `config_key` is a value some
// request that did not fail asked for.                      (answer-before-commit)
void check_admin_linearizable(const AdminHistory& history, const metadata::Image& final,
                              std::string_view config_key, CheckResult& result);

// Read-your-writes: a broker that acknowledged a creation or deletion shows it in every
// Metadata answer it gives afterwards (it answers once its own image has the change),
// as long as no deletion of the topic was attempted. The first violation is reported.
void check_read_your_writes(const AdminHistory& history, CheckResult& result);

// Liveness: an operation invoked at or after `healed_at` was acknowledged.
void check_admin_progress(const AdminHistory& history, runtime::Instant healed_at,
                          CheckResult& result);

size_t acknowledged_ops(const AdminHistory& history);

}  // namespace weir::sim::checkers
