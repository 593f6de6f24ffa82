// Small text files beside the segments, each replaced atomically (write a temporary,
// sync it, rename over the old one, sync the directory), so a crash leaves either the
// old or the new contents, never a mix:
//  - leader-epoch-checkpoint: Kafka's format: "0\n<count>\n" then "<epoch> <start>\n".
//  - log-start-offset: weir's own: "0\n<offset>\n" (version line, then the offset).
//  - partition.metadata: Kafka's: "version: 0\ntopic_id: <id>\n".
// Every function here suspends (disk I/O).
#pragma once

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "runtime/disk.h"
#include "storage/errors.h"

namespace weir::storage {

struct EpochEntry {
  LeaderEpoch epoch;
  Offset start_offset;
  bool operator==(const EpochEntry&) const = default;
};

// Suspends. Replaces `directory/name` with `text`, durably ("" is the data root).
StorageResult<void> write_file_atomically(runtime::Disk& disk, const std::string& directory,
                                          const std::string& name, const std::string& text);
// Suspends. The whole file; not_found when missing.
StorageResult<std::string> read_whole_file(runtime::Disk& disk, const std::string& path);

std::string format_epoch_checkpoint(const std::vector<EpochEntry>& entries);
// Nullopt if the text is not a well-formed checkpoint with increasing epochs and
// non-decreasing start offsets.
std::optional<std::vector<EpochEntry>> parse_epoch_checkpoint(const std::string& text);

std::string format_offset_checkpoint(Offset offset);
std::optional<Offset> parse_offset_checkpoint(const std::string& text);

std::string format_partition_metadata(const std::string& topic_id);
std::optional<std::string> parse_partition_metadata(const std::string& text);

}  // namespace weir::storage
