#include "storage/checkpoint.h"

#include <charconv>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

#include <fmt/format.h>

#include "base/assert.h"

namespace weir::storage {
namespace {

StorageError from_io(runtime::IoError error) {
  switch (error) {
    case runtime::IoError::no_space: return StorageError::no_space;
    case runtime::IoError::not_found: return StorageError::not_found;
    default: return StorageError::io;
  }
}

// Splits on '\n'; a trailing newline does not make an empty last line.
std::vector<std::string_view> lines_of(std::string_view text) {
  VERIFY(text.size() < (1u << 30), "checkpoints are small");
  std::vector<std::string_view> lines;
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string_view::npos) end = text.size();
    lines.push_back(text.substr(start, end - start));
    start = end + 1;
  }
  VERIFY(lines.size() <= text.size(), "at most one line per byte");
  return lines;
}

template <typename Int>
std::optional<Int> parse_int(std::string_view text) {
  Int value{};
  auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return value;
}

}  // namespace

StorageResult<void> write_file_atomically(runtime::Disk& disk, const std::string& directory,
                                          const std::string& name, const std::string& text) {
  VERIFY(!name.empty(), "a checkpoint needs a name");
  VERIFY(name.find('/') == std::string::npos, "name {} is a file name, not a path", name);
  // "" is the data root.
  const std::string path = directory.empty() ? name : directory + "/" + name;
  const std::string temporary = path + ".tmp";
  auto file = disk.open(temporary, runtime::OpenMode::create);
  if (!file) return unexpected(from_io(file.error()));
  // A leftover temporary from a crash may be longer than the new text.
  if (auto truncated = (*file)->truncate(0); !truncated) {
    return unexpected(from_io(truncated.error()));
  }
  const std::span<const std::byte> bytes{reinterpret_cast<const std::byte*>(text.data()),
                                         text.size()};
  if (auto written = (*file)->write_at(0, bytes); !written) {
    return unexpected(from_io(written.error()));
  }
  if (auto synced = (*file)->sync(); !synced) return unexpected(from_io(synced.error()));
  (*file)->close();
  if (auto renamed = disk.rename(temporary, path); !renamed) {
    return unexpected(from_io(renamed.error()));
  }
  if (auto synced = disk.sync_directory(directory); !synced) {
    return unexpected(from_io(synced.error()));
  }
  return {};
}

StorageResult<std::string> read_whole_file(runtime::Disk& disk, const std::string& path) {
  VERIFY(!path.empty());
  auto file = disk.open(path, runtime::OpenMode::read_write);
  if (!file) return unexpected(from_io(file.error()));
  auto size = (*file)->size();
  if (!size) return unexpected(from_io(size.error()));
  VERIFY(*size < (1u << 30), "checkpoint {} is implausibly large", path);
  std::string text(*size, '\0');
  auto read = (*file)->read_at(0, {reinterpret_cast<std::byte*>(text.data()), text.size()});
  if (!read) return unexpected(from_io(read.error()));
  text.resize(*read);
  (*file)->close();
  return text;
}

std::string format_epoch_checkpoint(const std::vector<EpochEntry>& entries) {
  std::string text = fmt::format("0\n{}\n", entries.size());
  for (const EpochEntry& entry : entries) {
    text += fmt::format("{} {}\n", entry.epoch, entry.start_offset);
  }
  VERIFY(!text.empty());
  return text;
}

std::optional<std::vector<EpochEntry>> parse_epoch_checkpoint(const std::string& text) {
  const auto lines = lines_of(text);
  if (lines.size() < 2 || lines[0] != "0") return std::nullopt;
  const auto count = parse_int<size_t>(lines[1]);
  if (!count || *count != lines.size() - 2) return std::nullopt;
  std::vector<EpochEntry> entries;
  for (size_t i = 2; i < lines.size(); i++) {
    const size_t space = lines[i].find(' ');
    if (space == std::string_view::npos) return std::nullopt;
    const auto epoch = parse_int<int32_t>(lines[i].substr(0, space));
    const auto start = parse_int<int64_t>(lines[i].substr(space + 1));
    if (!epoch || !start || *epoch < 0 || *start < 0) return std::nullopt;
    const EpochEntry entry{LeaderEpoch(*epoch), Offset(*start)};
    if (!entries.empty() && (entry.epoch <= entries.back().epoch ||
                             entry.start_offset < entries.back().start_offset)) {
      return std::nullopt;
    }
    entries.push_back(entry);
  }
  VERIFY(entries.size() == *count);
  return entries;
}

std::string format_offset_checkpoint(Offset offset) {
  VERIFY(offset >= Offset(0), "offset {} is negative", offset);
  return fmt::format("0\n{}\n", offset);
}

std::optional<Offset> parse_offset_checkpoint(const std::string& text) {
  const auto lines = lines_of(text);
  if (lines.size() != 2 || lines[0] != "0") return std::nullopt;
  const auto offset = parse_int<int64_t>(lines[1]);
  if (!offset || *offset < 0) return std::nullopt;
  VERIFY(*offset >= 0);
  return Offset(*offset);
}

std::string format_partition_metadata(const std::string& topic_id) {
  VERIFY(!topic_id.empty());
  VERIFY(topic_id.find('\n') == std::string::npos, "a topic id is one line");
  return fmt::format("version: 0\ntopic_id: {}\n", topic_id);
}

std::optional<std::string> parse_partition_metadata(const std::string& text) {
  const auto lines = lines_of(text);
  VERIFY(lines.size() <= text.size());
  if (lines.size() != 2 || lines[0] != "version: 0") return std::nullopt;
  constexpr std::string_view prefix = "topic_id: ";
  if (!lines[1].starts_with(prefix) || lines[1].size() == prefix.size()) return std::nullopt;
  return std::string(lines[1].substr(prefix.size()));
}

}  // namespace weir::storage
