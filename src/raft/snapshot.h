// Snapshots of the metadata log (KIP-630) in Kafka's own layout, so kafka-dump-log and
// kafka-metadata-shell could read them: a file `<end offset>-<epoch>.checkpoint` in the
// log directory (20 and 10 digits, zero-padded), where the end offset is one past the
// last entry the snapshot covers and the epoch that entry's. The file holds record
// batches: a control batch with a SnapshotHeader record, the state machine's batches
// (for weir: metadata::image_records of the image at the end offset), and a control
// batch with a SnapshotFooter record. Batch offsets count from 0 within the file.
//
// Raft does not know what the payload means; it stores it, serves it to followers that
// are behind its log start (FetchSnapshot), and hands it to the state machine when the
// log alone cannot rebuild the state.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "protocol/wire.h"
#include "raft/types.h"

namespace weir::raft {

inline constexpr std::string_view snapshot_suffix = ".checkpoint";

std::string snapshot_file_name(SnapshotId id);
// The id a file name stands for; nullopt for any other name (a partial download, the
// log's own files).
std::optional<SnapshotId> parse_snapshot_file_name(std::string_view name);

// The whole file for `payload` (whole, uncompressed batches): header, the payload with
// its batches renumbered after the header, footer.
protocol::Bytes frame_snapshot(std::span<const uint8_t> payload, int64_t timestamp_ms);

// Checks a snapshot file's bytes — whole batches with good CRCs, a SnapshotHeader
// first, a SnapshotFooter last and nothing after — and returns the payload between
// them; nullopt if anything is off (a damaged read, a truncated download).
std::optional<std::span<const uint8_t>> snapshot_payload(std::span<const uint8_t> bytes);

}  // namespace weir::raft
