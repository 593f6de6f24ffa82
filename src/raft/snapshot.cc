#include "raft/snapshot.h"

#include <fmt/format.h>

#include "base/assert.h"
#include "base/text.h"
#include "raft/wire.h"
#include "record/batch.h"

namespace weir::raft {

namespace {

// Whether `batch` is a control batch of exactly one record of `type`.
bool is_control_of(const record::BatchView& batch, record::ControlType type) {
  if (!batch.header.is_control() || batch.header.records_count != 1) return false;
  // Control batches are never compressed: the section is the batch's own bytes.
  record::Bytes scratch;
  auto section = record::records_section(batch, batch.bytes.size(), scratch);
  if (!section) return false;
  record::RecordCursor cursor(*section, 1);
  record::RecordView record;
  auto next = cursor.next(record);
  if (!next || !*next) return false;
  auto found = record::read_control_type(record);
  return found && *found == type;
}

}  // namespace

std::string snapshot_file_name(SnapshotId id) {
  return fmt::format("{:020}-{:010}{}", id.offset.value(), id.epoch.value(), snapshot_suffix);
}

std::optional<SnapshotId> parse_snapshot_file_name(std::string_view name) {
  if (name.size() != 20 + 1 + 10 + snapshot_suffix.size() || !name.ends_with(snapshot_suffix) ||
      name[20] != '-') {
    return std::nullopt;
  }
  auto digits = [](std::string_view text) {
    return text.find_first_not_of("0123456789") == std::string_view::npos;
  };
  const std::string_view offset = name.substr(0, 20);
  const std::string_view epoch = name.substr(21, 10);
  if (!digits(offset) || !digits(epoch)) return std::nullopt;
  auto parsed_offset = parse_integer<int64_t>(offset);
  auto parsed_epoch = parse_integer<int32_t>(epoch);
  if (!parsed_offset || !parsed_epoch) return std::nullopt;
  return SnapshotId{Offset(*parsed_offset), Epoch(*parsed_epoch)};
}

protocol::Bytes frame_snapshot(std::span<const uint8_t> payload, int64_t timestamp_ms) {
  // SnapshotHeaderRecord v0: version int16, last contained log timestamp int64, no
  // tagged fields. SnapshotFooterRecord v0: version int16, no tagged fields.
  protocol::Bytes header_value(2 + 8 + 1, 0);
  for (int i = 0; i < 8; i++) {
    header_value[2 + i] = static_cast<uint8_t>(static_cast<uint64_t>(timestamp_ms) >> (56 - 8 * i));
  }
  protocol::Bytes out = control_batch(record::ControlType::snapshot_header, std::move(header_value),
                                      record::Offset(0), timestamp_ms);
  record::Offset next(1);
  auto batches = record::split_batches(payload);
  VERIFY(batches.ok(), "a snapshot's payload is whole batches");
  for (const record::BatchView& batch : *batches) {
    const size_t at = out.size();
    out.insert(out.end(), batch.bytes.begin(), batch.bytes.end());
    record::set_base_offset(std::span(out).subspan(at), next);
    next = next + (batch.header.last_offset_delta + 1);
  }
  protocol::Bytes footer = control_batch(record::ControlType::snapshot_footer,
                                         protocol::Bytes(2 + 1, 0), next, timestamp_ms);
  out.insert(out.end(), footer.begin(), footer.end());
  return out;
}

std::optional<std::span<const uint8_t>> snapshot_payload(std::span<const uint8_t> bytes) {
  auto batches = record::split_batches(bytes);
  if (!batches || batches->size() < 2) return std::nullopt;
  const auto& first = batches->front();
  const auto& last = batches->back();
  if (!is_control_of(first, record::ControlType::snapshot_header) ||
      !is_control_of(last, record::ControlType::snapshot_footer)) {
    return std::nullopt;
  }
  // The base offset is outside the CRC: a flipped bit there is caught here.
  record::Offset expected(0);
  for (const record::BatchView& batch : *batches) {
    if (batch.header.base_offset != expected) return std::nullopt;
    expected = batch.header.last_offset().next();
  }
  const size_t begin = first.bytes.size();
  const size_t end = bytes.size() - last.bytes.size();
  return bytes.subspan(begin, end - begin);
}

}  // namespace weir::raft
