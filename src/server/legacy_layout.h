// The data directory of a weir from before the metadata log held every topic: a lone
// node kept its topics in `weir-meta/topics` and its producer-id blocks in
// `weir-meta/producer-ids`, and a cluster's brokers kept a copy of their topics there.
// A node of this weir reads those files once at start: a lone node's controller adopts
// the topics into the metadata log under their old ids (their logs stay where they
// are), then the files go.
//
// The topics file, as written then: a header line, one line per topic
//   <name> <topic id, base64url> <partition count> [<key>=<value> ...]
// (spaces, '%', '=' and newlines in keys and values escaped as %XX), and a last line
// "# crc32c <checksum of everything before it>" (files of its first version had none).
#pragma once

#include <string>
#include <vector>

#include "base/result.h"
#include "metadata/controller.h"
#include "runtime/disk.h"

namespace weir::server {

struct LegacyLayout {
  bool present = false;
  std::vector<metadata::LegacyTopic> topics;
  // One past every producer id the old node may have handed out.
  metadata::ProducerId next_producer_id{0};
};

// Suspends. Reads the old files; `present` is false when there are none. The error
// names the damaged file.
Result<LegacyLayout, std::string> read_legacy_layout(runtime::Disk& disk);

// Suspends. Removes the old files and their directory, durably.
Result<void, std::string> remove_legacy_layout(runtime::Disk& disk);

}  // namespace weir::server
