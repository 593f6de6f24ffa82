#include "broker/topics.h"

#include <algorithm>

#include <fmt/format.h>

#include "base/text.h"
#include "record/crc32c.h"
#include "storage/checkpoint.h"

namespace weir::broker {

using protocol::ErrorCode;

namespace {

constexpr std::string_view kMetaDirectory = "weir-meta";
constexpr std::string_view kTopicsFile = "topics";
constexpr std::string_view kBase64Url =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

Unexpected<ApiError> storage_failure(std::string_view what, storage::StorageError error) {
  return unexpected(ApiError{ErrorCode::kafka_storage_error,
                             fmt::format("{}: {}", what, storage::to_string(error))});
}

// Config values may hold anything but a newline; spaces and '%' are escaped so that a
// line splits on spaces.
std::string escape(std::string_view text) {
  std::string out;
  for (char c : text) {
    if (c == ' ' || c == '%' || c == '\n' || c == '=') {
      out += fmt::format("%{:02X}", static_cast<unsigned char>(c));
    } else {
      out += c;
    }
  }
  return out;
}

std::optional<std::string> unescape(std::string_view text) {
  std::string out;
  for (size_t i = 0; i < text.size(); i++) {
    if (text[i] != '%') {
      out += text[i];
      continue;
    }
    if (i + 2 >= text.size()) return std::nullopt;
    unsigned value = 0;
    for (size_t j = 1; j <= 2; j++) {
      char c = text[i + j];
      value <<= 4;
      if (c >= '0' && c <= '9')
        value |= static_cast<unsigned>(c - '0');
      else if (c >= 'A' && c <= 'F')
        value |= static_cast<unsigned>(c - 'A' + 10);
      else
        return std::nullopt;
    }
    out += static_cast<char>(value);
    i += 2;
  }
  return out;
}

constexpr std::string_view kChecksumPrefix = "# crc32c ";

uint32_t checksum_of(std::string_view text) {
  return record::crc32c(std::span(reinterpret_cast<const uint8_t*>(text.data()), text.size()));
}

// Files before the checksum (weir topics v1) have no such line and are taken as read.
bool checksum_matches(std::string_view text) {
  if (!text.starts_with("# weir topics v2")) return text.starts_with("# weir topics v1");
  const size_t at = text.rfind(kChecksumPrefix);
  if (at == std::string_view::npos || !text.ends_with('\n')) return false;
  auto stored = parse_integer<uint32_t>(
      text.substr(at + kChecksumPrefix.size(), text.size() - 1 - at - kChecksumPrefix.size()));
  return stored && *stored == checksum_of(text.substr(0, at));
}

}  // namespace

std::optional<std::string> invalid_topic_name_reason(std::string_view name) {
  if (name.empty()) return "Topic name is illegal, it can't be empty";
  if (name == "." || name == "..") return "Topic name cannot be \".\" or \"..\"";
  // KRaft's metadata log lives in the same data directory (raft/README.md).
  if (name == "__cluster_metadata") {
    return "Creation of internal topic __cluster_metadata is prohibited.";
  }
  if (name.size() > 249) {
    return fmt::format(
        "Topic name is illegal, it can't be longer than 249 characters, "
        "topic name: {}",
        name);
  }
  for (char c : name) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-';
    if (!ok) {
      return fmt::format(
          "Topic name \"{}\" is illegal, it contains a character other than "
          "ASCII alphanumerics, '.', '_' and '-'",
          name);
    }
  }
  return std::nullopt;
}

std::string uuid_to_base64(const protocol::Uuid& id) {
  std::string out;
  uint32_t buffer = 0;
  int bits = 0;
  for (uint8_t byte : id.bytes) {
    buffer = (buffer << 8) | byte;
    bits += 8;
    while (bits >= 6) {
      bits -= 6;
      out += kBase64Url[(buffer >> bits) & 0x3f];
    }
  }
  if (bits > 0) out += kBase64Url[(buffer << (6 - bits)) & 0x3f];
  return out;  // 22 characters, unpadded, as Kafka prints topic ids
}

std::optional<protocol::Uuid> uuid_from_base64(std::string_view text) {
  if (text.size() != 22) return std::nullopt;
  protocol::Uuid id;
  uint32_t buffer = 0;
  int bits = 0;
  size_t out = 0;
  for (char c : text) {
    size_t value = kBase64Url.find(c);
    if (value == std::string_view::npos) return std::nullopt;
    buffer = (buffer << 6) | static_cast<uint32_t>(value);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      if (out < id.bytes.size()) id.bytes[out++] = static_cast<uint8_t>(buffer >> bits);
    }
  }
  if (out != id.bytes.size()) return std::nullopt;
  return id;
}

Topics::Topics(runtime::Env& env, const BrokerSettings& settings)
    : env_(env), settings_(settings), mutex_(env.scheduler) {}

std::string Topics::directory_of(const std::string& topic, int32_t index) const {
  return fmt::format("{}-{}", topic, index);
}

Result<void, std::string> Topics::load() {
  // The last line is a CRC-32C of the rest: a read corrupted in flight can turn the
  // file into another valid one (a newline flipped made the topic line part of the
  // comment, so the broker forgot its topic and a new one replaced the data:
  // broker_log seed 50). A mismatch is read again; one that persists refuses to start.
  storage::StorageResult<std::string> text = std::string();
  for (int attempt = 0;; attempt++) {
    text = storage::read_whole_file(env_.disk, fmt::format("{}/{}", kMetaDirectory, kTopicsFile));
    if (!text) {
      if (text.error() == storage::StorageError::not_found) return {};
      return unexpected(fmt::format("reading {}: {}", kTopicsFile, to_string(text.error())));
    }
    if (checksum_matches(*text)) break;
    if (attempt == 3) {
      return unexpected(fmt::format("{}/{}: its checksum does not match (damaged)",
                                    kMetaDirectory, kTopicsFile));
    }
  }
  int line_number = 0;
  for (std::string_view line : split_nonempty(*text, '\n')) {
    line_number++;
    if (line[0] == '#') continue;
    std::vector<std::string_view> fields = split_nonempty(line, ' ');
    auto bad = [&](std::string_view why) {
      return unexpected(fmt::format("{} line {}: {}", kTopicsFile, line_number, why));
    };
    if (fields.size() < 3) return bad("expected <name> <id> <partitions>");
    auto topic = std::make_unique<Topic>();
    topic->name = std::string(fields[0]);
    auto id = uuid_from_base64(fields[1]);
    if (!id) return bad("bad topic id");
    topic->id = *id;
    auto count = parse_integer<int32_t>(fields[2]);
    if (!count || *count <= 0) return bad("bad partition count");
    absl::btree_map<std::string, std::string> overrides;
    for (size_t i = 3; i < fields.size(); i++) {
      size_t equals = fields[i].find('=');
      if (equals == std::string_view::npos) return bad("bad config entry");
      auto key = unescape(fields[i].substr(0, equals));
      auto value = unescape(fields[i].substr(equals + 1));
      if (!key || !value) return bad("bad config escape");
      overrides[*key] = *value;
    }
    auto config = config::TopicConfig::make(overrides);
    if (!config) return bad(config.error().message);
    topic->config = std::move(*config);
    for (int32_t index = 0; index < *count; index++) {
      auto partition = open_partition(*topic, index);
      if (!partition) {
        return unexpected(fmt::format("opening {}: {}", directory_of(topic->name, index),
                                      partition.error().message));
      }
      topic->partitions.push_back(std::move(*partition));
    }
    std::string name = topic->name;
    topics_[name] = std::move(topic);
  }
  return {};
}

Result<
    std::pair<std::shared_ptr<storage::PartitionLog>, std::unique_ptr<txn::PartitionProducerState>>,
    ApiError>
Topics::open_log(const std::string& directory, const std::string& topic_id,
                 const config::TopicConfig& config) {
  const storage::LogConfig log_config = config.log_config(settings_.config);
  auto log = storage::PartitionLog::open(env_, directory, log_config);
  if (!log) return storage_failure(directory, log.error());
  std::shared_ptr<storage::PartitionLog> shared = std::move(*log);
  // A different id here is never a reason to drop the data: leftovers of deleted topics
  // are removed before a new topic's directories are named (create, add_partitions),
  // and partition.metadata has no checksum, so a corrupted read of it proves nothing.
  if (shared->topic_id() != topic_id) {
    if (auto written = shared->set_topic_id(topic_id); !written) {
      return storage_failure(directory, written.error());
    }
  }
  // On one node everything in the log after recovery is durable (recovery fsyncs what
  // it keeps), so the whole log is committed.
  shared->set_high_watermark(shared->log_end_offset());
  txn::ProducerStateConfig producer_config;
  producer_config.producer_id_expiration_ms = settings_.config.producer_id_expiration_ms;
  auto producers = txn::PartitionProducerState::open(
      storage::StorageEnv{env_.scheduler, env_.clock, env_.disk}, *shared,
      env_.clock.wall_now().milliseconds, producer_config);
  if (!producers) return storage_failure(directory, producers.error());
  return std::pair{std::move(shared), std::move(*producers)};
}

Result<std::shared_ptr<Partition>, ApiError> Topics::open_partition(const Topic& topic,
                                                                    int32_t index) {
  auto opened = open_log(directory_of(topic.name, index), uuid_to_base64(topic.id), topic.config);
  if (!opened) return unexpected(opened.error());
  return std::make_shared<Partition>(env_.scheduler, topic.name, index, std::move(opened->first),
                                     std::move(opened->second),
                                     topic.config.flush_policy(settings_.config));
}

bool Topics::delete_directory(const std::string& directory) {
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

Topic* Topics::find(std::string_view name) {
  auto it = topics_.find(name);
  return it == topics_.end() ? nullptr : it->second.get();
}

Topic* Topics::find(const protocol::Uuid& id) {
  for (auto& [name, topic] : topics_) {
    if (topic->id == id) return topic.get();
  }
  return nullptr;
}

std::shared_ptr<Partition> Topics::partition(std::string_view topic_name, int32_t index) {
  Topic* topic = find(topic_name);
  if (topic == nullptr || index < 0 || static_cast<size_t>(index) >= topic->partitions.size()) {
    return nullptr;
  }
  return topic->partitions[static_cast<size_t>(index)];
}

Topics::TopicLines Topics::lines() const {
  TopicLines lines;
  for (const auto& [name, topic] : topics_) {
    lines[name] = TopicLine{topic->id, static_cast<int32_t>(topic->partitions.size()),
                            topic->config.overrides()};
  }
  return lines;
}

Result<void, ApiError> Topics::persist(const TopicLines& lines) {
  std::string text = "# weir topics v2: <name> <id> <partitions> [<key>=<value> ...]\n";
  for (const auto& [name, line] : lines) {
    text += fmt::format("{} {} {}", name, uuid_to_base64(line.id), line.partitions);
    for (const auto& [key, value] : line.configs) {
      text += fmt::format(" {}={}", escape(key), escape(value));
    }
    text += '\n';
  }
  text += fmt::format("{}{}\n", kChecksumPrefix, checksum_of(text));
  // The directory's entry in the root must be durable too, or a power loss can take
  // the topics file with it, and the topics with it (broker_log seed 31).
  auto made = env_.disk.make_directories(std::string(kMetaDirectory));
  if (made) made = env_.disk.sync_directory("");
  if (!made) {
    return unexpected(
        ApiError{ErrorCode::kafka_storage_error,
                 fmt::format("creating {}: {}", kMetaDirectory, runtime::to_string(made.error()))});
  }
  if (auto written = storage::write_file_atomically(env_.disk, std::string(kMetaDirectory),
                                                    std::string(kTopicsFile), text);
      !written) {
    return storage_failure("writing the topics file", written.error());
  }
  return {};
}

// Each change below persists the new topics file first, then opens or closes logs, and
// only then changes what other fibers see: a topic appears with all its partitions open
// or not at all.

Result<Topic*, ApiError> Topics::create(const std::string& name, int32_t partitions,
                                        config::TopicConfig config,
                                        std::optional<protocol::Uuid> id) {
  VERIFY(partitions > 0);
  runtime::MutexGuard guard(mutex_);
  if (find(name) != nullptr) {
    return unexpected(
        ApiError{ErrorCode::topic_already_exists, fmt::format("Topic '{}' already exists.", name)});
  }
  auto topic = std::make_unique<Topic>();
  topic->name = name;
  if (id) {
    topic->id = *id;
  } else {
    for (size_t i = 0; i < topic->id.bytes.size(); i += 8) {
      const uint64_t word = env_.random.next();
      for (size_t j = 0; j < 8; j++) {
        topic->id.bytes[i + j] = static_cast<uint8_t>(word >> (8 * j));
      }
    }
  }
  topic->config = std::move(config);
  // A deleted topic of the same name may have left directories behind (a crash during
  // its deletion): they go, durably, before the topics file names the new partitions.
  for (int32_t index = 0; index < partitions; index++) {
    if (!delete_directory(directory_of(name, index))) {
      return unexpected(ApiError{ErrorCode::kafka_storage_error,
                                 "could not remove a deleted topic's leftover directory"});
    }
  }
  TopicLines next = lines();
  next[name] = TopicLine{topic->id, partitions, topic->config.overrides()};
  if (auto persisted = persist(next); !persisted) return unexpected(persisted.error());
  for (int32_t index = 0; index < partitions; index++) {
    auto partition = open_partition(*topic, index);
    if (!partition) return unexpected(partition.error());
    topic->partitions.push_back(std::move(*partition));
  }
  Topic* raw = topic.get();
  topics_[name] = std::move(topic);
  return raw;
}

Result<void, ApiError> Topics::remove(const std::string& name) {
  runtime::MutexGuard guard(mutex_);
  if (find(name) == nullptr) {
    return unexpected(ApiError{ErrorCode::unknown_topic_or_partition,
                               "This server does not host this topic-partition."});
  }
  // Forget it durably first: a crash now leaves directories that load() ignores and
  // that a new topic of the name deletes before naming its own (create).
  TopicLines next = lines();
  next.erase(name);
  if (auto persisted = persist(next); !persisted) return unexpected(persisted.error());
  auto it = topics_.find(name);
  std::unique_ptr<Topic> topic = std::move(it->second);
  topics_.erase(it);
  for (auto& partition : topic->partitions) {
    (void)partition->log().close();  // its files go next: a failed flush loses nothing
    // A failure leaves a directory the topics file no longer names: a later topic of
    // the same name removes it before use.
    (void)delete_directory(directory_of(name, partition->index()));
    partition->waiters().notify_all();
  }
  return {};
}

Result<void, ApiError> Topics::add_partitions(const std::string& name, int32_t count) {
  runtime::MutexGuard guard(mutex_);
  Topic* topic = find(name);
  if (topic == nullptr) {
    return unexpected(ApiError{ErrorCode::unknown_topic_or_partition,
                               fmt::format("The topic '{}' does not exist.", name)});
  }
  const auto current = static_cast<int32_t>(topic->partitions.size());
  VERIFY(count > current);
  for (int32_t index = current; index < count; index++) {
    if (!delete_directory(directory_of(name, index))) {
      return unexpected(ApiError{ErrorCode::kafka_storage_error,
                                 "could not remove a deleted topic's leftover directory"});
    }
  }
  TopicLines next = lines();
  next[name].partitions = count;
  if (auto persisted = persist(next); !persisted) return unexpected(persisted.error());
  std::vector<std::shared_ptr<Partition>> added;
  for (int32_t index = current; index < count; index++) {
    auto partition = open_partition(*topic, index);
    if (!partition) return unexpected(partition.error());
    added.push_back(std::move(*partition));
  }
  for (auto& partition : added) topic->partitions.push_back(std::move(partition));
  return {};
}

Result<void, ApiError> Topics::set_config(const std::string& name, config::TopicConfig config) {
  runtime::MutexGuard guard(mutex_);
  Topic* topic = find(name);
  if (topic == nullptr) {
    return unexpected(ApiError{ErrorCode::unknown_topic_or_partition,
                               fmt::format("The topic '{}' does not exist.", name)});
  }
  TopicLines next = lines();
  next[name].configs = config.overrides();
  if (auto persisted = persist(next); !persisted) return unexpected(persisted.error());
  topic->config = std::move(config);
  for (auto& partition : topic->partitions) {
    partition->flush = topic->config.flush_policy(settings_.config);
  }
  // Log settings (segment size, retention) apply from the next open of each log, as
  // segment settings do in Kafka from the next roll; reopening now would stall
  // producers for a recovery.
  return {};
}

bool Topics::recover(Partition& partition) {
  partition.recovering = true;
  Topic* topic = find(partition.topic());
  if (topic == nullptr) return true;  // deleted meanwhile: nothing to recover
  // The log is suspect: closing it writes nothing, and reopening recovers it.
  (void)partition.log().close();
  auto opened = open_log(directory_of(partition.topic(), partition.index()),
                         uuid_to_base64(topic->id), topic->config);
  if (!opened) return false;
  partition.replace_log(std::move(opened->first), std::move(opened->second));
  partition.recovering = false;
  partition.waiters().notify_all();
  return true;
}

void Topics::close_all() {
  runtime::MutexGuard guard(mutex_);
  for (auto& [name, topic] : topics_) {
    for (auto& partition : topic->partitions) {
      if (partition->recovering) continue;
      // Failures here cost only time: the next start replays the log for producer
      // state and recovers the log.
      (void)partition->producers().take_snapshot();
      (void)partition->log().close();
    }
  }
}

}  // namespace weir::broker
