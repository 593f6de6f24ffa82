#include "broker/topics.h"

#include <algorithm>

#include <fmt/format.h>

#include "base/text.h"
#include "storage/checkpoint.h"

namespace weir::broker {

using protocol::ErrorCode;

namespace {

// The metadata log shares the data root (raft/node.cc); it is never a topic's.
constexpr std::string_view kMetadataLogDirectory = "__cluster_metadata-0";
constexpr std::string_view kPartitionMetadata = "partition.metadata";

// The topic and index a partition directory's name `<topic>-<index>` holds; nothing for
// any other name (the metadata log's directory included).
std::optional<std::pair<std::string_view, int32_t>> partition_directory(std::string_view name) {
  if (name == kMetadataLogDirectory) return std::nullopt;
  const size_t dash = name.rfind('-');
  if (dash == std::string_view::npos || dash == 0) return std::nullopt;
  auto index = parse_integer<int32_t>(name.substr(dash + 1));
  if (!index || *index < 0 || metadata::invalid_topic_name_reason(name.substr(0, dash))) {
    return std::nullopt;
  }
  return std::pair{name.substr(0, dash), *index};
}

Unexpected<ApiError> storage_failure(std::string_view what, storage::StorageError error) {
  return unexpected(ApiError{ErrorCode::kafka_storage_error,
                             fmt::format("{}: {}", what, storage::to_string(error))});
}

}  // namespace

Topics::Topics(runtime::Env& env, const BrokerSettings& settings, bool keep_strays)
    : env_(env), settings_(settings), keep_strays_(keep_strays), mutex_(env.scheduler) {}

std::string Topics::directory_of(const std::string& topic, int32_t index) const {
  return fmt::format("{}-{}", topic, index);
}

std::optional<std::string> Topics::stored_topic_id(const std::string& directory) {
  const std::string path = directory + "/" + std::string(kPartitionMetadata);
  std::optional<std::string> first;
  for (int read = 0; read < 2; read++) {
    auto text = storage::read_whole_file(env_.disk, path);
    if (!text) return std::nullopt;
    std::optional<std::string> id = storage::parse_partition_metadata(*text);
    if (!id) return std::nullopt;
    if (read == 1 && id != first) return std::nullopt;
    first = std::move(id);
  }
  return first;
}

std::optional<std::vector<std::string>> Topics::directories() {
  auto names = env_.disk.list("");
  if (!names) return std::nullopt;
  std::vector<std::string> out;
  for (const std::string& name : *names) {
    if (!partition_directory(name)) continue;
    // Only directories: a listing fails on a file.
    if (!env_.disk.list(name)) continue;
    out.push_back(name);
  }
  return out;
}

Result<void, std::string> Topics::scan() {
  runtime::MutexGuard guard(mutex_);
  auto found = directories();
  if (!found) return unexpected(std::string("log.dirs: cannot list the data directory"));
  for (const std::string& name : *found) unclaimed_[name] = stored_topic_id(name);
  return {};
}

Result<
    std::pair<std::shared_ptr<storage::PartitionLog>, std::unique_ptr<txn::PartitionProducerState>>,
    ApiError>
Topics::open_log(const std::string& directory, const std::string& topic_id,
                 const config::TopicConfig& config, bool sole_replica) {
  const storage::LogConfig log_config = config.log_config(settings_.config);
  auto log = storage::PartitionLog::open(env_, directory, log_config);
  if (!log) return storage_failure(directory, log.error());
  std::shared_ptr<storage::PartitionLog> shared = std::move(*log);
  // The directory was checked against the image before it was opened (reconcile
  // deletes another topic's); a missing or damaged partition.metadata is rewritten.
  if (shared->topic_id() != topic_id) {
    if (auto written = shared->set_topic_id(topic_id); !written) {
      return storage_failure(directory, written.error());
    }
  }
  // A sole replica's log is committed once durable, and everything recovery keeps is
  // (it fsyncs what it keeps). A replicated partition's high watermark is its
  // leader's to say: from the log start until a leader says more.
  if (sole_replica) shared->set_high_watermark(shared->log_end_offset());
  txn::ProducerStateConfig producer_config;
  producer_config.producer_id_expiration_ms = settings_.config.producer_id_expiration_ms;
  auto producers = txn::PartitionProducerState::open(
      storage::StorageEnv{env_.scheduler, env_.clock, env_.disk}, *shared,
      env_.clock.wall_now().milliseconds, producer_config);
  if (!producers) return storage_failure(directory, producers.error());
  return std::pair{std::move(shared), std::move(*producers)};
}

bool Topics::delete_directory(const std::string& directory) {
  if (keep_strays_) return true;  // the planted flaw: "deleted", but left on disk
  auto exists = env_.disk.exists(directory);
  if (!exists) return false;
  if (!*exists) return true;
  auto files = env_.disk.list(directory);
  if (!files) return false;
  for (const std::string& file : *files) {
    if (!env_.disk.remove(directory + "/" + file)) return false;
  }
  // The removals must be durable before the directory goes: a power loss could
  // otherwise bring files back into a directory the parent no longer names.
  return env_.disk.sync_directory(directory).ok() && env_.disk.remove(directory).ok() &&
         env_.disk.sync_directory("").ok();
}

void Topics::drop(Topic& topic, int32_t index) {
  auto it = topic.partitions.find(index);
  VERIFY(it != topic.partitions.end());
  std::shared_ptr<Partition> partition = std::move(it->second);
  topic.partitions.erase(it);
  VERIFY(!topic.partitions.contains(index));
  (void)partition->log().close();  // its files go next: a failed flush loses nothing
  // A failure leaves a directory the next start's scan finds and deletes.
  (void)delete_directory(directory_of(topic.name, index));
  partition->waiters().notify_all();
}

bool Topics::reconcile(const metadata::Image& image, metadata::BrokerId self) {
  runtime::MutexGuard guard(mutex_);
  bool complete = true;
  // Topics the image no longer has (by name and id) go first, so a new topic of the
  // same name finds its directories free.
  std::vector<std::string> gone;
  for (const auto& [name, topic] : topics_) {
    const metadata::TopicImage* wanted = image.topic(name);
    if (wanted == nullptr || wanted->id != topic->id) gone.push_back(name);
  }
  for (const std::string& name : gone) {
    std::unique_ptr<Topic> topic = std::move(topics_.find(name)->second);
    topics_.erase(name);
    while (!topic->partitions.empty()) drop(*topic, topic->partitions.begin()->first);
  }

  for (const auto& [name, id] : image.topic_names()) {
    const metadata::TopicImage& wanted = *image.topic(id);
    auto made = config::TopicConfig::make(image.topic_config(name));
    // The controller validated the configs it committed; a key this build does not
    // know (a newer controller) leaves the topic on the broker's defaults.
    config::TopicConfig config = made ? std::move(*made) : config::TopicConfig{};
    auto found = topics_.find(name);
    if (found == topics_.end()) {
      auto topic = std::make_unique<Topic>();
      topic->name = name;
      topic->id = id;
      topic->config = config;
      found = topics_.emplace(name, std::move(topic)).first;
    }
    Topic& topic = *found->second;
    VERIFY(topic.id == id, "topic {} changed id without leaving the image", name);
    if (topic.config.overrides() != config.overrides()) {
      // Flush policies apply at once; log settings (segment size, retention) from the
      // log's next open, as segment settings do in Kafka from the next roll.
      topic.config = config;
      for (auto& [index, partition] : topic.partitions) {
        partition->flush = topic.config.flush_policy(settings_.config);
      }
    }
    const std::string topic_id = protocol::uuid_to_string(topic.id.uuid);
    for (size_t position = 0; position < wanted.partitions.size(); position++) {
      const auto index = static_cast<int32_t>(position);
      const metadata::PartitionState& state = wanted.partitions[position];
      const std::string directory = directory_of(name, index);
      const bool placed = state.is_replica(self);
      if (!placed) {
        if (topic.partitions.contains(index)) drop(topic, index);
        continue;
      }
      if (!topic.partitions.contains(index)) {
        // A directory another topic of this name left (deleted while this node was
        // down) goes before the new partition is created in its place.
        auto stray = unclaimed_.find(directory);
        if (stray != unclaimed_.end()) {
          if (stray->second && *stray->second != topic_id && !delete_directory(directory)) {
            complete = false;
            continue;
          }
          unclaimed_.erase(stray);
        }
        auto opened = open_log(directory, topic_id, topic.config, state.replicas.size() == 1);
        if (!opened) {
          complete = false;  // the next reconcile tries again
          continue;
        }
        topic.partitions[index] = std::make_shared<Partition>(
            env_.scheduler, name, index, std::move(opened->first), std::move(opened->second),
            topic.config.flush_policy(settings_.config));
      }
      Partition& partition = *topic.partitions[index];
      partition.set_leader_epoch(state.leader_epoch);
      partition.sole_replica = state.replicas.size() == 1;
      partition.min_insync_replicas = topic.config.min_insync_replicas(settings_.config);
    }
  }
  // What the image places nowhere here: leftovers of topics deleted while the node was
  // down, or of partitions moved away.
  for (auto it = unclaimed_.begin(); it != unclaimed_.end();) {
    const std::string& directory = it->first;
    const auto parsed = partition_directory(directory);
    VERIFY(parsed.has_value(), "scan() kept {}, which names no partition", directory);
    const auto [name, index] = *parsed;
    const metadata::PartitionState* state = nullptr;
    if (const metadata::TopicImage* topic = image.topic(name)) {
      state = image.partition(topic->id, metadata::PartitionId(index));
    }
    const bool claimed = state != nullptr && state->is_replica(self);
    if (claimed) {
      ++it;
    } else if (delete_directory(directory)) {
      it = unclaimed_.erase(it);
    } else {
      complete = false;
      ++it;
    }
  }
  // A topic with no partition here is not hosted.
  for (auto it = topics_.begin(); it != topics_.end();) {
    if (it->second->partitions.empty()) {
      it = topics_.erase(it);
    } else {
      ++it;
    }
  }
  return complete;
}

Topic* Topics::find(std::string_view name) {
  auto it = topics_.find(name);
  return it == topics_.end() ? nullptr : it->second.get();
}

std::shared_ptr<Partition> Topics::partition(std::string_view topic_name, int32_t index) {
  Topic* topic = find(topic_name);
  if (topic == nullptr) return nullptr;
  auto it = topic->partitions.find(index);
  return it == topic->partitions.end() ? nullptr : it->second;
}

std::vector<std::shared_ptr<Partition>> Topics::partitions() const {
  std::vector<std::shared_ptr<Partition>> out;
  for (const auto& [name, topic] : topics_) {
    for (const auto& [index, partition] : topic->partitions) out.push_back(partition);
  }
  return out;
}

bool Topics::recover(Partition& partition) {
  partition.recovering = true;
  // Whether the partition is still the one hosted here (it may be dropped, and its topic
  // destroyed, by a reconciliation while this suspends).
  auto still_hosted = [&] {
    return find(partition.topic()) != nullptr &&
           this->partition(partition.topic(), partition.index()).get() == &partition;
  };
  if (!still_hosted()) return true;  // deleted meanwhile: nothing to recover
  // Copied: the Topic may not outlive the suspensions below (a use after free of its
  // config was the heap corruption long replication sweeps aborted on).
  const Topic& topic = *find(partition.topic());
  const std::string topic_id = protocol::uuid_to_string(topic.id.uuid);
  const config::TopicConfig config = topic.config;
  // The log is suspect: closing it writes nothing, and reopening recovers it.
  (void)partition.log().close();
  if (!still_hosted()) return true;
  auto opened = open_log(directory_of(partition.topic(), partition.index()), topic_id, config,
                         partition.sole_replica);
  if (!opened) return false;
  if (!still_hosted()) {
    (void)opened->first->close();
    return true;
  }
  partition.replace_log(std::move(opened->first), std::move(opened->second));
  // The leader's view was of the old log: the next reconciliation pass starts anew.
  partition.leader.reset();
  partition.recovering = false;
  partition.waiters().notify_all();
  return true;
}

bool Topics::close_all() {
  runtime::MutexGuard guard(mutex_);
  bool clean = true;
  for (const std::shared_ptr<Partition>& partition : partitions()) {
    if (partition->recovering) {
      clean = false;
      continue;
    }
    // Failures here cost only time: the next start replays the log for producer
    // state and recovers the log.
    (void)partition->producers().take_snapshot();
    const bool suspect = partition->log().suspect();
    if (!partition->log().close() || suspect) clean = false;
  }
  return clean;
}

}  // namespace weir::broker
