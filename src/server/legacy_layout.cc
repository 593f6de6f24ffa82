#include "server/legacy_layout.h"

#include <charconv>

#include <fmt/format.h>

#include "base/text.h"
#include "protocol/uuid_text.h"
#include "record/crc32c.h"
#include "storage/checkpoint.h"

namespace weir::server {

namespace {

constexpr std::string_view kDirectory = "weir-meta";
constexpr std::string_view kTopicsFile = "weir-meta/topics";
constexpr std::string_view kProducerIdsFile = "weir-meta/producer-ids";
constexpr std::string_view kChecksumPrefix = "# crc32c ";

std::optional<std::string> unescape(std::string_view text) {
  std::string out;
  for (size_t i = 0; i < text.size(); i++) {
    if (text[i] != '%') {
      out += text[i];
      continue;
    }
    if (i + 2 >= text.size()) return std::nullopt;
    uint8_t value = 0;
    const char* digits = text.data() + i + 1;
    auto [end, error] = std::from_chars(digits, digits + 2, value, 16);
    if (error != std::errc() || end != digits + 2) return std::nullopt;
    out += static_cast<char>(value);
    i += 2;
  }
  return out;
}

bool checksum_matches(std::string_view text) {
  if (!text.starts_with("# weir topics v2")) return text.starts_with("# weir topics v1");
  const size_t at = text.rfind(kChecksumPrefix);
  if (at == std::string_view::npos || !text.ends_with('\n')) return false;
  auto stored = parse_integer<uint32_t>(
      text.substr(at + kChecksumPrefix.size(), text.size() - 1 - at - kChecksumPrefix.size()));
  const std::string_view covered = text.substr(0, at);
  return stored &&
         *stored == record::crc32c(std::span(reinterpret_cast<const uint8_t*>(covered.data()),
                                             covered.size()));
}

Result<std::vector<metadata::LegacyTopic>, std::string> parse_topics(const std::string& text) {
  std::vector<metadata::LegacyTopic> topics;
  int line_number = 0;
  for (std::string_view line : split_nonempty(text, '\n')) {
    line_number++;
    if (line[0] == '#') continue;
    auto bad = [&](std::string_view why) {
      return unexpected(fmt::format("{} line {}: {}", kTopicsFile, line_number, why));
    };
    std::vector<std::string_view> fields = split_nonempty(line, ' ');
    if (fields.size() < 3) return bad("expected <name> <id> <partitions>");
    metadata::LegacyTopic topic;
    topic.name = std::string(fields[0]);
    auto id = protocol::uuid_from_string(fields[1]);
    if (!id || *id == protocol::Uuid{}) return bad("bad topic id");
    topic.id = metadata::TopicId{*id};
    auto count = parse_integer<int32_t>(fields[2]);
    if (!count || *count <= 0) return bad("bad partition count");
    topic.partitions = *count;
    for (size_t i = 3; i < fields.size(); i++) {
      const size_t equals = fields[i].find('=');
      if (equals == std::string_view::npos) return bad("bad config entry");
      auto key = unescape(fields[i].substr(0, equals));
      auto value = unescape(fields[i].substr(equals + 1));
      if (!key || !value) return bad("bad config escape");
      topic.configs[*key] = *value;
    }
    topics.push_back(std::move(topic));
  }
  return topics;
}

}  // namespace

Result<LegacyLayout, std::string> read_legacy_layout(runtime::Disk& disk) {
  LegacyLayout layout;
  // A read corrupted in flight can turn the file into another valid one: a mismatch is
  // read again, and one that persists refuses to start.
  for (int attempt = 0;; attempt++) {
    auto text = storage::read_whole_file(disk, std::string(kTopicsFile));
    if (!text) {
      if (text.error() == storage::StorageError::not_found) break;
      return unexpected(fmt::format("reading {}: {}", kTopicsFile, to_string(text.error())));
    }
    if (checksum_matches(*text)) {
      auto topics = parse_topics(*text);
      if (!topics) return unexpected(topics.error());
      layout.present = true;
      layout.topics = std::move(*topics);
      break;
    }
    if (attempt == 3) {
      return unexpected(fmt::format("{}: its checksum does not match (damaged)", kTopicsFile));
    }
  }
  auto ids = storage::read_whole_file(disk, std::string(kProducerIdsFile));
  if (ids) {
    auto next = storage::parse_offset_checkpoint(*ids);
    if (!next || next->value() < 0) return unexpected(fmt::format("{}: damaged", kProducerIdsFile));
    layout.present = true;
    layout.next_producer_id = metadata::ProducerId(next->value());
  } else if (ids.error() != storage::StorageError::not_found) {
    return unexpected(fmt::format("reading {}: {}", kProducerIdsFile, to_string(ids.error())));
  }
  return layout;
}

Result<void, std::string> remove_legacy_layout(runtime::Disk& disk) {
  for (std::string_view name : {kTopicsFile, kProducerIdsFile}) {
    if (auto removed = disk.remove(std::string(name));
        !removed && removed.error() != runtime::IoError::not_found) {
      return unexpected(fmt::format("removing {}: {}", name, runtime::to_string(removed.error())));
    }
  }
  auto synced = disk.sync_directory(std::string(kDirectory));
  if (synced) synced = disk.remove(std::string(kDirectory));
  if (synced) synced = disk.sync_directory("");
  if (!synced && synced.error() != runtime::IoError::not_found) {
    return unexpected(
        fmt::format("removing {}: {}", kDirectory, runtime::to_string(synced.error())));
  }
  return {};
}

}  // namespace weir::server
