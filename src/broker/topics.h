// Topics: the partition logs this node hosts, kept equal to the metadata image.
//
// The metadata log is the only record of which topics exist; a node keeps no list of
// its own. Partition logs live in `<topic>-<partition>/` under the data root (Kafka's
// layout), each with the topic id in partition.metadata. At start the node scans the
// data root for such directories (scan) and opens nothing; once its image has caught
// up with the log it reconciles: every partition the image places on this broker is
// opened (recovering its log) or created, and every directory the image does not
// place here — a topic deleted while the node was down, or an older topic of the
// same name — is deleted, durably. Each later change of the image is reconciled the
// same way, so the hosted logs follow the image, also after a crash at any point.
//
// A directory is another topic's only when its partition.metadata names another id on
// two reads (the file has no checksum, and a flipped read must not cost the data).
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
#include "metadata/image.h"
#include "metadata/topic_name.h"
#include "protocol/errors.h"
#include "protocol/uuid_text.h"
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
  metadata::TopicId id;
  config::TopicConfig config;
  // The partitions hosted here, by index (a broker hosts those it is a replica of).
  absl::btree_map<int32_t, std::shared_ptr<Partition>> partitions;
  bool internal() const { return !name.empty() && name[0] == '_'; }
};

class Topics {
 public:
  // `keep_strays` is the simulator's planted flaw (BrokerHooks::keep_stray_partitions).
  Topics(runtime::Env& env, const BrokerSettings& settings, bool keep_strays = false);

  // Suspends. Lists the partition directories in the data root and the topic id each
  // names. Opens nothing: which of them to keep is the image's to say (reconcile).
  Result<void, std::string> scan();

  // Suspends. Makes the hosted partitions those `image` places on `self`: opens or
  // creates what is missing, closes and deletes what is no longer placed here (and the
  // directories found by scan() that nothing claims), applies config changes and
  // leader epochs. False when something failed (a log did not open, a directory was
  // not deleted): the caller tries again. The image is a copy: this suspends, and the
  // caller's image may move meanwhile.
  bool reconcile(const metadata::Image& image, metadata::BrokerId self);

  Topic* find(std::string_view name);
  std::shared_ptr<Partition> partition(std::string_view topic, int32_t index);
  const absl::btree_map<std::string, std::unique_ptr<Topic>, std::less<>>& all() const {
    return topics_;
  }
  // Suspends. The partition directories in the data root, sorted (nothing if the disk
  // failed to list them).
  std::optional<std::vector<std::string>> directories();
  // Every hosted partition, in (topic, index) order.
  std::vector<std::shared_ptr<Partition>> partitions() const;

  // Suspends. Closes `partition`'s log (a disk failure made it suspect) and opens it
  // again, which recovers it from what is durable. False if the disk failed again.
  bool recover(Partition& partition);
  // Suspends. Snapshots producer state, flushes and closes every log (clean shutdown).
  // False if some log was not closed whole (recovering, suspect, or its close failed).
  bool close_all();

  // A partition's directory under the data root ("<topic>-<index>").
  std::string directory_of(const std::string& topic, int32_t index) const;

 private:
  // Suspends. The log of `directory` with its producer state.
  Result<std::pair<std::shared_ptr<storage::PartitionLog>,
                   std::unique_ptr<txn::PartitionProducerState>>,
         ApiError>
  open_log(const std::string& directory, const std::string& topic_id,
           const config::TopicConfig& config, bool sole_replica);
  // Suspends. The topic id partition.metadata names, read twice and agreeing; nothing
  // when the file is missing, unreadable or the reads disagree.
  std::optional<std::string> stored_topic_id(const std::string& directory);
  // Suspends. Closes a hosted partition and deletes its directory.
  void drop(Topic& topic, int32_t index);
  // Suspends. Removes a partition directory and its files, durably; false on failure.
  bool delete_directory(const std::string& directory);

  runtime::Env& env_;
  const BrokerSettings& settings_;
  bool keep_strays_;
  absl::btree_map<std::string, std::unique_ptr<Topic>, std::less<>> topics_;
  // Partition directories found by scan() and not yet claimed by a reconcile: deleted
  // by the first reconcile that does not place them here.
  absl::btree_map<std::string, std::optional<std::string>> unclaimed_;
  // One reconcile at a time.
  runtime::Mutex mutex_;
};

}  // namespace weir::broker
