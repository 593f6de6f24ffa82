// Topics: the node's topics and their partitions, and the file that remembers them.
//
// Until the KRaft metadata log (issue 5) owns cluster metadata, a single node keeps its
// topics in `weir-meta/topics` under the data root, one line per topic:
//   <name> <topic id, base64url> <partition count> [<config key>=<value> ...]
// replaced atomically (write, fsync, rename, fsync directory) on every change, and
// written *before* any partition directory is created, so a crash never leaves a
// partition the file does not name. Partition logs live in `<topic>-<partition>/`
// (Kafka's layout), with the topic id in partition.metadata.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <absl/container/btree_map.h>

#include "base/result.h"
#include "broker/partition.h"
#include "broker/settings.h"
#include "config/topic_config.h"
#include "protocol/errors.h"
#include "protocol/wire.h"
#include "runtime/env.h"

namespace weir::broker {

// A Kafka error code with the message that explains it to the client.
struct ApiError {
  protocol::ErrorCode code = protocol::ErrorCode::none;
  std::string message;
};

struct Topic {
  std::string name;
  protocol::Uuid id;
  config::TopicConfig config;
  std::vector<std::shared_ptr<Partition>> partitions;
  bool internal() const { return !name.empty() && name[0] == '_'; }
};

// Kafka's rule: 1-249 characters of [a-zA-Z0-9._-], not "." or "..".
std::optional<std::string> invalid_topic_name_reason(std::string_view name);
std::string uuid_to_base64(const protocol::Uuid& id);
std::optional<protocol::Uuid> uuid_from_base64(std::string_view text);

class Topics {
 public:
  Topics(runtime::Env& env, const BrokerSettings& settings);

  // Suspends. Reads the topics file and opens (recovering) every partition's log and
  // producer state.
  Result<void, std::string> load();

  Topic* find(std::string_view name);
  Topic* find(const protocol::Uuid& id);
  std::shared_ptr<Partition> partition(std::string_view topic, int32_t index);
  const absl::btree_map<std::string, std::unique_ptr<Topic>, std::less<>>& all() const {
    return topics_;
  }

  // Suspends. Creates a topic with `partitions` partitions (validated by the caller),
  // with the id given (the controller chose it) or a new one.
  Result<Topic*, ApiError> create(const std::string& name, int32_t partitions,
                                  config::TopicConfig config,
                                  std::optional<protocol::Uuid> id = std::nullopt);
  // Suspends. Closes and deletes the topic's logs and forgets it.
  Result<void, ApiError> remove(const std::string& name);
  // Suspends. Grows the topic to `count` partitions.
  Result<void, ApiError> add_partitions(const std::string& name, int32_t count);
  // Suspends. Replaces the topic's config (already validated). Flush policies apply at
  // once; log settings (segment size, retention) from the log's next open.
  Result<void, ApiError> set_config(const std::string& name, config::TopicConfig config);

  // Suspends. Closes `partition`'s log (a disk failure made it suspect) and opens it
  // again, which recovers it from what is durable. False if the disk failed again.
  bool recover(Partition& partition);
  // Suspends. Snapshots producer state, flushes and closes every log (clean shutdown).
  void close_all();

 private:
  // What the topics file says of one topic.
  struct TopicLine {
    protocol::Uuid id;
    int32_t partitions = 0;
    absl::btree_map<std::string, std::string> configs;
  };
  using TopicLines = absl::btree_map<std::string, TopicLine>;
  TopicLines lines() const;
  Result<void, ApiError> persist(const TopicLines& lines);
  Result<std::shared_ptr<Partition>, ApiError> open_partition(const Topic& topic, int32_t index);
  // Suspends. The log of `directory` with its producer state.
  Result<std::pair<std::shared_ptr<storage::PartitionLog>,
                   std::unique_ptr<txn::PartitionProducerState>>,
         ApiError>
  open_log(const std::string& directory, const std::string& topic_id,
           const config::TopicConfig& config);
  std::string directory_of(const std::string& topic, int32_t index) const;
  // Suspends. Removes a partition directory and its files, durably; false on failure.
  bool delete_directory(const std::string& directory);

  runtime::Env& env_;
  const BrokerSettings& settings_;
  absl::btree_map<std::string, std::unique_ptr<Topic>, std::less<>> topics_;
  // One metadata change at a time: each rewrites the whole topics file.
  runtime::Mutex mutex_;
};

}  // namespace weir::broker
