// PartitionProducerState on SimDisk: snapshots written, kept (latest 2) and loaded, the
// log replayed after them, snapshots above the log end and corrupt ones dropped, and a
// crash sweep in which producers append, the node dies at a random step and the disk
// loses what was not synced — after which every producer's last batch in the log is
// still answered as a duplicate with its original offsets.
#include <algorithm>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "record/batch.h"
#include "tests/storage/harness.h"
#include "txn/partition_producer_state.h"

namespace weir::txn {
namespace {

using record::Bytes;
using record::LeaderEpoch;
using storage::PartitionLog;

constexpr const char* kDirectory = "data/topic-0";
constexpr int64_t kNow = 1'000'000;

// An idempotent producer's batch of `count` records, sequences from `base_sequence`.
Bytes idempotent_batch(int64_t pid, int16_t epoch, int32_t base_sequence, int count,
                       int64_t timestamp = kNow) {
  std::vector<record::Record> records(static_cast<size_t>(count));
  for (int i = 0; i < count; i++) {
    records[static_cast<size_t>(i)].offset_delta = i;
    records[static_cast<size_t>(i)].value = Bytes(20, static_cast<uint8_t>(pid + i));
  }
  record::BatchOptions options;
  options.producer_id = ProducerId(pid);
  options.producer_epoch = ProducerEpoch(epoch);
  options.base_sequence = Sequence(base_sequence);
  options.base_timestamp = timestamp;
  return record::encode_batch(options, records);
}

ProducerBatch header_of(const Bytes& batch) {
  auto header = record::read_batch_header(batch);
  VERIFY(header.ok());
  return ProducerBatch::from_header(*header);
}

class PartitionProducerStateTest : public storage::testing::StorageTest {
 public:
  // Inside a fiber.
  std::unique_ptr<PartitionProducerState> open_state(PartitionLog& log, int64_t now = kNow) {
    auto state = PartitionProducerState::open(env(), log, now);
    VERIFY(state.ok(), "open: {}", storage::to_string(state.error()));
    return std::move(state).value();
  }

  // Inside a fiber: the broker's append path — check, append, record.
  storage::AppendResult produce(PartitionLog& log, PartitionProducerState& state, Bytes batch) {
    const CheckResult checked = state.check(header_of(batch));
    VERIFY(checked.accepted(), "verdict {}", to_string(checked.verdict));
    auto appended = storage::testing::StorageTest::append(log, batch, LeaderEpoch(0));
    VERIFY(state.record_appended(batch).ok());
    return appended;
  }

  std::vector<std::string> snapshot_files() {
    std::vector<std::string> names;
    auto listed = disk().list(kDirectory);
    VERIFY(listed.ok());
    for (const auto& name : *listed) {
      if (parse_snapshot_file_name(name)) names.push_back(name);
    }
    return names;
  }
};

TEST(SnapshotFileNameTest, IsTwentyDigitsAndSuffix) {
  EXPECT_EQ(snapshot_file_name(Offset(4711)), "00000000000000004711.snapshot");
  EXPECT_EQ(parse_snapshot_file_name("00000000000000004711.snapshot"), Offset(4711));
  EXPECT_FALSE(parse_snapshot_file_name("00000000000000004711.snapshot.tmp"));
  EXPECT_FALSE(parse_snapshot_file_name("00000000000000004711.log"));
  EXPECT_FALSE(parse_snapshot_file_name("0000000000000000471x.snapshot"));
  EXPECT_FALSE(parse_snapshot_file_name("-0000000000000000001.snapshot"));
  EXPECT_FALSE(parse_snapshot_file_name("4711.snapshot"));
}

TEST_F(PartitionProducerStateTest, DuplicateAfterRestartIsAnsweredWithTheOriginalOffset) {
  run([&] {
    auto log = open_log(kDirectory);
    auto state = open_state(*log);
    EXPECT_EQ(state->table().size(), 0u);
    Bytes plain = storage::testing::make_batch(3, 10, kNow);
    append(*log, plain);
    const auto first = produce(*log, *state, idempotent_batch(7, 0, 0, 2));
    ASSERT_TRUE(state->take_snapshot().ok());
    const auto second = produce(*log, *state, idempotent_batch(7, 0, 2, 3));
    const auto third = produce(*log, *state, idempotent_batch(8, 1, 0, 1));
    ASSERT_TRUE(log->flush().ok());
    EXPECT_EQ(state->snapshot_offsets(), std::vector<Offset>{Offset(5)});
    state.reset();
    log.reset();  // a crash of the process, everything flushed

    log = open_log(kDirectory);
    state = open_state(*log);
    EXPECT_EQ(state->table().end_offset(), log->log_end_offset());
    // Both producer 7 batches were replayed after the snapshot at 5... the first one is
    // in the snapshot, the second in the replayed log.
    const CheckResult retry_first = state->check(header_of(idempotent_batch(7, 0, 0, 2)));
    EXPECT_EQ(retry_first.verdict, Verdict::duplicate);
    EXPECT_EQ(retry_first.duplicate_first_offset, first.base_offset);
    const CheckResult retry_second = state->check(header_of(idempotent_batch(7, 0, 2, 3)));
    EXPECT_EQ(retry_second.verdict, Verdict::duplicate);
    EXPECT_EQ(retry_second.duplicate_first_offset, second.base_offset);
    EXPECT_EQ(retry_second.duplicate_last_offset, second.last_offset);
    const CheckResult retry_third = state->check(header_of(idempotent_batch(8, 1, 0, 1)));
    EXPECT_EQ(retry_third.duplicate_first_offset, third.base_offset);
    EXPECT_EQ(state->check(header_of(idempotent_batch(7, 0, 6, 1))).verdict,
              Verdict::out_of_order_sequence);
    EXPECT_EQ(state->rebuild_count(), 1u);
  });
}

TEST_F(PartitionProducerStateTest, KeepsTheLatestTwoSnapshots) {
  run([&] {
    auto log = open_log(kDirectory);
    auto state = open_state(*log);
    for (int i = 0; i < 4; i++) {
      produce(*log, *state, idempotent_batch(7, 0, i * 2, 2));
      ASSERT_TRUE(state->take_snapshot().ok());
    }
    // A second snapshot at the same offset is not written.
    ASSERT_TRUE(state->take_snapshot().ok());
    EXPECT_EQ(state->snapshot_offsets(), (std::vector<Offset>{Offset(6), Offset(8)}));
    EXPECT_EQ(snapshot_files(), (std::vector<std::string>{"00000000000000000006.snapshot",
                                                          "00000000000000000008.snapshot"}));
  });
}

TEST_F(PartitionProducerStateTest, SnapshotAboveTheLogEndIsDeletedOnOpen) {
  run([&] {
    auto log = open_log(kDirectory);
    auto state = open_state(*log);
    produce(*log, *state, idempotent_batch(7, 0, 0, 2));
    ASSERT_TRUE(state->take_snapshot().ok());
    produce(*log, *state, idempotent_batch(7, 0, 2, 2));
    ASSERT_TRUE(state->take_snapshot().ok());
    // Recovery (here: a truncation the producer state did not hear of) cut the log.
    ASSERT_TRUE(log->truncate_to(Offset(2)).ok());
    state.reset();
    state = open_state(*log);
    EXPECT_EQ(state->snapshot_offsets(), std::vector<Offset>{Offset(2)});
    EXPECT_EQ(snapshot_files(), std::vector<std::string>{"00000000000000000002.snapshot"});
    EXPECT_EQ(state->table().find(ProducerId(7))->last_sequence(), Sequence(1));
    // Other batches take offsets 2.. now; a restart must not load the old snapshot at 4.
    produce(*log, *state, idempotent_batch(9, 0, 0, 5));
    ASSERT_TRUE(log->flush().ok());
    state.reset();
    log.reset();
    disk().crash();
    log = open_log(kDirectory);
    state = open_state(*log);
    EXPECT_EQ(state->table().find(ProducerId(7))->last_sequence(), Sequence(1));
    EXPECT_EQ(state->check(header_of(idempotent_batch(7, 0, 2, 2))).verdict, Verdict::accept);
  });
}

TEST_F(PartitionProducerStateTest, CorruptNewestSnapshotFallsBackToTheOlderOne) {
  run([&] {
    auto log = open_log(kDirectory);
    auto state = open_state(*log);
    produce(*log, *state, idempotent_batch(7, 0, 0, 2));
    ASSERT_TRUE(state->take_snapshot().ok());
    produce(*log, *state, idempotent_batch(7, 0, 2, 2));
    ASSERT_TRUE(state->take_snapshot().ok());
    ASSERT_TRUE(log->flush().ok());
    state.reset();
    // Flip a byte in the newest snapshot's entries.
    const std::string path = std::string(kDirectory) + "/" + snapshot_file_name(Offset(4));
    Bytes bytes = file_contents(path);
    bytes[20] ^= 0x40;
    auto file = disk().open(path, runtime::OpenMode::read_write);
    ASSERT_TRUE(file.ok());
    ASSERT_TRUE((*file)->write_at(0, std::as_bytes(std::span(bytes))).ok());
    (*file)->close();

    state = open_state(*log);
    EXPECT_EQ(state->snapshot_offsets(), std::vector<Offset>{Offset(2)});
    // The older snapshot plus the replayed log give the full state.
    EXPECT_EQ(state->table().find(ProducerId(7))->last_sequence(), Sequence(3));
    EXPECT_EQ(state->check(header_of(idempotent_batch(7, 0, 2, 2))).duplicate_first_offset,
              Offset(2));
  });
}

TEST_F(PartitionProducerStateTest, LeftoverTemporaryIsRemoved) {
  run([&] {
    auto log = open_log(kDirectory);
    const std::string temporary = std::string(kDirectory) + "/00000000000000000000.snapshot.tmp";
    auto file = disk().open(temporary, runtime::OpenMode::create);
    ASSERT_TRUE(file.ok());
    (*file)->close();
    auto state = open_state(*log);
    EXPECT_FALSE(*disk().exists(temporary));
  });
}

TEST_F(PartitionProducerStateTest, TruncationRebuildsFromSnapshotAndLog) {
  run([&] {
    auto log = open_log(kDirectory);
    auto state = open_state(*log);
    for (int i = 0; i < 3; i++) produce(*log, *state, idempotent_batch(7, 0, i, 1));
    ASSERT_TRUE(state->take_snapshot().ok());  // at 3
    // Producer 8 writes 7 batches: the first ones leave its 5-batch window.
    for (int i = 0; i < 7; i++) produce(*log, *state, idempotent_batch(8, 0, i, 1));
    ASSERT_TRUE(state->take_snapshot().ok());  // at 10
    ASSERT_TRUE(log->truncate_to(Offset(5)).ok());
    ASSERT_TRUE(state->truncate_to(Offset(5)).ok());
    // The cut could not be exact (producer 8's batch at 4 had left its window), so the
    // state was rebuilt from the snapshot at 3 and the log: producer 8 at sequence 1.
    EXPECT_EQ(state->rebuild_count(), 2u);
    EXPECT_EQ(state->snapshot_offsets(), std::vector<Offset>{Offset(3)});
    EXPECT_EQ(state->table().end_offset(), Offset(5));
    EXPECT_EQ(state->table().find(ProducerId(8))->last_sequence(), Sequence(1));
    EXPECT_EQ(state->check(header_of(idempotent_batch(8, 0, 2, 1))).verdict, Verdict::accept);
    EXPECT_EQ(state->check(header_of(idempotent_batch(8, 0, 0, 1))).duplicate_first_offset,
              Offset(3));

    // An exact cut needs no rebuild.
    ASSERT_TRUE(log->truncate_to(Offset(4)).ok());
    ASSERT_TRUE(state->truncate_to(Offset(4)).ok());
    EXPECT_EQ(state->rebuild_count(), 2u);
    EXPECT_EQ(state->table().find(ProducerId(8))->last_sequence(), Sequence(0));
  });
}

TEST_F(PartitionProducerStateTest, LogStartInsideABatchReplaysThatBatch) {
  run([&] {
    auto log = open_log(kDirectory);
    auto state = open_state(*log);
    produce(*log, *state, idempotent_batch(7, 0, 0, 3));  // 0..2
    produce(*log, *state, idempotent_batch(8, 0, 0, 5));  // 3..7
    log->set_high_watermark(log->log_end_offset());
    ASSERT_TRUE(log->delete_records(Offset(5)).ok());  // DeleteRecords: mid-batch
    state.reset();
    state = open_state(*log);
    EXPECT_EQ(state->table().find(ProducerId(7)), nullptr);
    EXPECT_EQ(state->table().find(ProducerId(8))->last_sequence(), Sequence(4));
    EXPECT_EQ(state->check(header_of(idempotent_batch(8, 0, 0, 5))).duplicate_first_offset,
              Offset(3));
  });
}

TEST_F(PartitionProducerStateTest, SnapshotInsideABatchIsStaleAndDropped) {
  run([&] {
    auto log = open_log(kDirectory);
    auto state = open_state(*log);
    produce(*log, *state, idempotent_batch(7, 0, 0, 3));  // 0..2
    produce(*log, *state, idempotent_batch(8, 0, 0, 5));  // 3..7
    state.reset();
    // A snapshot from another history of the log, with a batch boundary at 5.
    ProducerStateTable other;
    ProducerBatch ghost = header_of(idempotent_batch(9, 0, 0, 5));
    ghost.last_offset = Offset(4);
    other.record(ghost);
    const Bytes bytes = other.to_snapshot();
    ASSERT_TRUE(storage::write_file_atomically(disk(), kDirectory, snapshot_file_name(Offset(5)),
                                               std::string(bytes.begin(), bytes.end()))
                    .ok());
    state = open_state(*log);
    EXPECT_TRUE(state->snapshot_offsets().empty());
    EXPECT_TRUE(snapshot_files().empty());
    EXPECT_EQ(state->table().find(ProducerId(9)), nullptr);
    EXPECT_EQ(state->table().find(ProducerId(8))->last_sequence(), Sequence(4));
  });
}

TEST_F(PartitionProducerStateTest, ExpiredProducersAreDroppedOnOpen) {
  run([&] {
    auto log = open_log(kDirectory);
    auto state = open_state(*log);
    produce(*log, *state, idempotent_batch(7, 0, 0, 1, /*timestamp=*/1000));
    produce(*log, *state, idempotent_batch(8, 0, 0, 1, /*timestamp=*/50'000'000));
    ASSERT_TRUE(state->take_snapshot().ok());
    state.reset();
    state = open_state(*log, 1000 + kProducerIdExpirationMsDefault);
    EXPECT_EQ(state->table().find(ProducerId(7)), nullptr);
    EXPECT_NE(state->table().find(ProducerId(8)), nullptr);
    EXPECT_EQ(state->remove_expired(50'000'000 + kProducerIdExpirationMsDefault), 1u);
  });
}

// ---- crash sweep -------------------------------------------------------------------------

// One producer's view: the batch it appended last and where (if it was acknowledged,
// i.e. durable, it must survive).
struct Appended {
  Bytes batch;
  Offset base_offset;
  Offset last_offset;
  bool acknowledged = false;
};

class CrashSweep {
 public:
  CrashSweep(PartitionProducerStateTest& test, uint64_t seed) : test_(test), seed_(seed) {}

  // One life: open log and state, check them against the log, let producers append for
  // `steps` scheduler steps, then kill the node and crash the disk.
  void live_and_crash(int producers, int steps) {
    runtime::Scheduler& scheduler = test_.scheduler;
    const runtime::GroupId group = scheduler.new_group("node");
    std::unique_ptr<PartitionLog> log;
    std::unique_ptr<PartitionProducerState> state;
    runtime::Mutex partition(scheduler);  // the broker's per-partition append lock
    scheduler.spawn(group, "open", [&] {
      log = test_.open_log(kDirectory);
      state = test_.open_state(*log);
      check(*log, *state);
      for (int p = 0; p < producers; p++) {
        scheduler.spawn("producer", [&, p] {
          const int64_t pid = 100 + p;
          const ProducerEntry* entry = state->table().find(ProducerId(pid));
          int32_t sequence = entry ? increment_sequence(entry->last_sequence(), 1).value() : 0;
          for (uint64_t i = 0;; i++) {
            const int count = 1 + static_cast<int>((seed_ + i + static_cast<uint64_t>(p)) % 4);
            Bytes batch = idempotent_batch(pid, 0, sequence, count);
            storage::AppendResult appended;
            {
              runtime::MutexGuard guard(partition);
              const CheckResult checked = state->check(header_of(batch));
              VERIFY(checked.accepted(), "producer {} seq {}: {}", pid, sequence,
                     to_string(checked.verdict));
              auto result = log->append(batch, LeaderEpoch(0));
              if (!result) return;
              appended = *result;
              VERIFY(state->record_appended(batch).ok());
            }
            sequence = increment_sequence(Sequence(sequence), count).value();
            // Snapshots race the log's fsyncs: one often covers batches a crash loses.
            if (i % 3 == 2 && !state->take_snapshot()) return;
            if (!log->wait_durable(appended.last_offset.next())) return;
            acknowledged_[pid] = Appended{batch, appended.base_offset, appended.last_offset, true};
            acknowledgements_++;
          }
        });
      }
    });
    int left = steps;
    scheduler.run_until([&] { return --left <= 0; });
    if (auto failure = scheduler.failure()) std::rethrow_exception(failure);
    scheduler.kill_group(group);
    state.reset();
    log.reset();
    test_.disk().crash();
  }

  void check_final() {
    test_.run([&] {
      auto log = test_.open_log(kDirectory);
      auto state = test_.open_state(*log);
      check(*log, *state);
    });
  }
  uint64_t acknowledgements() const { return acknowledgements_; }
  uint64_t duplicates_checked() const { return duplicates_checked_; }

 private:
  // The recovered state equals the log replayed from its start, for what a snapshot
  // keeps; each producer's last batch in the log is a duplicate with its offsets; every
  // acknowledged batch is in the log.
  void check(PartitionLog& log, const PartitionProducerState& state) {
    VERIFY(state.table().end_offset() == log.log_end_offset());
    for (Offset snapshot : state.snapshot_offsets()) VERIFY(snapshot <= log.log_end_offset());
    ProducerStateTable replayed(log.log_start_offset());
    std::map<ProducerId, Appended> last_in_log;
    Offset next = log.log_start_offset();
    while (next < log.log_end_offset()) {
      auto bytes = log.read(next, 1 << 20);
      VERIFY(bytes.ok() && !bytes->empty());
      auto batches = record::split_batches(*bytes);
      VERIFY(batches.ok());
      for (const auto& view : *batches) {
        auto batch = ProducerBatch::from_batch(view);
        VERIFY(batch.ok());
        replayed.record(*batch);
        last_in_log[batch->producer_id] =
            Appended{Bytes(view.bytes.begin(), view.bytes.end()), batch->first_offset,
                     batch->last_offset, false};
        next = batch->last_offset.next();
      }
    }
    VERIFY(replayed.size() == state.table().size(), "{} producers replayed, {} recovered",
           replayed.size(), state.table().size());
    for (const auto& [pid, entry] : replayed.producers()) {
      const ProducerEntry* recovered = state.table().find(pid);
      VERIFY(recovered != nullptr, "producer {} lost", pid);
      VERIFY(recovered->epoch == entry.epoch);
      VERIFY(recovered->last_sequence() == entry.last_sequence(), "producer {}: {} vs {}", pid,
             recovered->last_sequence(), entry.last_sequence());
      VERIFY(recovered->batches.back() == entry.batches.back());
      const Appended& last = last_in_log.at(pid);
      const CheckResult retry = state.check(header_of(last.batch));
      VERIFY(retry.verdict == Verdict::duplicate, "producer {}: {}", pid, to_string(retry.verdict));
      VERIFY(retry.duplicate_first_offset == last.base_offset);
      VERIFY(retry.duplicate_last_offset == last.last_offset);
      duplicates_checked_++;
    }
    for (const auto& [pid, acked] : acknowledged_) {
      const ProducerEntry* recovered = state.table().find(ProducerId(pid));
      VERIFY(recovered != nullptr, "acknowledged producer {} lost", pid);
      // The acknowledged batch survived, so the producer's sequence reached its end.
      const Sequence acked_last = header_of(acked.batch).last_sequence;
      VERIFY(recovered->last_sequence() >= acked_last,
             "producer {} at {} below its acknowledged {}", pid, recovered->last_sequence(),
             acked_last);
    }
  }

  PartitionProducerStateTest& test_;
  uint64_t seed_;
  std::map<int64_t, Appended> acknowledged_;  // the last acknowledged batch per producer
  uint64_t acknowledgements_ = 0;
  uint64_t duplicates_checked_ = 0;
};

TEST_F(PartitionProducerStateTest, CrashesAtRandomPointsKeepTheProducerState) {
  config.segment_bytes = 4 * 1024;
  runtime::Random random(77);
  uint64_t acknowledgements = 0;
  uint64_t duplicates = 0;
  for (uint64_t seed = 1; seed <= 60; seed++) {
    new_disk(seed);
    const double survival[] = {0.0, 0.5, 1.0};
    faults.unsynced_sector_survives = survival[random.below(3)];
    faults.unsynced_entry_survives = survival[random.below(3)];
    CrashSweep sweep(*this, seed);
    for (int life = 0; life < 4; life++) {
      sweep.live_and_crash(1 + static_cast<int>(random.below(4)),
                           static_cast<int>(random.between(1, 2500)));
    }
    sweep.check_final();
    acknowledgements += sweep.acknowledgements();
    duplicates += sweep.duplicates_checked();
  }
  EXPECT_GT(acknowledgements, 300u);  // the lives did real work before crashing
  EXPECT_GT(duplicates, 300u);
}

}  // namespace
}  // namespace weir::txn
