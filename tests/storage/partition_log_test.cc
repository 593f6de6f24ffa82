// PartitionLog behaviour on a healthy SimDisk: offsets, reads, indexes, timestamps,
// rolls, retention, DeleteRecords, truncation, checkpoints and group commit.
#include "storage/partition_log.h"

#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "record/batch.h"
#include "storage/checkpoint.h"
#include "tests/storage/harness.h"

namespace weir::storage::testing {
namespace {

// The headers of the batches in `bytes`, which must be whole, valid batches.
std::vector<record::BatchHeader> batches_of(const Bytes& bytes) {
  auto split = record::split_batches(bytes);
  VERIFY(split.ok(), "read returned bad batches");
  std::vector<record::BatchHeader> headers;
  for (const auto& view : *split) headers.push_back(view.header);
  return headers;
}

using PartitionLogTest = StorageTest;

TEST_F(PartitionLogTest, AppendAssignsContiguousOffsetsAndReadsReturnTheBytes) {
  run([&] {
    auto log = open_log();
    EXPECT_EQ(log->log_end_offset(), Offset(0));
    std::vector<Bytes> sent;
    for (int i = 0; i < 10; i++) {
      Bytes batch = make_batch(i + 1, 20, 1000 + i, i);
      const Bytes original = batch;
      const AppendResult result = append(*log, batch, LeaderEpoch(3));
      const int64_t expected_base = i * (i + 1) / 2;
      EXPECT_EQ(result.base_offset, Offset(expected_base));
      EXPECT_EQ(result.last_offset, Offset(expected_base + i));
      // Only base offset and leader epoch differ from what the producer sent.
      record::set_base_offset(std::span<uint8_t>(const_cast<Bytes&>(original)), result.base_offset);
      Bytes expected = original;
      record::set_partition_leader_epoch(expected, LeaderEpoch(3));
      EXPECT_EQ(batch, expected);
      sent.push_back(batch);
    }
    EXPECT_EQ(log->log_end_offset(), Offset(55));
    Bytes all;
    for (const Bytes& b : sent) all.insert(all.end(), b.begin(), b.end());
    EXPECT_EQ(read(*log, Offset(0)), all);
    EXPECT_TRUE(read(*log, Offset(55)).empty());
    EXPECT_EQ(log->read(Offset(56), 100).error(), StorageError::offset_out_of_range);
    ASSERT_TRUE(log->close().ok());
  });
}

TEST_F(PartitionLogTest, ReadFromTheMiddleOfABatchReturnsTheWholeBatch) {
  run([&] {
    auto log = open_log();
    Bytes first = make_batch(5, 10, 1000);
    Bytes second = make_batch(5, 10, 1000);
    append(*log, first);
    append(*log, second);
    const Bytes bytes = read(*log, Offset(7), 1);
    auto batches = batches_of(bytes);
    ASSERT_EQ(batches.size(), 1u);
    EXPECT_EQ(batches[0].base_offset, Offset(5));
    EXPECT_EQ(bytes, second);
  });
}

TEST_F(PartitionLogTest, ReadReturnsAtLeastOneBatchAndOtherwiseRespectsMaxBytes) {
  run([&] {
    auto log = open_log();
    for (int i = 0; i < 5; i++) {
      Bytes batch = make_batch(1, 500, 1000);
      append(*log, batch);
    }
    const size_t one = make_batch(1, 500, 1000).size();
    EXPECT_EQ(batches_of(read(*log, Offset(0), 10)).size(), 1u);  // larger than max_bytes
    EXPECT_EQ(batches_of(read(*log, Offset(0), one * 2 + 1)).size(), 2u);
    EXPECT_EQ(batches_of(read(*log, Offset(1), one * 3)).size(), 3u);
    // max_offset (the high watermark) hides batches not wholly below it.
    auto limited = log->read(Offset(0), 1 << 20, Offset(3));
    ASSERT_TRUE(limited.ok());
    EXPECT_EQ(batches_of(*limited).size(), 3u);
  });
}

TEST_F(PartitionLogTest, OffsetIndexIsSparseKafkaFormatAndFindsEveryOffset) {
  run([&] {
    auto log = open_log();
    for (int i = 0; i < 100; i++) {
      Bytes batch = make_batch(3, 100, 1000 + i, i);
      append(*log, batch);
    }
    ASSERT_TRUE(log->flush().ok());
    for (int64_t offset = 0; offset < 300; offset += 7) {
      auto batches = batches_of(read(*log, Offset(offset), 1));
      ASSERT_EQ(batches.size(), 1u);
      EXPECT_LE(batches[0].base_offset, Offset(offset));
      EXPECT_GE(batches[0].last_offset(), Offset(offset));
    }
    ASSERT_TRUE(log->close().ok());
    // On disk: 8-byte big-endian (relative offset, position) entries, one per
    // index.interval.bytes, each naming the last offset of the batch at its position.
    const Bytes index = file_contents("data/topic-0/00000000000000000000.index");
    const Bytes segment = file_contents("data/topic-0/00000000000000000000.log");
    ASSERT_EQ(index.size() % 8, 0u);
    const size_t batch_bytes = make_batch(3, 100, 0).size();
    // An entry once more than 1024 bytes were written since the last one.
    const size_t batches_per_entry = 1024 / batch_bytes + 1;
    EXPECT_EQ(index.size() / 8, (segment.size() / batch_bytes - 1) / batches_per_entry);
    for (size_t at = 0; at < index.size(); at += 8) {
      const uint32_t relative = (uint32_t{index[at]} << 24) | (uint32_t{index[at + 1]} << 16) |
                                (uint32_t{index[at + 2]} << 8) | index[at + 3];
      const uint32_t position = (uint32_t{index[at + 4]} << 24) | (uint32_t{index[at + 5]} << 16) |
                                (uint32_t{index[at + 6]} << 8) | index[at + 7];
      auto header = record::read_batch_header(std::span<const uint8_t>(segment).subspan(position));
      ASSERT_TRUE(header.ok());
      EXPECT_EQ(header->last_offset(), Offset(relative));
    }
    const Bytes time_index = file_contents("data/topic-0/00000000000000000000.timeindex");
    EXPECT_EQ(time_index.size() % 12, 0u);
    EXPECT_GE(time_index.size() / 12, index.size() / 8);
  });
}

TEST_F(PartitionLogTest, OffsetForTimestampFindsTheFirstRecordAtOrAfter) {
  run([&] {
    auto log = open_log();
    // Batch i holds records stamped 10*i, 10*i+1, 10*i+2 at offsets 3i..3i+2.
    for (int i = 0; i < 200; i++) {
      Bytes batch = make_batch(3, 50, 10 * i, i);
      append(*log, batch);
    }
    for (int64_t ts : {0, 1, 5, 10, 12, 13, 995, 1500, 1992}) {
      auto found = log->offset_for_timestamp(ts);
      ASSERT_TRUE(found.ok());
      ASSERT_TRUE(found->has_value()) << ts;
      const int64_t batch = ts / 10;
      const int64_t within = ts % 10;
      const int64_t expected = within <= 2 ? batch * 3 + within : (batch + 1) * 3;
      EXPECT_EQ((*found)->offset, Offset(expected)) << ts;
      EXPECT_GE((*found)->timestamp, ts);
    }
    auto beyond = log->offset_for_timestamp(5000);
    ASSERT_TRUE(beyond.ok());
    EXPECT_FALSE(beyond->has_value());
  });
}

TEST_F(PartitionLogTest, SegmentsRollBySizeAndByAgeAndAreNamedByBaseOffset) {
  config.segment_bytes = 4096;
  config.segment_ms = 60'000;
  run([&] {
    auto log = open_log();
    for (int i = 0; i < 20; i++) {
      Bytes batch = make_batch(2, 400, 1000, i);
      append(*log, batch);
    }
    const size_t by_size = log->segment_count();
    EXPECT_GE(by_size, 4u);
    for (const Offset base : log->segment_base_offsets()) {
      auto found = disk().exists("data/topic-0/" + segment_file_stem(base) + ".log");
      ASSERT_TRUE(found.ok());
      EXPECT_TRUE(*found);
    }
    EXPECT_TRUE(*disk().exists("data/topic-0/00000000000000000000.log"));
    // Age: after segment.ms the next append rolls even a small segment.
    Bytes small = make_batch(1, 10, 1000);
    append(*log, small);
    const size_t before = log->segment_count();
    scheduler.sleep_for(runtime::milliseconds(61'000));
    Bytes later = make_batch(1, 10, 1000);
    const AppendResult result = append(*log, later);
    EXPECT_EQ(log->segment_count(), before + 1);
    EXPECT_EQ(log->segment_base_offsets().back(), result.base_offset);
    // Every offset still reads back after the rolls.
    for (int64_t offset = 0; offset < log->log_end_offset().value(); offset++) {
      EXPECT_FALSE(read(*log, Offset(offset), 1).empty());
    }
  });
}

TEST_F(PartitionLogTest, RetentionByBytesDeletesOldestSegments) {
  config.segment_bytes = 2048;
  config.retention_bytes = 5000;
  run([&] {
    auto log = open_log();
    for (int i = 0; i < 30; i++) {
      Bytes batch = make_batch(1, 900, 1000, i);
      append(*log, batch);
    }
    const size_t before = log->segment_count();
    auto deleted = log->apply_retention();
    ASSERT_TRUE(deleted.ok());
    EXPECT_GT(*deleted, 0u);
    EXPECT_EQ(log->segment_count(), before - *deleted);
    EXPECT_LE(log->size_bytes(), 5000 + 2048);
    EXPECT_GT(log->size_bytes(), 5000 - 2048);
    EXPECT_EQ(log->log_start_offset(), log->segment_base_offsets().front());
    EXPECT_EQ(log->read(Offset(0), 100).error(), StorageError::offset_out_of_range);
    EXPECT_FALSE(read(*log, log->log_start_offset()).empty());
    EXPECT_FALSE(*disk().exists("data/topic-0/00000000000000000000.log"));
    // The new log start survives a reopen.
    const Offset start = log->log_start_offset();
    ASSERT_TRUE(log->close().ok());
    log.reset();
    auto reopened = open_log();
    EXPECT_EQ(reopened->log_start_offset(), start);
  });
}

TEST_F(PartitionLogTest, RetentionByTimeUsesTheNewestTimestampOfEachSegment) {
  config.segment_bytes = 2048;
  config.retention_ms = 10'000;
  run([&] {
    scheduler.sleep_for(runtime::seconds(100));
    auto log = open_log();
    const int64_t now = clock.wall_now().milliseconds;
    // Ten old segments' worth, then new data.
    for (int i = 0; i < 20; i++) {
      Bytes batch = make_batch(1, 900, now - 60'000, i);
      append(*log, batch);
    }
    for (int i = 0; i < 6; i++) {
      Bytes batch = make_batch(1, 900, now, i);
      append(*log, batch);
    }
    auto deleted = log->apply_retention();
    ASSERT_TRUE(deleted.ok());
    EXPECT_EQ(log->log_start_offset(), log->segment_base_offsets().front());
    // Whatever is left starts at most one segment before the new data.
    EXPECT_GE(log->log_start_offset(), Offset(18));
    EXPECT_LE(log->log_start_offset(), Offset(20));
    // Nothing is deleted again until time passes.
    auto again = log->apply_retention();
    ASSERT_TRUE(again.ok());
    EXPECT_EQ(*again, 0u);
    scheduler.sleep_for(runtime::seconds(11));
    auto later = log->apply_retention();
    ASSERT_TRUE(later.ok());
    EXPECT_GT(*later, 0u);
    EXPECT_EQ(log->segment_count(), 1u);  // never the active segment
  });
}

TEST_F(PartitionLogTest, DeleteRecordsRaisesLogStartAndPersistsIt) {
  config.segment_bytes = 2048;
  run([&] {
    auto log = open_log();
    for (int i = 0; i < 20; i++) {
      Bytes batch = make_batch(2, 400, 1000, i);
      append(*log, batch);
    }
    EXPECT_EQ(log->delete_records(Offset(15)).error(), StorageError::offset_out_of_range);
    log->set_high_watermark(log->log_end_offset());
    ASSERT_TRUE(log->delete_records(Offset(15)).ok());
    EXPECT_EQ(log->log_start_offset(), Offset(15));
    EXPECT_LE(log->segment_base_offsets().front(), Offset(15));
    EXPECT_GT(log->segment_base_offsets().front(), Offset(0));
    EXPECT_EQ(log->read(Offset(14), 100).error(), StorageError::offset_out_of_range);
    auto batches = batches_of(read(*log, Offset(15), 1));
    EXPECT_EQ(batches[0].base_offset, Offset(14));  // the batch holding 15
    auto text = read_whole_file(disk(), "data/topic-0/log-start-offset");
    ASSERT_TRUE(text.ok());
    EXPECT_EQ(*text, "0\n15\n");
    log.reset();  // no clean close: recovery must still find the log start
    auto reopened = open_log();
    EXPECT_EQ(reopened->log_start_offset(), Offset(15));
    EXPECT_EQ(reopened->log_end_offset(), Offset(40));
  });
}

TEST_F(PartitionLogTest, TruncateToDropsWholeBatchesAcrossSegments) {
  config.segment_bytes = 2048;
  run([&] {
    auto log = open_log();
    for (int i = 0; i < 20; i++) {
      Bytes batch = make_batch(2, 400, 1000, i);
      append(*log, batch, LeaderEpoch(i < 10 ? 1 : 2));
    }
    ASSERT_EQ(log->leader_epochs().size(), 2u);
    const size_t before = log->segment_count();
    ASSERT_TRUE(log->flush().ok());
    ASSERT_TRUE(log->truncate_to(Offset(13)).ok());  // inside the batch 12..13
    EXPECT_EQ(log->log_end_offset(), Offset(12));
    EXPECT_LE(log->durable_end_offset(), Offset(12));
    EXPECT_LT(log->segment_count(), before);
    EXPECT_TRUE(read(*log, Offset(12)).empty());
    EXPECT_EQ(log->leader_epochs().size(), 1u);  // epoch 2 started at 20
    Bytes batch = make_batch(1, 10, 1000);
    EXPECT_EQ(append(*log, batch, LeaderEpoch(3)).base_offset, Offset(12));
    ASSERT_TRUE(log->flush().ok());
    log.reset();
    auto reopened = open_log();
    EXPECT_EQ(reopened->log_end_offset(), Offset(13));
    auto epochs = reopened->leader_epochs();
    ASSERT_EQ(epochs.size(), 2u);
    EXPECT_EQ(epochs[1], (EpochEntry{LeaderEpoch(3), Offset(12)}));
    EXPECT_EQ(reopened->end_offset_for_epoch(LeaderEpoch(2))->second, Offset(12));
  });
}

TEST_F(PartitionLogTest, ResetToStartsAnEmptyLogAtTheOffsetAndSurvivesReopen) {
  config.segment_bytes = 2048;
  run([&] {
    auto log = open_log();
    for (int i = 0; i < 20; i++) {
      Bytes batch = make_batch(2, 400, 1000, i);
      append(*log, batch, LeaderEpoch(i < 10 ? 1 : 2));
    }
    ASSERT_TRUE(log->flush().ok());
    // Beyond the end (a follower far behind) and inside the log (a diverged tail) alike.
    for (const Offset start : {Offset(55), Offset(61)}) {
      ASSERT_TRUE(log->reset_to(start).ok());
      EXPECT_EQ(log->log_start_offset(), start);
      EXPECT_EQ(log->log_end_offset(), start);
      EXPECT_EQ(log->durable_end_offset(), start);
      EXPECT_EQ(log->segment_count(), 1u);
      EXPECT_TRUE(log->leader_epochs().empty());
      EXPECT_EQ(log->read(Offset(start.value() - 1), 100).error(),
                StorageError::offset_out_of_range);
      EXPECT_TRUE(read(*log, start).empty());
      if (start == Offset(55)) {
        for (int i = 0; i < 5; i++) {
          Bytes batch = make_batch(2, 400, 1000, i);
          append(*log, batch, LeaderEpoch(4));
        }
        EXPECT_EQ(log->log_end_offset(), Offset(65));
        EXPECT_EQ(log->reset_to(Offset(50)).error(), StorageError::offset_out_of_range);
      }
    }
    EXPECT_EQ(log->reset_to(Offset(3)).error(), StorageError::offset_out_of_range);
    Bytes batch = make_batch(1, 10, 1000);
    EXPECT_EQ(append(*log, batch, LeaderEpoch(5)).base_offset, Offset(61));
    ASSERT_TRUE(log->flush().ok());
    log.reset();  // no clean close
    auto reopened = open_log();
    EXPECT_EQ(reopened->log_start_offset(), Offset(61));
    EXPECT_EQ(reopened->log_end_offset(), Offset(62));
    ASSERT_EQ(reopened->leader_epochs().size(), 1u);
    EXPECT_EQ(reopened->leader_epochs()[0], (EpochEntry{LeaderEpoch(5), Offset(61)}));
  });
}

TEST_F(PartitionLogTest, WaitingForTruncatedDataFailsInsteadOfWaitingForever) {
  run([&] {
    auto log = open_log();
    Bytes first = make_batch(5, 10, 1000);
    append(*log, first);
    Bytes second = make_batch(5, 10, 1000);
    const AppendResult result = append(*log, second);
    bool finished = false;
    scheduler.spawn("waiter", [&] {
      EXPECT_EQ(log->wait_durable(result.last_offset.next()).error(),
                StorageError::offset_out_of_range);
      finished = true;
    });
    scheduler.yield();                              // the waiter starts its fsync
    ASSERT_TRUE(log->truncate_to(Offset(5)).ok());  // runs while that fsync does
    while (!finished) scheduler.sleep_for(runtime::milliseconds(1));
    EXPECT_EQ(log->log_end_offset(), Offset(5));
    EXPECT_EQ(log->wait_durable(Offset(6)).error(), StorageError::offset_out_of_range);
  });
}

TEST_F(PartitionLogTest, ReplicatedAppendKeepsOffsetsAndRejectsGoingBack) {
  run([&] {
    auto log = open_log();
    Bytes batch = make_batch(3, 10, 1000);
    record::set_base_offset(batch, Offset(0));
    record::set_partition_leader_epoch(batch, LeaderEpoch(4));
    auto appended = log->append_replicated(batch);
    ASSERT_TRUE(appended.ok());
    EXPECT_EQ(appended->last_offset, Offset(2));
    EXPECT_EQ(log->append_replicated(batch).error(), StorageError::invalid_batch);
    EXPECT_EQ(log->leader_epochs().back(), (EpochEntry{LeaderEpoch(4), Offset(0)}));
  });
}

TEST_F(PartitionLogTest, InvalidBatchesAreRejectedWhole) {
  run([&] {
    auto log = open_log();
    Bytes good = make_batch(3, 10, 1000);
    Bytes bad = make_batch(3, 10, 1000);
    bad.back() ^= 1;  // CRC mismatch
    Bytes both = good;
    both.insert(both.end(), bad.begin(), bad.end());
    EXPECT_EQ(log->append(both, LeaderEpoch(0)).error(), StorageError::invalid_batch);
    Bytes torn(good.begin(), good.end() - 1);
    EXPECT_EQ(log->append(torn, LeaderEpoch(0)).error(), StorageError::invalid_batch);
    config.max_message_bytes = 100;
    auto small = open_log("data/other-0");
    EXPECT_EQ(small->append(good, LeaderEpoch(0)).error(), StorageError::batch_too_large);
    EXPECT_EQ(log->log_end_offset(), Offset(0));
  });
}

TEST_F(PartitionLogTest, LogAppendTimeStampsBatchesAndKeepsThemValid) {
  config.message_timestamp_type = record::TimestampType::log_append_time;
  run([&] {
    auto log = open_log();
    Bytes batch = make_batch(3, 10, 5);
    const int64_t before = clock.wall_now().milliseconds;
    const AppendResult result = append(*log, batch);
    EXPECT_GE(result.log_append_time, before);
    EXPECT_LE(result.log_append_time, clock.wall_now().milliseconds);
    auto batches = batches_of(read(*log, Offset(0)));
    EXPECT_EQ(batches[0].max_timestamp, result.log_append_time);
    EXPECT_EQ(batches[0].timestamp_type(), record::TimestampType::log_append_time);
  });
}

TEST_F(PartitionLogTest, CheckpointFilesUseKafkasFormats) {
  run([&] {
    auto log = open_log();
    Bytes batch = make_batch(3, 10, 1000);
    append(*log, batch, LeaderEpoch(0));
    Bytes next = make_batch(3, 10, 1000);
    append(*log, next, LeaderEpoch(5));
    auto epochs = read_whole_file(disk(), "data/topic-0/leader-epoch-checkpoint");
    ASSERT_TRUE(epochs.ok());
    EXPECT_EQ(*epochs, "0\n2\n0 0\n5 3\n");
    ASSERT_TRUE(log->set_topic_id("AAAAAAAAAAAAAAAAAAAAAQ").ok());
    auto metadata = read_whole_file(disk(), "data/topic-0/partition.metadata");
    ASSERT_TRUE(metadata.ok());
    EXPECT_EQ(*metadata, "version: 0\ntopic_id: AAAAAAAAAAAAAAAAAAAAAQ\n");
    ASSERT_TRUE(log->close().ok());
    log.reset();
    auto reopened = open_log();
    EXPECT_EQ(reopened->topic_id(), "AAAAAAAAAAAAAAAAAAAAAQ");
    EXPECT_EQ(reopened->leader_epochs().size(), 2u);
  });
  EXPECT_FALSE(parse_epoch_checkpoint("0\n2\n1 0\n").has_value());
  EXPECT_FALSE(parse_epoch_checkpoint("0\n2\n3 0\n1 5\n").has_value());
  EXPECT_FALSE(parse_offset_checkpoint("1\n5\n").has_value());
  EXPECT_EQ(parse_offset_checkpoint(format_offset_checkpoint(Offset(42))), Offset(42));
}

TEST_F(PartitionLogTest, DamagedOrPartialEpochCheckpointIsRebuiltFromTheLog) {
  // A checkpoint that is garbage, or that lost its first entries, is not believed: the
  // epoch cache is rebuilt from every batch (raft seed 492).
  for (const std::string damaged :
       {"garbage", "0\n1\n7 6\n", "0\n2\n2 3\n7 6\n", "0\n2\n2 0\n7 6\n"}) {
    run([&] {
      auto log = open_log();
      const std::vector<EpochEntry> expected = {
          {LeaderEpoch(2), Offset(0)}, {LeaderEpoch(4), Offset(3)}, {LeaderEpoch(7), Offset(6)}};
      if (log->log_end_offset() == Offset(0)) {
        for (const auto& entry : expected) {
          Bytes batch = make_batch(3, 10, 1000);
          append(*log, batch, entry.epoch);
        }
      }
      ASSERT_EQ(log->leader_epochs(), expected);
      ASSERT_TRUE(log->close().ok());
      log.reset();
      ASSERT_TRUE(
          storage::write_file_atomically(disk(), "data/topic-0", "leader-epoch-checkpoint", damaged)
              .ok());
      auto reopened = open_log();
      EXPECT_EQ(reopened->leader_epochs(), expected) << damaged;
      EXPECT_EQ(reopened->end_offset_for_epoch(LeaderEpoch(3)),
                (std::pair{LeaderEpoch(2), Offset(3)}));
      ASSERT_TRUE(reopened->close().ok());
    });
  }
}

TEST_F(PartitionLogTest, GroupCommitSharesOneFsyncAmongConcurrentAppenders) {
  CountingDisk counting(disk());
  run([&] {
    auto opened = PartitionLog::open(StorageEnv{scheduler, clock, counting}, "data/g-0", config);
    ASSERT_TRUE(opened.ok());
    PartitionLog& log = **opened;
    const uint64_t syncs_before = counting.syncs();
    constexpr int kAppenders = 50;
    int acknowledged = 0;
    for (int i = 0; i < kAppenders; i++) {
      scheduler.spawn("appender", [&, i] {
        Bytes batch = make_batch(2, 100, 1000, static_cast<uint64_t>(i));
        auto appended = log.append(batch, LeaderEpoch(0));
        VERIFY(appended.ok());
        VERIFY(log.wait_durable(appended->last_offset.next()).ok());
        VERIFY(log.durable_end_offset() > appended->last_offset);
        acknowledged++;
      });
    }
    while (acknowledged < kAppenders) scheduler.sleep_for(runtime::milliseconds(1));
    const uint64_t syncs = counting.syncs() - syncs_before;
    EXPECT_EQ(log.log_end_offset(), Offset(2 * kAppenders));
    EXPECT_LT(syncs, kAppenders / 5) << "group commit should share fsyncs";
    EXPECT_GE(syncs, 1u);
    EXPECT_LE(log.flush_count(), syncs);  // plus the leader-epoch checkpoint's
  });
}

}  // namespace
}  // namespace weir::storage::testing
