#include "txn/producer_state.h"

#include <algorithm>
#include <limits>
#include <utility>

#include "base/assert.h"
#include "base/big_endian.h"
#include "record/crc32c.h"

namespace weir::txn {
namespace {

constexpr int16_t kSnapshotVersion = 1;
// Kafka's ProducerStateManager: version int16 at 0, CRC uint32 at 2, entries from 6.
constexpr size_t kSnapshotCrcOffset = 2;
constexpr size_t kSnapshotEntriesOffset = 6;
constexpr size_t kSnapshotHeaderBytes = kSnapshotEntriesOffset + 4;  // + entry count
constexpr size_t kSnapshotEntryBytes = 8 + 2 + 4 + 8 + 4 + 8 + 4 + 8;
static_assert(kSnapshotEntryBytes == 46, "ProducerSnapshot.json v1 entry layout");
static_assert(kSnapshotEntriesOffset == kSnapshotCrcOffset + 4, "the CRC covers all after it");

template <typename Int>
void put(record::Bytes& out, Int value) {
  append_big_endian<Int>(out, value);
}

template <typename Int>
Int get(std::span<const uint8_t> bytes, size_t& position) {
  VERIFY(position + sizeof(Int) <= bytes.size(), "read past the end of a checked span");
  const Int value = load_big_endian<Int>(bytes.data() + position);
  position += sizeof(Int);
  return value;
}

}  // namespace

Sequence increment_sequence(Sequence sequence, int32_t increment) {
  VERIFY(increment >= 0, "increment {} is negative", increment);
  constexpr int32_t max = std::numeric_limits<int32_t>::max();
  if (sequence.value() > max - increment) return Sequence(increment - (max - sequence.value()) - 1);
  return Sequence(sequence.value() + increment);
}

Sequence decrement_sequence(Sequence sequence, int32_t decrement) {
  VERIFY(decrement >= 0, "decrement {} is negative", decrement);
  constexpr int32_t max = std::numeric_limits<int32_t>::max();
  if (sequence.value() < decrement) return Sequence(max - (decrement - sequence.value()) + 1);
  return Sequence(sequence.value() - decrement);
}

bool in_sequence(Sequence last, Sequence next) {
  // Widened as Kafka does (lastSeq + 1L), so INT32_MAX + 1 is never a valid next.
  return static_cast<int64_t>(next.value()) == static_cast<int64_t>(last.value()) + 1 ||
         (next == Sequence(0) && last == Sequence(std::numeric_limits<int32_t>::max()));
}

ProducerBatch ProducerBatch::from_header(const record::BatchHeader& header) {
  VERIFY(header.last_offset_delta >= 0, "a validated batch has a non-negative offset delta");
  ProducerBatch batch;
  batch.producer_id = header.producer_id;
  batch.producer_epoch = header.producer_epoch;
  batch.base_sequence = header.base_sequence;
  batch.last_sequence = header.base_sequence == kNoSequence
                            ? kNoSequence
                            : increment_sequence(header.base_sequence, header.last_offset_delta);
  batch.first_offset = header.base_offset;
  batch.last_offset = header.last_offset();
  batch.max_timestamp = header.max_timestamp;
  batch.is_transactional = header.is_transactional();
  batch.is_control = header.is_control();
  return batch;
}

record::Result<ProducerBatch> ProducerBatch::from_batch(const record::BatchView& view) {
  ProducerBatch batch = from_header(view.header);
  if (!view.header.is_control() || view.header.records_count == 0) return batch;
  // Control batches are never compressed, so the section is the batch's own bytes and
  // no scratch buffer is used.
  record::Bytes scratch;
  auto section = record::records_section(view, 1 << 20, scratch);
  if (!section) return weir::unexpected(section.error());
  record::RecordCursor cursor(*section, view.header.records_count);
  record::RecordView first;
  auto next = cursor.next(first);
  if (!next) return weir::unexpected(next.error());
  if (!*next) return weir::unexpected(record::RecordError::invalid_record_count);
  auto type = record::read_control_type(first);
  if (!type) return weir::unexpected(type.error());
  if (*type == record::ControlType::abort || *type == record::ControlType::commit) {
    auto marker = record::read_end_txn_marker(first);
    if (!marker) return weir::unexpected(marker.error());
    batch.end_txn_coordinator_epoch = marker->coordinator_epoch;
  }
  return batch;
}

std::string_view to_string(Verdict verdict) {
  switch (verdict) {
    case Verdict::accept: return "accept";
    case Verdict::duplicate: return "duplicate";
    case Verdict::out_of_order_sequence: return "out_of_order_sequence";
    case Verdict::invalid_producer_epoch: return "invalid_producer_epoch";
    case Verdict::invalid_txn_state: return "invalid_txn_state";
    case Verdict::transaction_coordinator_fenced: return "transaction_coordinator_fenced";
  }
  UNREACHABLE("verdict {}", static_cast<int>(verdict));
}

int16_t kafka_error_code(Verdict verdict) {
  switch (verdict) {
    case Verdict::accept: return 0;
    case Verdict::duplicate: return 0;
    case Verdict::out_of_order_sequence: return 45;
    case Verdict::invalid_producer_epoch: return 47;
    case Verdict::invalid_txn_state: return 48;
    case Verdict::transaction_coordinator_fenced: return 52;
  }
  UNREACHABLE("verdict {}", static_cast<int>(verdict));
}

std::string_view to_string(SnapshotError error) {
  switch (error) {
    case SnapshotError::too_short: return "too_short";
    case SnapshotError::unknown_version: return "unknown_version";
    case SnapshotError::crc_mismatch: return "crc_mismatch";
    case SnapshotError::bad_length: return "bad_length";
    case SnapshotError::bad_entry: return "bad_entry";
  }
  UNREACHABLE("snapshot error {}", static_cast<int>(error));
}

// ---- check ---------------------------------------------------------------------------

CheckResult ProducerStateTable::check_entry(const ProducerEntry* entry,
                                            const ProducerBatch& batch) {
  if (!batch.has_producer_id()) return {};
  const ProducerEpoch current_epoch = entry ? entry->epoch : kNoProducerEpoch;

  // A retry of one of the last 5 batches (same epoch, same sequence range) is answered
  // with the offsets it got the first time (UnifiedLog.analyzeAndValidateProducerState).
  if (entry && !batch.is_control && batch.producer_epoch == entry->epoch) {
    for (const BatchMetadata& retained : entry->batches) {
      if (retained.first_sequence() == batch.base_sequence &&
          retained.last_sequence == batch.last_sequence) {
        return CheckResult{Verdict::duplicate, retained.first_offset(), retained.last_offset,
                           retained.timestamp};
      }
    }
  }

  // Kafka answers a stale epoch on Produce with INVALID_PRODUCER_EPOCH since 2.7 (not
  // PRODUCER_FENCED, which the transaction coordinator returns), so the client can abort
  // and retry instead of dying.
  if (batch.producer_epoch < current_epoch) return {Verdict::invalid_producer_epoch};

  if (batch.is_control) {
    // A transaction marker (written by the coordinator): only its coordinator epoch is
    // checked beyond the producer epoch.
    if (entry && batch.end_txn_coordinator_epoch &&
        *batch.end_txn_coordinator_epoch < entry->coordinator_epoch) {
      return {Verdict::transaction_coordinator_fenced};
    }
    return {};
  }

  if (batch.producer_epoch != current_epoch) {
    // A new epoch must start at sequence 0 — unless the producer is unknown here (never
    // seen, expired, or its batches all removed by retention or DeleteRecords): then
    // Kafka (since KIP-360, 2.5) accepts any sequence and never answers
    // UNKNOWN_PRODUCER_ID to a Produce request.
    if (batch.base_sequence != Sequence(0) && current_epoch != kNoProducerEpoch) {
      return {Verdict::out_of_order_sequence};
    }
  } else {
    VERIFY(entry != nullptr, "a known epoch implies an entry");
    const Sequence last = entry->last_sequence();
    if (!in_sequence(last, batch.base_sequence)) return {Verdict::out_of_order_sequence};
  }

  if (entry && entry->current_txn_first_offset && !batch.is_transactional) {
    return {Verdict::invalid_txn_state};
  }
  return {};
}

CheckResult ProducerStateTable::check(const ProducerBatch& batch) const {
  return check_entry(find(batch.producer_id), batch);
}

std::pair<CheckResult, size_t> ProducerStateTable::check_all(
    std::span<const ProducerBatch> batches) const {
  // Entries the request changed so far, applied to copies: the table stays untouched.
  absl::btree_map<ProducerId, ProducerEntry> pending;
  for (size_t i = 0; i < batches.size(); i++) {
    const ProducerBatch& batch = batches[i];
    if (!batch.has_producer_id()) continue;
    auto it = pending.find(batch.producer_id);
    const ProducerEntry* entry = it != pending.end() ? &it->second : find(batch.producer_id);
    CheckResult result = check_entry(entry, batch);
    if (!result.accepted()) return {result, i};
    if (it == pending.end()) {
      it = pending.emplace(batch.producer_id, entry ? *entry : ProducerEntry{}).first;
    }
    apply(it->second, batch);
  }
  return {CheckResult{}, batches.size()};
}

// ---- record ----------------------------------------------------------------------------

void ProducerStateTable::apply(ProducerEntry& entry, const ProducerBatch& batch) {
  VERIFY(batch.has_producer_id());
  VERIFY(batch.last_offset >= batch.first_offset, "batch offsets {}..{}", batch.first_offset,
         batch.last_offset);
  if (batch.is_control && !batch.end_txn_coordinator_epoch) return;
  // A new epoch forgets the old one's batches (ProducerStateEntry.maybeUpdateProducerEpoch).
  if (entry.epoch != batch.producer_epoch) {
    entry.batches.clear();
    entry.epoch = batch.producer_epoch;
  }
  if (batch.is_control) {
    entry.last_marker_offset = batch.last_offset;
    if (batch.end_txn_coordinator_epoch) {
      entry.coordinator_epoch = *batch.end_txn_coordinator_epoch;
      entry.current_txn_first_offset.reset();
    }
    entry.last_timestamp = batch.max_timestamp;
    return;
  }
  if (entry.batches.size() == kBatchesRetained) entry.batches.erase(entry.batches.begin());
  const int64_t delta = batch.last_offset - batch.first_offset;
  VERIFY(delta <= std::numeric_limits<int32_t>::max(), "batch spans {} offsets", delta);
  entry.batches.push_back(BatchMetadata{batch.last_sequence, batch.last_offset,
                                        static_cast<int32_t>(delta), batch.max_timestamp});
  entry.last_timestamp = batch.max_timestamp;
  if (batch.is_transactional && !entry.current_txn_first_offset) {
    entry.current_txn_first_offset = batch.first_offset;
  }
  VERIFY(entry.batches.size() <= kBatchesRetained);
}

void ProducerStateTable::record(const ProducerBatch& batch) {
  VERIFY(batch.first_offset >= end_offset_, "batch at {} recorded below the table's end {}",
         batch.first_offset, end_offset_);
  end_offset_ = batch.last_offset.next();
  if (!batch.has_producer_id()) return;
  // A control batch that is not a transaction marker (or an empty one, whose
  // transaction the cleaner removed) changes no producer's state, as in Kafka.
  if (batch.is_control && !batch.end_txn_coordinator_epoch) return;
  apply(producers_[batch.producer_id], batch);
  VERIFY(producers_.contains(batch.producer_id));
}

// ---- truncation and expiry ---------------------------------------------------------

bool ProducerStateTable::truncate_to(Offset offset) {
  VERIFY(offset >= Offset(0), "offset {}", offset);
  if (offset >= end_offset_) return true;
  bool exact = true;
  for (auto it = producers_.begin(); it != producers_.end();) {
    ProducerEntry& entry = it->second;
    if (entry.last_change_offset() < offset) {
      ++it;
      continue;
    }
    // A cut marker changed epochs or transaction state in a way no longer known.
    if (entry.last_marker_offset >= offset) exact = false;
    std::erase_if(entry.batches, [&](const BatchMetadata& b) { return b.last_offset >= offset; });
    // With no batch left, the sequence (and maybe epoch) before `offset` is unknown: the
    // batches before it fell out of the 5-batch window, or the producer began there.
    if (entry.batches.empty()) {
      exact = false;
      it = producers_.erase(it);
      continue;
    }
    // Surviving batches are in the current epoch, so no cut batch changed it. The last
    // write's timestamp is the last surviving batch's unless a marker came after it.
    if (entry.last_marker_offset > entry.batches.back().last_offset) exact = false;
    entry.last_timestamp = entry.batches.back().timestamp;
    // A transaction whose first batch was cut never began. (That batch may straddle
    // `offset`; any batch of the producer after the last survivor was cut.)
    if (entry.current_txn_first_offset &&
        *entry.current_txn_first_offset > entry.batches.back().last_offset) {
      entry.current_txn_first_offset.reset();
    }
    VERIFY(entry.batches.back().last_offset < offset);
    ++it;
  }
  end_offset_ = offset;
  return exact;
}

void ProducerStateTable::reset(Offset end_offset) {
  VERIFY(end_offset >= Offset(0));
  producers_.clear();
  end_offset_ = end_offset;
}

void ProducerStateTable::advance_end_offset(Offset end_offset) {
  VERIFY(end_offset >= end_offset_, "end offset {} below {}", end_offset, end_offset_);
  end_offset_ = end_offset;
}

size_t ProducerStateTable::remove_expired(int64_t now_ms, int64_t expiration_ms) {
  VERIFY(expiration_ms >= 0, "expiration {} ms", expiration_ms);
  return absl::erase_if(producers_, [&](const auto& item) {
    const ProducerEntry& entry = item.second;
    return !entry.current_txn_first_offset && now_ms - entry.last_timestamp >= expiration_ms;
  });
}

const ProducerEntry* ProducerStateTable::find(ProducerId producer_id) const {
  auto it = producers_.find(producer_id);
  return it == producers_.end() ? nullptr : &it->second;
}

// ---- snapshots -------------------------------------------------------------------------

record::Bytes ProducerStateTable::to_snapshot() const {
  VERIFY(producers_.size() <= static_cast<size_t>(std::numeric_limits<int32_t>::max()));
  record::Bytes out;
  out.reserve(kSnapshotHeaderBytes + producers_.size() * kSnapshotEntryBytes);
  put<int16_t>(out, kSnapshotVersion);
  put<uint32_t>(out, 0);  // the CRC, filled in below
  put<int32_t>(out, static_cast<int32_t>(producers_.size()));
  for (const auto& [producer_id, entry] : producers_) {
    const bool empty = entry.batches.empty();
    put<int64_t>(out, producer_id.value());
    put<int16_t>(out, entry.epoch.value());
    put<int32_t>(out, entry.last_sequence().value());
    put<int64_t>(out, empty ? -1 : entry.batches.back().last_offset.value());
    put<int32_t>(out, empty ? 0 : entry.batches.back().offset_delta);
    put<int64_t>(out, entry.last_timestamp);
    put<int32_t>(out, entry.coordinator_epoch);
    put<int64_t>(out, entry.current_txn_first_offset.value_or(Offset(-1)).value());
  }
  VERIFY(out.size() == kSnapshotHeaderBytes + producers_.size() * kSnapshotEntryBytes);
  const uint32_t crc = record::crc32c(std::span(out).subspan(kSnapshotEntriesOffset));
  store_big_endian<uint32_t>(out.data() + kSnapshotCrcOffset, crc);
  return out;
}

Result<ProducerStateTable, SnapshotError> ProducerStateTable::from_snapshot(
    std::span<const uint8_t> bytes, Offset end_offset) {
  VERIFY(end_offset >= Offset(0), "snapshot offset {}", end_offset);
  if (bytes.size() < 2) return unexpected(SnapshotError::too_short);
  size_t position = 0;
  if (get<int16_t>(bytes, position) != kSnapshotVersion) {
    return unexpected(SnapshotError::unknown_version);
  }
  if (bytes.size() < kSnapshotHeaderBytes) return unexpected(SnapshotError::too_short);
  const uint32_t crc = get<uint32_t>(bytes, position);
  VERIFY(position == kSnapshotEntriesOffset);
  if (crc != record::crc32c(bytes.subspan(kSnapshotEntriesOffset))) {
    return unexpected(SnapshotError::crc_mismatch);
  }
  const int32_t count = get<int32_t>(bytes, position);
  if (count < 0 ||
      bytes.size() - kSnapshotHeaderBytes != static_cast<size_t>(count) * kSnapshotEntryBytes) {
    return unexpected(SnapshotError::bad_length);
  }
  ProducerStateTable table(end_offset);
  for (int32_t i = 0; i < count; i++) {
    const ProducerId producer_id(get<int64_t>(bytes, position));
    ProducerEntry entry;
    entry.epoch = ProducerEpoch(get<int16_t>(bytes, position));
    const Sequence last_sequence(get<int32_t>(bytes, position));
    const Offset last_offset(get<int64_t>(bytes, position));
    const int32_t offset_delta = get<int32_t>(bytes, position);
    entry.last_timestamp = get<int64_t>(bytes, position);
    entry.coordinator_epoch = get<int32_t>(bytes, position);
    const int64_t txn_first_offset = get<int64_t>(bytes, position);
    const bool negative_first_offset =
        last_offset >= Offset(0) && last_offset - offset_delta < Offset(0);
    if (producer_id < ProducerId(0) || offset_delta < 0 || last_offset < Offset(-1) ||
        negative_first_offset || table.producers_.contains(producer_id)) {
      return unexpected(SnapshotError::bad_entry);
    }
    // As Kafka's readSnapshot: the last batch is known only if it has an offset.
    if (last_offset >= Offset(0)) {
      entry.batches.push_back(
          BatchMetadata{last_sequence, last_offset, offset_delta, entry.last_timestamp});
    }
    if (txn_first_offset >= 0) entry.current_txn_first_offset = Offset(txn_first_offset);
    // Whatever markers changed happened somewhere below the snapshot's offset.
    if (entry.coordinator_epoch >= 0 || entry.batches.empty()) {
      entry.last_marker_offset = end_offset - 1;
    }
    table.producers_.emplace(producer_id, std::move(entry));
  }
  VERIFY(position == bytes.size(), "parsed {} of {} bytes", position, bytes.size());
  return table;
}

}  // namespace weir::txn
