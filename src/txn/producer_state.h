// ProducerStateTable: one partition's idempotent-producer state (KIP-98), a pure state
// machine with no I/O, clocks or randomness. It mirrors Kafka's ProducerStateManager /
// ProducerStateEntry / ProducerAppendInfo (storage/internals/log in Apache Kafka 4.x):
//
//  - Per producer id: the current producer epoch, the metadata of its last (at most) 5
//    appended batches (sequence range, offsets, timestamp), the timestamp of its last
//    write, the coordinator epoch of its last transaction marker and the first offset of
//    its open transaction, if any.
//  - check() runs before an append and answers what Kafka answers a Produce request;
//    record() runs after a successful append (or while replaying the log) and updates the
//    state. Batches without a producer id (-1) carry no state and are ignored.
//
// Invariants:
//  - An entry holds at most kBatchesRetained batches, in append order, all in its
//    current epoch; a new epoch forgets the earlier epoch's batches.
//  - end_offset() only moves forward through record(); it is the offset just past the
//    last batch recorded and names the snapshot taken of the table.
//  - Iteration (snapshots, expiry) goes in producer id order: nothing depends on hashing.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

#include <absl/container/btree_map.h>

#include "base/result.h"
#include "record/batch.h"
#include "record/types.h"

namespace weir::txn {

using record::Offset;
using record::ProducerEpoch;
using record::ProducerId;
using record::Sequence;

inline constexpr ProducerId kNoProducerId{-1};
inline constexpr ProducerEpoch kNoProducerEpoch{-1};
inline constexpr Sequence kNoSequence{-1};
// Kafka's ProducerStateEntry.NUM_BATCHES_TO_RETAIN: a producer has at most 5 requests
// in flight (max.in.flight.requests.per.connection), so a retry is among the last 5.
inline constexpr size_t kBatchesRetained = 5;
// producer.id.expiration.ms and transactional.id.expiration.ms default: one day.
inline constexpr int64_t kProducerIdExpirationMsDefault = 86'400'000;

// Sequence arithmetic as Kafka's DefaultRecordBatch does it: sequences wrap from
// INT32_MAX to 0.
Sequence increment_sequence(Sequence sequence, int32_t increment);
Sequence decrement_sequence(Sequence sequence, int32_t decrement);
// Whether `next` directly follows `last` (INT32_MAX is followed by 0).
bool in_sequence(Sequence last, Sequence next);

// What the table needs of one batch, read from its header (and, for a transaction
// marker, its control record).
struct ProducerBatch {
  ProducerId producer_id = kNoProducerId;
  ProducerEpoch producer_epoch = kNoProducerEpoch;
  Sequence base_sequence = kNoSequence;
  Sequence last_sequence = kNoSequence;  // base_sequence + last_offset_delta, wrapping
  Offset first_offset{0};                // meaningful only once the log assigned offsets
  Offset last_offset{0};
  int64_t max_timestamp = -1;
  bool is_transactional = false;
  bool is_control = false;
  // For a control batch holding a COMMIT or ABORT marker: its coordinator epoch.
  std::optional<int32_t> end_txn_coordinator_epoch;

  // From a batch header alone (a control batch's marker is not read, so the batch
  // counts as a control batch that changes nothing: use from_batch for markers).
  static ProducerBatch from_header(const record::BatchHeader& header);
  // From a whole batch: like from_header, plus the marker of a transactional control
  // batch. Fails if a control batch's record does not parse.
  static record::Result<ProducerBatch> from_batch(const record::BatchView& batch);
  bool has_producer_id() const { return producer_id != kNoProducerId; }
};

// The answer to check(). Codes named as Kafka's Errors; see kafka_error_code().
enum class Verdict : uint8_t {
  accept,
  duplicate,                     // a retry of one of the last 5 batches: answer its offsets
  out_of_order_sequence,         // OUT_OF_ORDER_SEQUENCE_NUMBER (45)
  invalid_producer_epoch,        // INVALID_PRODUCER_EPOCH (47): an epoch older than known
  invalid_txn_state,             // INVALID_TXN_STATE (48): non-transactional write inside a txn
  transaction_coordinator_fenced,  // TRANSACTION_COORDINATOR_FENCED (52): stale marker
};
std::string_view to_string(Verdict verdict);
// The error code a Produce response carries for the verdict (0 for accept and
// duplicate, which Kafka answers with success and the original offsets).
int16_t kafka_error_code(Verdict verdict);

struct CheckResult {
  Verdict verdict = Verdict::accept;
  // For a duplicate: the original batch's offsets (and its timestamp).
  Offset duplicate_first_offset{-1};
  Offset duplicate_last_offset{-1};
  int64_t duplicate_timestamp = -1;

  bool accepted() const { return verdict == Verdict::accept; }
};

// One retained batch, as Kafka's BatchMetadata.
struct BatchMetadata {
  Sequence last_sequence = kNoSequence;
  Offset last_offset{-1};
  int32_t offset_delta = 0;  // last_offset - first_offset (= last_seq - first_seq)
  int64_t timestamp = -1;

  Sequence first_sequence() const { return decrement_sequence(last_sequence, offset_delta); }
  Offset first_offset() const { return last_offset - offset_delta; }
  bool operator==(const BatchMetadata&) const = default;
};

struct ProducerEntry {
  ProducerEpoch epoch = kNoProducerEpoch;
  std::vector<BatchMetadata> batches;  // oldest first, at most kBatchesRetained
  int64_t last_timestamp = -1;
  int32_t coordinator_epoch = -1;
  std::optional<Offset> current_txn_first_offset;
  // Not persisted: the offset of the last transaction marker recorded (or, for an
  // entry loaded from a snapshot whose markers are unknown, the snapshot's end - 1).
  // Lets truncate_to() tell whether it can cut the entry exactly.
  Offset last_marker_offset{-1};

  Sequence last_sequence() const {
    return batches.empty() ? kNoSequence : batches.back().last_sequence;
  }
  // The last offset at which anything about this entry changed.
  Offset last_change_offset() const {
    return batches.empty() ? last_marker_offset
                           : std::max(batches.back().last_offset, last_marker_offset);
  }
  // Equality of what a snapshot keeps and what check() uses (not last_marker_offset).
  bool operator==(const ProducerEntry& other) const {
    return epoch == other.epoch && batches == other.batches &&
           last_timestamp == other.last_timestamp &&
           coordinator_epoch == other.coordinator_epoch &&
           current_txn_first_offset == other.current_txn_first_offset;
  }
};

enum class SnapshotError : uint8_t {
  too_short,          // fewer bytes than the header and entry count need
  unknown_version,    // version is not 1
  crc_mismatch,       // the CRC-32C over the entries does not match
  bad_length,         // the entry count disagrees with the bytes present
  bad_entry,          // an entry no table could have written (e.g. negative producer id)
};
std::string_view to_string(SnapshotError error);

class ProducerStateTable {
 public:
  // An empty table whose state covers the log up to `end_offset`.
  explicit ProducerStateTable(Offset end_offset = Offset(0)) : end_offset_(end_offset) {}

  // Before appending `batch` (offsets need not be assigned yet): what Kafka answers a
  // client's Produce request for it. Batches without a producer id are accepted.
  CheckResult check(const ProducerBatch& batch) const;
  // Every batch of one Produce request's records in order, each checked as though the
  // ones before it were appended. Returns the first verdict that is not accept (and
  // its batch's index), or accept. Kafka answers a whole request with a duplicate's
  // offsets when one of its batches is a duplicate.
  std::pair<CheckResult, size_t> check_all(std::span<const ProducerBatch> batches) const;

  // After `batch` was appended at its offsets (or while replaying the log): updates its
  // producer's entry. Batches are recorded in offset order; one without a producer id,
  // or a control batch that is not a transaction marker, only moves end_offset().
  void record(const ProducerBatch& batch);

  // Forgets batches at or after `offset` (the log was truncated there). Returns false
  // when the result cannot be exact — a producer's state before `offset` is no longer
  // known (all its retained batches went, or a marker was cut) — and the caller must
  // rebuild from a snapshot and the log instead (PartitionProducerState does).
  [[nodiscard]] bool truncate_to(Offset offset);
  // Drops every producer and restarts the table at `end_offset` (log deleted or
  // truncated fully).
  void reset(Offset end_offset);
  // Moves end_offset() forward without a batch (e.g. the log start moved past it).
  void advance_end_offset(Offset end_offset);

  // Removes producers with no open transaction whose last write's timestamp is
  // `expiration_ms` or more before `now_ms` (Kafka's isProducerExpired). Returns how
  // many were removed.
  size_t remove_expired(int64_t now_ms, int64_t expiration_ms = kProducerIdExpirationMsDefault);

  // Kafka's producer snapshot file contents (ProducerSnapshot.json, version 1): int16
  // version, uint32 CRC-32C of everything after it, int32 count, then per producer
  // (in id order) ProducerId int64, Epoch int16, LastSequence int32, LastOffset int64,
  // OffsetDelta int32, Timestamp int64, CoordinatorEpoch int32, CurrentTxnFirstOffset
  // int64, all big-endian. Only each producer's last batch is kept, as in Kafka.
  record::Bytes to_snapshot() const;
  // Parses a snapshot; the table's end offset comes from the file's name.
  static Result<ProducerStateTable, SnapshotError> from_snapshot(std::span<const uint8_t> bytes,
                                                                Offset end_offset);

  const ProducerEntry* find(ProducerId producer_id) const;
  const absl::btree_map<ProducerId, ProducerEntry>& producers() const { return producers_; }
  Offset end_offset() const { return end_offset_; }
  size_t size() const { return producers_.size(); }

 private:
  // check() against an explicit entry (nullptr: unknown producer).
  static CheckResult check_entry(const ProducerEntry* entry, const ProducerBatch& batch);
  static void apply(ProducerEntry& entry, const ProducerBatch& batch);

  absl::btree_map<ProducerId, ProducerEntry> producers_;
  Offset end_offset_;
};

}  // namespace weir::txn
