// ProducerStateTable: every verdict Kafka's ProducerAppendInfo / UnifiedLog give a
// client's batch, sequence wrap-around, the 5-batch duplicate window, truncation,
// expiry, and the snapshot format (golden bytes, RapidCheck round trip, corruption).
#include <algorithm>
#include <cstdint>
#include <limits>
#include <map>
#include <vector>

#include <gtest/gtest.h>
#include <rapidcheck.h>
#include <rapidcheck/gtest.h>

#include "record/batch.h"
#include "record/crc32c.h"
#include "txn/producer_state.h"

namespace weir::txn {
namespace {

constexpr int32_t kMaxSequence = std::numeric_limits<int32_t>::max();

// A data batch of `count` records from producer `pid` at `epoch`, sequences from
// `base_sequence`, stored from `first_offset`.
ProducerBatch data(int64_t pid, int16_t epoch, int32_t base_sequence, int32_t count,
                   int64_t first_offset, int64_t timestamp = 1000, bool transactional = false) {
  ProducerBatch batch;
  batch.producer_id = ProducerId(pid);
  batch.producer_epoch = ProducerEpoch(epoch);
  batch.base_sequence = Sequence(base_sequence);
  batch.last_sequence = increment_sequence(Sequence(base_sequence), count - 1);
  batch.first_offset = Offset(first_offset);
  batch.last_offset = Offset(first_offset + count - 1);
  batch.max_timestamp = timestamp;
  batch.is_transactional = transactional;
  return batch;
}

ProducerBatch marker(int64_t pid, int16_t epoch, int32_t coordinator_epoch, int64_t offset,
                     int64_t timestamp = 1000) {
  ProducerBatch batch;
  batch.producer_id = ProducerId(pid);
  batch.producer_epoch = ProducerEpoch(epoch);
  batch.first_offset = Offset(offset);
  batch.last_offset = Offset(offset);
  batch.max_timestamp = timestamp;
  batch.is_transactional = true;
  batch.is_control = true;
  batch.end_txn_coordinator_epoch = coordinator_epoch;
  return batch;
}

Verdict verdict_of(const ProducerStateTable& table, const ProducerBatch& batch) {
  return table.check(batch).verdict;
}

TEST(SequenceTest, WrapsLikeKafka) {
  EXPECT_EQ(increment_sequence(Sequence(5), 3), Sequence(8));
  EXPECT_EQ(increment_sequence(Sequence(kMaxSequence), 1), Sequence(0));
  EXPECT_EQ(increment_sequence(Sequence(kMaxSequence - 1), 3), Sequence(1));
  EXPECT_EQ(decrement_sequence(Sequence(1), 3), Sequence(kMaxSequence - 1));
  EXPECT_EQ(decrement_sequence(Sequence(0), 1), Sequence(kMaxSequence));
  EXPECT_TRUE(in_sequence(Sequence(kMaxSequence), Sequence(0)));
  EXPECT_TRUE(in_sequence(Sequence(-1), Sequence(0)));
  EXPECT_FALSE(in_sequence(Sequence(kMaxSequence), Sequence(std::numeric_limits<int32_t>::min())));
  EXPECT_FALSE(in_sequence(Sequence(3), Sequence(5)));
}

TEST(ProducerStateTest, FirstBatchOfANewProducerIsAccepted) {
  ProducerStateTable table;
  EXPECT_EQ(verdict_of(table, data(7, 0, 0, 3, 0)), Verdict::accept);
  table.record(data(7, 0, 0, 3, 0));
  EXPECT_EQ(table.end_offset(), Offset(3));
  EXPECT_EQ(verdict_of(table, data(7, 0, 3, 2, 3)), Verdict::accept);
}

TEST(ProducerStateTest, GapInSequenceIsOutOfOrder) {
  ProducerStateTable table;
  table.record(data(7, 0, 0, 3, 0));
  const CheckResult result = table.check(data(7, 0, 4, 1, 3));
  EXPECT_EQ(result.verdict, Verdict::out_of_order_sequence);
  EXPECT_EQ(kafka_error_code(result.verdict), 45);
  // A sequence below the window that is not an exact retry is out of order too.
  EXPECT_EQ(verdict_of(table, data(7, 0, 1, 1, 3)), Verdict::out_of_order_sequence);
}

TEST(ProducerStateTest, RetryOfAnyOfTheLastFiveBatchesIsADuplicateWithItsOffsets) {
  ProducerStateTable table;
  int64_t offset = 100;  // other producers' data before: offsets need not start at 0
  table.advance_end_offset(Offset(offset));
  for (int32_t i = 0; i < 7; i++) {
    ProducerBatch batch = data(7, 2, i * 2, 2, offset, 1000 + i);
    ASSERT_EQ(verdict_of(table, batch), Verdict::accept) << i;
    table.record(batch);
    offset += 2 + 1;  // one record of someone else between
    table.advance_end_offset(Offset(offset));
  }
  // Batches 2..6 are retained; 0 and 1 fell out of the window.
  for (int32_t i = 2; i < 7; i++) {
    const CheckResult result = table.check(data(7, 2, i * 2, 2, 999));
    ASSERT_EQ(result.verdict, Verdict::duplicate) << i;
    EXPECT_EQ(result.duplicate_first_offset, Offset(100 + 3 * i));
    EXPECT_EQ(result.duplicate_last_offset, Offset(100 + 3 * i + 1));
    EXPECT_EQ(result.duplicate_timestamp, 1000 + i);
    EXPECT_EQ(kafka_error_code(result.verdict), 0);
  }
  EXPECT_EQ(verdict_of(table, data(7, 2, 0, 2, 999)), Verdict::out_of_order_sequence);
  EXPECT_EQ(verdict_of(table, data(7, 2, 2, 2, 999)), Verdict::out_of_order_sequence);
  // Same start, different length: not a duplicate (the exact range must match).
  EXPECT_EQ(verdict_of(table, data(7, 2, 12, 1, 999)), Verdict::out_of_order_sequence);
  EXPECT_EQ(table.find(ProducerId(7))->batches.size(), kBatchesRetained);
}

TEST(ProducerStateTest, StaleEpochIsInvalidProducerEpoch) {
  ProducerStateTable table;
  table.record(data(7, 3, 0, 1, 0));
  const CheckResult result = table.check(data(7, 2, 1, 1, 1));
  EXPECT_EQ(result.verdict, Verdict::invalid_producer_epoch);
  EXPECT_EQ(kafka_error_code(result.verdict), 47);
  // A retry from the stale epoch is not a duplicate either.
  EXPECT_EQ(verdict_of(table, data(7, 2, 0, 1, 1)), Verdict::invalid_producer_epoch);
}

TEST(ProducerStateTest, NewEpochMustStartAtSequenceZero) {
  ProducerStateTable table;
  table.record(data(7, 0, 0, 5, 0));
  EXPECT_EQ(verdict_of(table, data(7, 1, 5, 1, 5)), Verdict::out_of_order_sequence);
  EXPECT_EQ(verdict_of(table, data(7, 1, 0, 1, 5)), Verdict::accept);
  table.record(data(7, 1, 0, 1, 5));
  // The new epoch forgot the old one's batches.
  EXPECT_EQ(table.find(ProducerId(7))->batches.size(), 1u);
  EXPECT_EQ(verdict_of(table, data(7, 0, 0, 5, 6)), Verdict::invalid_producer_epoch);
}

TEST(ProducerStateTest, UnknownProducerIsAcceptedAtAnySequence) {
  // KIP-360: after retention or DeleteRecords removed a producer's state, Kafka 2.5+
  // accepts its next batch whatever the sequence instead of UNKNOWN_PRODUCER_ID.
  ProducerStateTable table;
  EXPECT_EQ(verdict_of(table, data(9, 4, 1234, 2, 0)), Verdict::accept);
  table.record(data(9, 4, 1234, 2, 0));
  EXPECT_EQ(verdict_of(table, data(9, 4, 1236, 1, 2)), Verdict::accept);
  EXPECT_EQ(verdict_of(table, data(9, 4, 1240, 1, 2)), Verdict::out_of_order_sequence);
}

TEST(ProducerStateTest, SequencesWrapAroundIntMax) {
  ProducerStateTable table;
  table.record(data(7, 0, kMaxSequence - 1, 2, 0));  // ends at INT32_MAX
  EXPECT_EQ(verdict_of(table, data(7, 0, 0, 1, 2)), Verdict::accept);
  EXPECT_EQ(verdict_of(table, data(7, 0, kMaxSequence - 1, 2, 2)), Verdict::duplicate);
  EXPECT_EQ(verdict_of(table, data(7, 0, kMaxSequence, 1, 2)), Verdict::out_of_order_sequence);
  EXPECT_EQ(verdict_of(table, data(7, 0, 1, 1, 2)), Verdict::out_of_order_sequence);
  table.record(data(7, 0, 0, 1, 2));

  // A batch that itself wraps: INT32_MAX - 1 .. 1.
  ProducerStateTable wrapping;
  wrapping.record(data(8, 0, kMaxSequence - 5, 4, 0));  // .. INT32_MAX - 2
  const ProducerBatch across = data(8, 0, kMaxSequence - 1, 4, 4);
  EXPECT_EQ(across.last_sequence, Sequence(1));
  EXPECT_EQ(verdict_of(wrapping, across), Verdict::accept);
  wrapping.record(across);
  EXPECT_EQ(wrapping.check(data(8, 0, kMaxSequence - 1, 4, 99)).duplicate_first_offset, Offset(4));
  EXPECT_EQ(verdict_of(wrapping, data(8, 0, 2, 1, 8)), Verdict::accept);
}

TEST(ProducerStateTest, BatchesWithoutProducerIdAreIgnored) {
  ProducerStateTable table;
  ProducerBatch plain;
  plain.first_offset = Offset(0);
  plain.last_offset = Offset(9);
  EXPECT_EQ(verdict_of(table, plain), Verdict::accept);
  table.record(plain);
  EXPECT_EQ(table.size(), 0u);
  EXPECT_EQ(table.end_offset(), Offset(10));
}

TEST(ProducerStateTest, NonTransactionalWriteInsideATransactionIsInvalidTxnState) {
  ProducerStateTable table;
  table.record(data(7, 0, 0, 2, 0, 1000, /*transactional=*/true));
  EXPECT_EQ(table.find(ProducerId(7))->current_txn_first_offset, Offset(0));
  const CheckResult result = table.check(data(7, 0, 2, 1, 2));
  EXPECT_EQ(result.verdict, Verdict::invalid_txn_state);
  EXPECT_EQ(kafka_error_code(result.verdict), 48);
  EXPECT_EQ(verdict_of(table, data(7, 0, 2, 1, 2, 1000, true)), Verdict::accept);

  // A commit marker closes it.
  EXPECT_EQ(verdict_of(table, marker(7, 0, 3, 2)), Verdict::accept);
  table.record(marker(7, 0, 3, 2));
  EXPECT_FALSE(table.find(ProducerId(7))->current_txn_first_offset.has_value());
  EXPECT_EQ(table.find(ProducerId(7))->coordinator_epoch, 3);
  EXPECT_EQ(verdict_of(table, data(7, 0, 2, 1, 3)), Verdict::accept);
  // A marker from an older coordinator is fenced.
  const CheckResult stale = table.check(marker(7, 0, 2, 3));
  EXPECT_EQ(stale.verdict, Verdict::transaction_coordinator_fenced);
  EXPECT_EQ(kafka_error_code(stale.verdict), 52);
  EXPECT_EQ(verdict_of(table, marker(7, 0, 3, 3)), Verdict::accept);
}

TEST(ProducerStateTest, CheckAllSeesEarlierBatchesOfTheSameRequest) {
  ProducerStateTable table;
  table.record(data(7, 0, 0, 2, 0));
  const std::vector<ProducerBatch> request = {data(7, 0, 2, 2, 2), data(8, 0, 0, 1, 4),
                                              data(7, 0, 4, 1, 5)};
  auto [result, index] = table.check_all(request);
  EXPECT_EQ(result.verdict, Verdict::accept);
  EXPECT_EQ(index, request.size());
  // Checked alone, the third batch would be out of order: check_all applied the first.
  EXPECT_EQ(verdict_of(table, request[2]), Verdict::out_of_order_sequence);
  EXPECT_EQ(table.end_offset(), Offset(2));  // check_all changed nothing

  const std::vector<ProducerBatch> bad = {data(7, 0, 2, 2, 2), data(7, 0, 5, 1, 4)};
  auto [bad_result, bad_index] = table.check_all(bad);
  EXPECT_EQ(bad_result.verdict, Verdict::out_of_order_sequence);
  EXPECT_EQ(bad_index, 1u);
}

TEST(ProducerStateTest, FromHeaderAndFromBatchReadTheBatch) {
  record::BatchOptions options;
  options.base_offset = Offset(40);
  options.producer_id = ProducerId(77);
  options.producer_epoch = ProducerEpoch(3);
  options.base_sequence = Sequence(kMaxSequence);
  options.transactional = true;
  options.base_timestamp = 5000;
  std::vector<record::Record> records(3);
  for (int32_t i = 0; i < 3; i++) {
    records[static_cast<size_t>(i)].offset_delta = i;
    records[static_cast<size_t>(i)].timestamp_delta = i;
  }
  const record::Bytes bytes = record::encode_batch(options, records);
  auto view = record::validate_batch(bytes);
  ASSERT_TRUE(view.ok());
  auto batch = ProducerBatch::from_batch(*view);
  ASSERT_TRUE(batch.ok());
  EXPECT_EQ(batch->producer_id, ProducerId(77));
  EXPECT_EQ(batch->producer_epoch, ProducerEpoch(3));
  EXPECT_EQ(batch->base_sequence, Sequence(kMaxSequence));
  EXPECT_EQ(batch->last_sequence, Sequence(1));
  EXPECT_EQ(batch->first_offset, Offset(40));
  EXPECT_EQ(batch->last_offset, Offset(42));
  EXPECT_EQ(batch->max_timestamp, 5002);
  EXPECT_TRUE(batch->is_transactional);
  EXPECT_FALSE(batch->end_txn_coordinator_epoch.has_value());

  record::BatchOptions control = options;
  control.control = true;
  control.base_sequence = Sequence(-1);
  const record::Record end = record::make_end_txn_marker({record::ControlType::abort, 12});
  const record::Bytes marker_bytes = record::encode_batch(control, std::span(&end, 1));
  auto marker_view = record::validate_batch(marker_bytes);
  ASSERT_TRUE(marker_view.ok());
  auto marker_batch = ProducerBatch::from_batch(*marker_view);
  ASSERT_TRUE(marker_batch.ok());
  EXPECT_TRUE(marker_batch->is_control);
  EXPECT_EQ(marker_batch->end_txn_coordinator_epoch, 12);
  EXPECT_EQ(marker_batch->last_sequence, kNoSequence);
}

TEST(ProducerStateTest, IdleProducersExpire) {
  ProducerStateTable table;
  table.record(data(1, 0, 0, 1, 0, /*timestamp=*/1000));
  table.record(data(2, 0, 0, 1, 1, /*timestamp=*/5000));
  table.record(data(3, 0, 0, 1, 2, /*timestamp=*/1000, /*transactional=*/true));
  EXPECT_EQ(table.remove_expired(1000 + kProducerIdExpirationMsDefault - 1), 0u);
  // Exactly the expiration: gone (Kafka's >=). The open transaction keeps producer 3.
  EXPECT_EQ(table.remove_expired(1000 + kProducerIdExpirationMsDefault), 1u);
  EXPECT_EQ(table.find(ProducerId(1)), nullptr);
  EXPECT_NE(table.find(ProducerId(2)), nullptr);
  EXPECT_NE(table.find(ProducerId(3)), nullptr);
  EXPECT_EQ(table.remove_expired(10'000, 5000), 1u);
  EXPECT_EQ(table.find(ProducerId(2)), nullptr);
  // An expired producer is unknown again: any sequence is accepted.
  EXPECT_EQ(verdict_of(table, data(1, 0, 77, 1, 3)), Verdict::accept);
}

TEST(ProducerStateTest, TruncationCutsRetainedBatchesExactly) {
  ProducerStateTable table;
  for (int32_t i = 0; i < 4; i++) table.record(data(7, 0, i, 1, i, 1000 + i));
  EXPECT_TRUE(table.truncate_to(Offset(2)));
  EXPECT_EQ(table.end_offset(), Offset(2));
  const ProducerEntry* entry = table.find(ProducerId(7));
  ASSERT_NE(entry, nullptr);
  EXPECT_EQ(entry->last_sequence(), Sequence(1));
  EXPECT_EQ(entry->last_timestamp, 1001);
  EXPECT_EQ(verdict_of(table, data(7, 0, 2, 1, 2)), Verdict::accept);
  EXPECT_EQ(verdict_of(table, data(7, 0, 1, 1, 2)), Verdict::duplicate);
}

TEST(ProducerStateTest, TruncationThatLosesHistoryAsksForARebuild) {
  ProducerStateTable table;
  for (int32_t i = 0; i < 8; i++) table.record(data(7, 0, i, 1, i));
  // Batches 0..2 fell out of the window; cutting at 2 leaves nothing known.
  EXPECT_FALSE(table.truncate_to(Offset(2)));

  // A producer whose only batch is cut: whether it wrote before (outside the window,
  // or in an earlier epoch) is unknown.
  ProducerStateTable single;
  single.record(data(7, 0, 0, 1, 0));
  single.record(data(8, 3, 0, 1, 1));
  EXPECT_FALSE(single.truncate_to(Offset(1)));
  EXPECT_EQ(single.find(ProducerId(8)), nullptr);
  EXPECT_NE(single.find(ProducerId(7)), nullptr);

  ProducerStateTable with_marker;
  with_marker.record(data(7, 0, 0, 1, 0, 1000, true));
  with_marker.record(marker(7, 0, 1, 1));
  EXPECT_FALSE(with_marker.truncate_to(Offset(1)));

  ProducerStateTable transaction;
  transaction.record(data(7, 0, 0, 1, 0));
  transaction.record(data(7, 0, 1, 1, 1, 1000, true));
  EXPECT_TRUE(transaction.truncate_to(Offset(1)));
  EXPECT_FALSE(transaction.find(ProducerId(7))->current_txn_first_offset.has_value());
}

// ---- snapshots ---------------------------------------------------------------------------

TEST(ProducerSnapshotTest, MatchesKafkasLayoutByteForByte) {
  ProducerStateTable table;
  table.record(data(0x0102030405060708, 0x0a0b, 0x10, 3, 0x20, 0x30, /*transactional=*/true));
  const record::Bytes bytes = table.to_snapshot();
  // version 1; crc; count 1; pid; epoch; last seq 0x12; last offset 0x22; delta 2;
  // timestamp 0x30; coordinator epoch -1; current txn first offset 0x20.
  const record::Bytes expected_tail = {
      0, 0, 0, 1,                                      // entry count
      1, 2, 3, 4, 5, 6, 7, 8,                          // ProducerId
      0x0a, 0x0b,                                      // Epoch
      0, 0, 0, 0x12,                                   // LastSequence
      0, 0, 0, 0, 0, 0, 0, 0x22,                       // LastOffset
      0, 0, 0, 2,                                      // OffsetDelta
      0, 0, 0, 0, 0, 0, 0, 0x30,                       // Timestamp
      0xff, 0xff, 0xff, 0xff,                          // CoordinatorEpoch
      0, 0, 0, 0, 0, 0, 0, 0x20,                       // CurrentTxnFirstOffset
  };
  ASSERT_EQ(bytes.size(), 6 + expected_tail.size());
  EXPECT_EQ(bytes[0], 0);
  EXPECT_EQ(bytes[1], 1);
  EXPECT_EQ(record::Bytes(bytes.begin() + 6, bytes.end()), expected_tail);
  const uint32_t crc = record::crc32c(expected_tail);
  EXPECT_EQ(bytes[2], static_cast<uint8_t>(crc >> 24));
  EXPECT_EQ(bytes[5], static_cast<uint8_t>(crc));

  auto loaded = ProducerStateTable::from_snapshot(bytes, Offset(0x23));
  ASSERT_TRUE(loaded.ok());
  EXPECT_EQ(loaded->end_offset(), Offset(0x23));
  EXPECT_EQ(*loaded->find(ProducerId(0x0102030405060708)),
            *table.find(ProducerId(0x0102030405060708)));
}

TEST(ProducerSnapshotTest, EmptyTableIsTenBytes) {
  const record::Bytes bytes = ProducerStateTable().to_snapshot();
  EXPECT_EQ(bytes.size(), 10u);
  auto loaded = ProducerStateTable::from_snapshot(bytes, Offset(0));
  ASSERT_TRUE(loaded.ok());
  EXPECT_EQ(loaded->size(), 0u);
}

record::Bytes with_crc(record::Bytes bytes) {
  const uint32_t crc = record::crc32c(std::span(bytes).subspan(6));
  for (size_t i = 0; i < 4; i++) bytes[2 + i] = static_cast<uint8_t>(crc >> (8 * (3 - i)));
  return bytes;
}

TEST(ProducerSnapshotTest, CorruptSnapshotsAreRefused) {
  ProducerStateTable table;
  table.record(data(1, 0, 0, 2, 0));
  table.record(data(2, 5, 9, 1, 2));
  const record::Bytes good = table.to_snapshot();
  ASSERT_TRUE(ProducerStateTable::from_snapshot(good, Offset(3)).ok());

  // Any flipped bit anywhere is caught (the version by its value, the rest by the CRC).
  for (size_t i = 0; i < good.size(); i++) {
    for (int bit = 0; bit < 8; bit++) {
      record::Bytes bad = good;
      bad[i] ^= static_cast<uint8_t>(1 << bit);
      EXPECT_FALSE(ProducerStateTable::from_snapshot(bad, Offset(3)).ok()) << i << " " << bit;
    }
  }
  // Truncated anywhere.
  for (size_t size = 0; size < good.size(); size++) {
    auto loaded = ProducerStateTable::from_snapshot(std::span(good).first(size), Offset(3));
    EXPECT_FALSE(loaded.ok()) << size;
  }
  record::Bytes version = good;
  version[1] = 2;
  EXPECT_EQ(ProducerStateTable::from_snapshot(version, Offset(3)).error(),
            SnapshotError::unknown_version);
  EXPECT_EQ(ProducerStateTable::from_snapshot(std::span(good).first(7), Offset(3)).error(),
            SnapshotError::too_short);
  record::Bytes crc = good;
  crc.back() ^= 1;
  EXPECT_EQ(ProducerStateTable::from_snapshot(crc, Offset(3)).error(),
            SnapshotError::crc_mismatch);
  // A valid CRC over a count that disagrees with the bytes.
  record::Bytes count = good;
  count[9] = 3;
  EXPECT_EQ(ProducerStateTable::from_snapshot(with_crc(count), Offset(3)).error(),
            SnapshotError::bad_length);
  record::Bytes longer = good;
  longer.push_back(0);
  EXPECT_EQ(ProducerStateTable::from_snapshot(with_crc(longer), Offset(3)).error(),
            SnapshotError::bad_length);
  // The same producer twice.
  record::Bytes twice = good;
  std::copy(good.begin() + 10, good.begin() + 18, twice.begin() + 10 + 46);
  EXPECT_EQ(ProducerStateTable::from_snapshot(with_crc(twice), Offset(3)).error(),
            SnapshotError::bad_entry);
}

// A random but valid history: producers appending in sequence, bumping epochs,
// opening and closing transactions, with plain batches in between.
struct History {
  ProducerStateTable table;
  std::vector<ProducerBatch> batches;  // as recorded, in offset order
};

History random_history() {
  History history;
  ProducerStateTable& table = history.table;
  const auto record = [&](const ProducerBatch& batch) {
    table.record(batch);
    history.batches.push_back(batch);
  };
  const int operations = *rc::gen::inRange(0, 60);
  std::map<int64_t, std::pair<int16_t, int32_t>> next;  // pid -> epoch, next sequence
  std::map<int64_t, bool> in_transaction;
  for (int i = 0; i < operations; i++) {
    const int64_t pid = *rc::gen::inRange<int64_t>(0, 6) * 1'000'003;
    const int64_t offset = table.end_offset().value() + *rc::gen::inRange<int64_t>(0, 3);
    const int64_t timestamp = *rc::gen::inRange<int64_t>(0, 1'000'000);
    auto [it, fresh] = next.try_emplace(
        pid, static_cast<int16_t>(*rc::gen::inRange(0, 100)),
        *rc::gen::element(0, kMaxSequence - 3, *rc::gen::inRange(0, 1000)));
    auto& [epoch, sequence] = it->second;
    switch (*rc::gen::inRange(0, 6)) {
      case 0: {  // epoch bump
        // (An open transaction stays open: Kafka clears it only with a marker.)
        epoch = static_cast<int16_t>(epoch + 1);
        sequence = 0;
        break;
      }
      case 1: {  // end of a transaction, for a producer that wrote before
        if (table.find(ProducerId(pid)) == nullptr) continue;
        const ProducerBatch end = marker(pid, epoch, *rc::gen::inRange(0, 50), offset, timestamp);
        if (table.check(end).accepted()) {
          record(end);
          in_transaction[pid] = false;
        }
        continue;
      }
      case 2: {  // a plain batch
        ProducerBatch plain;
        plain.first_offset = Offset(offset);
        plain.last_offset = Offset(offset + *rc::gen::inRange(0, 5));
        record(plain);
        continue;
      }
      default: break;
    }
    const int32_t count = *rc::gen::inRange(1, 6);
    const bool transactional = in_transaction[pid] || *rc::gen::inRange(0, 4) == 0;
    const ProducerBatch batch = data(pid, epoch, sequence, count, offset, timestamp, transactional);
    RC_ASSERT(table.check(batch).accepted());
    record(batch);
    sequence = increment_sequence(Sequence(sequence), count).value();
    in_transaction[pid] = transactional;
  }
  return history;
}

ProducerStateTable random_table() { return random_history().table; }

RC_GTEST_PROP(ProducerSnapshotProperty, RoundTripKeepsWhatKafkaKeeps, ()) {
  const ProducerStateTable table = random_table();
  const record::Bytes bytes = table.to_snapshot();
  auto loaded = ProducerStateTable::from_snapshot(bytes, table.end_offset());
  RC_ASSERT(loaded.ok());
  RC_ASSERT(loaded->to_snapshot() == bytes);
  RC_ASSERT(loaded->end_offset() == table.end_offset());
  RC_ASSERT(loaded->size() == table.size());
  for (const auto& [pid, entry] : table.producers()) {
    const ProducerEntry* copy = loaded->find(pid);
    RC_ASSERT(copy != nullptr);
    RC_ASSERT(copy->epoch == entry.epoch);
    RC_ASSERT(copy->last_sequence() == entry.last_sequence());
    RC_ASSERT(copy->last_timestamp == entry.last_timestamp);
    RC_ASSERT(copy->coordinator_epoch == entry.coordinator_epoch);
    RC_ASSERT(copy->current_txn_first_offset == entry.current_txn_first_offset);
    if (entry.batches.empty()) continue;
    // The last batch's retry is still answered with its offsets, the next one accepted.
    const BatchMetadata& last = entry.batches.back();
    ProducerBatch retry = data(pid.value(), entry.epoch.value(), last.first_sequence().value(),
                               last.offset_delta + 1, 0);
    retry.is_transactional = entry.current_txn_first_offset.has_value();
    const CheckResult original = table.check(retry);
    const CheckResult reloaded = loaded->check(retry);
    RC_ASSERT(original.verdict == Verdict::duplicate);
    RC_ASSERT(reloaded.verdict == Verdict::duplicate);
    RC_ASSERT(reloaded.duplicate_first_offset == original.duplicate_first_offset);
    RC_ASSERT(reloaded.duplicate_last_offset == original.duplicate_last_offset);
    ProducerBatch following = data(pid.value(), entry.epoch.value(),
                                   increment_sequence(last.last_sequence, 1).value(), 1,
                                   table.end_offset().value());
    following.is_transactional = retry.is_transactional;
    RC_ASSERT(loaded->check(following).verdict == table.check(following).verdict);
  }
}

RC_GTEST_PROP(ProducerSnapshotProperty, AnySingleByteChangeIsRefused, ()) {
  const ProducerStateTable table = random_table();
  record::Bytes bytes = table.to_snapshot();
  const size_t index = *rc::gen::inRange<size_t>(0, bytes.size());
  const auto flip = *rc::gen::inRange<int>(1, 256);
  bytes[index] = static_cast<uint8_t>(bytes[index] ^ flip);
  RC_ASSERT(!ProducerStateTable::from_snapshot(bytes, table.end_offset()).ok());
}

// When truncate_to says its cut is exact, the table equals one that recorded only the
// batches below the cut — in everything check() uses.
RC_GTEST_PROP(ProducerStateProperty, ExactTruncationEqualsReplayingThePrefix, ()) {
  History history = random_history();
  const int64_t end = history.table.end_offset().value();
  // Cuts near the end are the ones that can be exact: weight them.
  const Offset cut(*rc::gen::oneOf(rc::gen::inRange<int64_t>(0, end + 1),
                                   rc::gen::inRange<int64_t>(std::max<int64_t>(0, end - 8),
                                                             end + 1)));
  ProducerStateTable prefix;
  for (const ProducerBatch& batch : history.batches) {
    if (batch.last_offset < cut) prefix.record(batch);
  }
  const bool exact = history.table.truncate_to(cut);
  RC_TAG(exact ? "exact" : "rebuild");
  RC_ASSERT(history.table.end_offset() == std::min(cut, Offset(end)));
  if (!exact) return;
  RC_ASSERT(history.table.size() == prefix.size());
  for (const auto& [pid, entry] : prefix.producers()) {
    const ProducerEntry* cut_entry = history.table.find(pid);
    RC_ASSERT(cut_entry != nullptr);
    RC_ASSERT(cut_entry->epoch == entry.epoch);
    RC_ASSERT(cut_entry->last_timestamp == entry.last_timestamp);
    RC_ASSERT(cut_entry->coordinator_epoch == entry.coordinator_epoch);
    RC_ASSERT(cut_entry->current_txn_first_offset == entry.current_txn_first_offset);
    // The cut entry keeps a suffix of the window the prefix has.
    RC_ASSERT(!cut_entry->batches.empty());
    RC_ASSERT(cut_entry->batches.size() <= entry.batches.size());
    RC_ASSERT(std::equal(cut_entry->batches.rbegin(), cut_entry->batches.rend(),
                         entry.batches.rbegin()));
  }
}

// Regression (found by ExactTruncationEqualsReplayingThePrefix): a cut inside the batch
// that opened a transaction removes the batch whole, so the transaction never began.
TEST(ProducerStateTest, TruncationInsideATransactionsFirstBatchClosesIt) {
  ProducerStateTable table;
  table.record(data(7, 0, 0, 1, 0));
  table.record(data(7, 0, 1, 3, 1, 1000, /*transactional=*/true));  // 1..3
  EXPECT_TRUE(table.truncate_to(Offset(2)));
  const ProducerEntry* entry = table.find(ProducerId(7));
  ASSERT_NE(entry, nullptr);
  EXPECT_FALSE(entry->current_txn_first_offset.has_value());
  EXPECT_EQ(entry->last_sequence(), Sequence(0));
  EXPECT_EQ(verdict_of(table, data(7, 0, 1, 1, 2)), Verdict::accept);
}

TEST(ProducerStateTest, ControlBatchWithoutAMarkerChangesNoProducer) {
  ProducerStateTable table;
  table.record(data(7, 0, 0, 1, 0));
  ProducerBatch control = marker(7, 3, 9, 1);
  control.end_txn_coordinator_epoch.reset();
  table.record(control);
  EXPECT_EQ(table.end_offset(), Offset(2));
  EXPECT_EQ(table.find(ProducerId(7))->epoch, ProducerEpoch(0));
  EXPECT_EQ(table.find(ProducerId(7))->coordinator_epoch, -1);
}

}  // namespace
}  // namespace weir::txn
