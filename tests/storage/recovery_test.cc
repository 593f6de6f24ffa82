// Recovery: crashes of the SimDisk at random points (unsynced sectors torn, directory
// entries lost), corrupted and torn segments, failed fsyncs, and a RapidCheck property
// running random operations and crashes against an in-memory model of the log.
//
// The promise checked everywhere: every batch acknowledged durable (wait_durable
// returned ok) is present after recovery at its offset, byte for byte; the recovered
// log is a prefix of what was appended (nothing invented, nothing after the first bad
// batch exposed), with offsets strictly increasing and contiguous.
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <rapidcheck.h>

#include "record/batch.h"
#include "storage/partition_log.h"
#include "tests/storage/harness.h"

namespace weir::storage::testing {
namespace {

// What a test sent: the batch as stored (offsets assigned) and whether it was acked.
struct Sent {
  Bytes bytes;
  Offset last_offset;
  bool acknowledged = false;
};

// Inside a fiber: reads the whole log and checks it against `sent` (keyed by base
// offset). Returns the batches found, keyed by base offset.
std::map<Offset, Bytes> check_log(PartitionLog& log, const std::map<Offset, Sent>& sent) {
  std::map<Offset, Bytes> found;
  Offset next = log.log_start_offset();
  std::optional<Offset> previous_last;
  while (next < log.log_end_offset()) {
    auto bytes = log.read(next, 64 * 1024);
    VERIFY(bytes.ok(), "read at {}: {}", next, to_string(bytes.error()));
    VERIFY(!bytes->empty(), "read at {} below log end {} found nothing", next,
           log.log_end_offset());
    auto batches = record::split_batches(*bytes);
    VERIFY(batches.ok(), "recovered log holds an invalid batch at {}", next);
    for (const auto& batch : *batches) {
      const auto& header = batch.header;
      if (previous_last) {
        VERIFY(header.base_offset == previous_last->next(), "offsets {} then {}", *previous_last,
               header.base_offset);
      }
      previous_last = header.last_offset();
      auto it = sent.find(header.base_offset);
      VERIFY(it != sent.end(), "batch at {} was never appended", header.base_offset);
      VERIFY(Bytes(batch.bytes.begin(), batch.bytes.end()) == it->second.bytes,
             "batch at {} differs from what was appended", header.base_offset);
      found.emplace(header.base_offset, Bytes(batch.bytes.begin(), batch.bytes.end()));
      next = header.last_offset().next();
    }
  }
  VERIFY(next == log.log_end_offset());
  for (const auto& [base, batch] : sent) {
    if (!batch.acknowledged || base < log.log_start_offset()) continue;
    VERIFY(found.contains(base), "acknowledged batch at {} was lost (log end {})", base,
           log.log_end_offset());
  }
  return found;
}

using RecoveryTest = StorageTest;

constexpr uint64_t kCrashSeed = 2024;

TEST_F(RecoveryTest, CorruptedBatchIsDetectedAndTheTailFromItTruncated) {
  run([&] {
    auto log = open_log();
    std::vector<AppendResult> results;
    for (int i = 0; i < 10; i++) {
      Bytes batch = make_batch(3, 100, 1000, i);
      results.push_back(append(*log, batch));
    }
    ASSERT_TRUE(log->flush().ok());
    log.reset();  // a crash of the process: no clean shutdown marker
    // Flip one byte inside the sixth batch's records (covered by its CRC).
    const Bytes before = file_contents("data/topic-0/00000000000000000000.log");
    const size_t batch_bytes = before.size() / 10;
    auto file = disk().open("data/topic-0/00000000000000000000.log", runtime::OpenMode::read_write);
    ASSERT_TRUE(file.ok());
    std::byte flipped{static_cast<uint8_t>(before[5 * batch_bytes + 70] ^ 0x10)};
    ASSERT_TRUE((*file)->write_at(5 * batch_bytes + 70, {&flipped, 1}).ok());
    ASSERT_TRUE((*file)->sync().ok());
    (*file)->close();

    auto recovered = open_log();
    EXPECT_EQ(recovered->log_end_offset(), results[5].base_offset);
    EXPECT_EQ(file_contents("data/topic-0/00000000000000000000.log").size(), 5 * batch_bytes);
    EXPECT_EQ(read(*recovered, Offset(0)), Bytes(before.begin(), before.begin() + 5 * batch_bytes));
    // The log goes on from there.
    Bytes batch = make_batch(1, 10, 1000);
    EXPECT_EQ(append(*recovered, batch).base_offset, results[5].base_offset);
  });
}

// The base offset is outside the batch CRC. A bit flipped there in a cleanly shut down
// log (which is trusted, not re-scanned with CRCs) must not move the log's end: the
// batches of a segment follow each other without gaps (broker_log seed 267 saw a log
// end move 2^28 ahead, and acknowledged appends go to offsets no read found).
TEST_F(RecoveryTest, AFlippedBaseOffsetInACleanLogDoesNotMoveItsEnd) {
  run([&] {
    auto log = open_log();
    std::vector<AppendResult> results;
    for (int i = 0; i < 10; i++) {
      Bytes batch = make_batch(3, 100, 1000, i);
      results.push_back(append(*log, batch));
    }
    ASSERT_TRUE(log->close().ok());  // clean: the next open trusts the segment
    log.reset();
    const Bytes before = file_contents("data/topic-0/00000000000000000000.log");
    const size_t batch_bytes = before.size() / 10;
    // Bit 28 of the last batch's base offset (bytes 0-7, big-endian: byte 4, bit 4).
    auto file = disk().open("data/topic-0/00000000000000000000.log", runtime::OpenMode::read_write);
    ASSERT_TRUE(file.ok());
    std::byte flipped{static_cast<uint8_t>(before[9 * batch_bytes + 4] ^ 0x10)};
    ASSERT_TRUE((*file)->write_at(9 * batch_bytes + 4, {&flipped, 1}).ok());
    ASSERT_TRUE((*file)->sync().ok());
    (*file)->close();

    auto reopened = open_log();
    EXPECT_EQ(reopened->log_end_offset(), results[9].base_offset);
    Bytes batch = make_batch(1, 10, 1000);
    EXPECT_EQ(append(*reopened, batch).base_offset, results[9].base_offset);
  });
}

TEST_F(RecoveryTest, TornTailIsTruncated) {
  run([&] {
    auto log = open_log();
    for (int i = 0; i < 4; i++) {
      Bytes batch = make_batch(3, 100, 1000, i);
      append(*log, batch);
    }
    ASSERT_TRUE(log->flush().ok());
    const Offset end = log->log_end_offset();
    log.reset();
    const Bytes before = file_contents("data/topic-0/00000000000000000000.log");
    // Half of a fifth batch, as a crash mid-write leaves it.
    Bytes half = make_batch(3, 100, 1000, 9);
    record::set_base_offset(half, end);
    half.resize(half.size() / 2);
    auto file = disk().open("data/topic-0/00000000000000000000.log", runtime::OpenMode::read_write);
    ASSERT_TRUE(file.ok());
    ASSERT_TRUE((*file)->write_at(before.size(), {reinterpret_cast<const std::byte*>(half.data()),
                                                 half.size()}).ok());
    (*file)->close();

    auto recovered = open_log();
    EXPECT_EQ(recovered->log_end_offset(), end);
    EXPECT_EQ(file_contents("data/topic-0/00000000000000000000.log"), before);
  });
}

TEST_F(RecoveryTest, MissingOrDamagedIndexesAreRebuilt) {
  config.segment_bytes = 4096;
  run([&] {
    auto log = open_log();
    for (int i = 0; i < 40; i++) {
      Bytes batch = make_batch(2, 200, 1000 + i, i);
      append(*log, batch);
    }
    ASSERT_GT(log->segment_count(), 2u);
    ASSERT_TRUE(log->close().ok());
    log.reset();
    const std::string index = "data/topic-0/00000000000000000000.index";
    const Bytes original = file_contents(index);
    ASSERT_FALSE(original.empty());
    ASSERT_TRUE(disk().remove(index).ok());
    // A garbage time index in the second segment.
    const std::string second = "data/topic-0/" +
                               segment_file_stem(Offset(0) + 0) + ".timeindex";
    auto file = disk().open(second, runtime::OpenMode::read_write);
    ASSERT_TRUE(file.ok());
    const std::byte junk[5] = {};
    ASSERT_TRUE((*file)->write_at(0, junk).ok());
    (*file)->close();

    auto reopened = open_log();
    EXPECT_EQ(file_contents(index), original);
    EXPECT_EQ(reopened->log_end_offset(), Offset(80));
    for (int64_t offset = 0; offset < 80; offset += 3) {
      EXPECT_FALSE(read(*reopened, Offset(offset), 1).empty());
    }
    auto found = reopened->offset_for_timestamp(1010);
    ASSERT_TRUE(found.ok() && found->has_value());
    EXPECT_EQ((*found)->offset, Offset(19));  // batch 9 holds 1009 and 1010
  });
}

TEST_F(RecoveryTest, FailedFsyncMakesTheLogSuspectAndReopenRewritesTheTail) {
  faults.enabled = true;
  faults.unsynced_sector_survives = 0;
  disk_seed = 7;
  Offset recovered_end{0};
  run([&] {
    auto log = open_log();
    for (int i = 0; i < 3; i++) {
      Bytes batch = make_batch(3, 100, 1000, i);
      append(*log, batch);
    }
    ASSERT_TRUE(log->flush().ok());
    for (int i = 0; i < 30; i++) {
      Bytes batch = make_batch(3, 100, 1000, i);
      append(*log, batch);
    }
    faults.sync_error = 1;
    disk().set_faults_active(true);
    EXPECT_EQ(log->flush().error(), StorageError::io);
    EXPECT_TRUE(log->suspect());
    disk().set_faults_active(false);
    Bytes more = make_batch(1, 10, 1000);
    EXPECT_EQ(log->append(more, LeaderEpoch(0)).error(), StorageError::suspect);
    EXPECT_EQ(log->flush().error(), StorageError::suspect);
    // Reads still work: they show what the page cache holds.
    EXPECT_FALSE(read(*log, Offset(50)).empty());
    ASSERT_TRUE(log->close().ok());  // suspect: closes without a clean-shutdown marker
    log.reset();
    // Reopen without a crash: recovery sees everything in the page cache and must make
    // it durable before calling it so.
    auto reopened = open_log();
    recovered_end = reopened->log_end_offset();
    EXPECT_EQ(recovered_end, Offset(99));
  });
  EXPECT_EQ(stats.get("disk.sync_error"), 1u);
  disk().crash();
  run([&] {
    auto reopened = open_log();
    EXPECT_EQ(reopened->log_end_offset(), recovered_end);
  });
}

TEST_F(RecoveryTest, CorruptedReadsAreRetriedOrReportedNeverReturned) {
  faults.enabled = true;
  run([&] {
    auto log = open_log();
    std::map<Offset, Bytes> stored;
    for (int i = 0; i < 200; i++) {
      Bytes batch = make_batch(1 + i % 4, 80, 1000 + i, static_cast<uint64_t>(i));
      const AppendResult result = append(*log, batch, LeaderEpoch(i / 50));
      stored[result.base_offset] = batch;
    }
    ASSERT_TRUE(log->flush().ok());
    faults.read_corruption = 0.3;
    disk().set_faults_active(true);
    runtime::Random random(5);
    int good = 0;
    int reported = 0;
    for (int i = 0; i < 500; i++) {
      const Offset from(random.between(0, log->log_end_offset().value() - 1));
      auto bytes = log->read(from, 1 + random.below(4000));
      if (!bytes) {
        EXPECT_EQ(bytes.error(), StorageError::corrupt_batch);
        reported++;
        continue;
      }
      auto batches = record::split_batches(*bytes);
      ASSERT_TRUE(batches.ok());
      ASSERT_FALSE(batches->empty());
      EXPECT_LE((*batches)[0].header.base_offset, from);
      EXPECT_GE((*batches)[0].header.last_offset(), from);
      for (const auto& batch : *batches) {
        auto it = stored.find(batch.header.base_offset);
        ASSERT_NE(it, stored.end());
        EXPECT_EQ(Bytes(batch.bytes.begin(), batch.bytes.end()), it->second);
      }
      good++;
    }
    disk().set_faults_active(false);
    EXPECT_GT(good, 400);
    EXPECT_GT(stats.get("disk.read_corruption"), 50u);
    (void)reported;
  });
}

TEST_F(RecoveryTest, CleanCloseSkipsTheRewriteAndTheNextOpenRemovesTheMarker) {
  CountingDisk counting(disk());
  run([&] {
    StorageEnv counted{scheduler, clock, counting};
    auto log = PartitionLog::open(counted, "data/topic-0", config);
    ASSERT_TRUE(log.ok());
    for (int i = 0; i < 20; i++) {
      Bytes batch = make_batch(3, 100, 1000, static_cast<uint64_t>(i));
      ASSERT_TRUE((*log)->append(batch, LeaderEpoch(0)).ok());
    }
    ASSERT_TRUE((*log)->close().ok());
    const uint64_t syncs_before_clean_open = counting.syncs();
    log = PartitionLog::open(counted, "data/topic-0", config);
    ASSERT_TRUE(log.ok());
    const uint64_t syncs_after_clean_open = counting.syncs();
    EXPECT_EQ(syncs_after_clean_open, syncs_before_clean_open);  // nothing rewritten
    EXPECT_FALSE(*disk().exists("data/topic-0/clean-shutdown"));
    Bytes batch = make_batch(3, 100, 1000);
    ASSERT_TRUE((*log)->append(batch, LeaderEpoch(0)).ok());
    log = StorageResult<std::unique_ptr<PartitionLog>>(nullptr);  // no clean close
    log = PartitionLog::open(counted, "data/topic-0", config);
    ASSERT_TRUE(log.ok());
    // The unclean open recovered (and fsynced) the active segment's three files.
    EXPECT_GE(counting.syncs() - syncs_after_clean_open, 3u);
    EXPECT_EQ((*log)->log_end_offset(), Offset(63));
  });
}

// Appenders in a group that the test kills at a random step, then the disk crashes.
class CrashHarness {
 public:
  CrashHarness(StorageTest& test, std::string directory)
      : test_(test), directory_(std::move(directory)) {}

  // One life: open, append from `appenders` fibers for up to `steps` scheduler steps,
  // crash. Then open again and check everything acknowledged so far survived.
  void live_and_crash(uint64_t seed, int appenders, int steps) {
    runtime::Scheduler& scheduler = test_.scheduler;
    const runtime::GroupId group = scheduler.new_group("node");
    std::unique_ptr<PartitionLog> log;
    scheduler.spawn(group, "open", [&] {
      // Injected faults may fail an open; it is simply tried again, as a broker would.
      for (int attempt = 0; !log; attempt++) {
        VERIFY(attempt < 100, "open keeps failing");
        auto opened = PartitionLog::open(test_.env(), directory_, test_.config);
        if (opened) log = std::move(opened).value();
      }
      // Offsets beyond the recovered end were lost and will be assigned again.
      std::erase_if(sent_, [&](const auto& entry) { return entry.first >= log->log_end_offset(); });
      check_log(*log, sent_);
      for (int a = 0; a < appenders; a++) {
        scheduler.spawn("append", [&, a] {
          for (uint64_t i = 0;; i++) {
            // Kept where the test can see it: if this fiber dies inside append, the
            // batch (offsets already assigned in place) may still reach the disk.
            Bytes& batch = in_flight_[a];
            batch = make_batch(1 + static_cast<int>((seed + i) % 7), 60, 1000,
                               seed * 1000 + i * 10 + static_cast<uint64_t>(a));
            auto appended = log->append(batch, LeaderEpoch(1));
            if (!appended) return;
            sent_[appended->base_offset] = Sent{batch, appended->last_offset, false};
            if (!log->wait_durable(appended->last_offset.next())) return;
            auto it = sent_.find(appended->base_offset);
            VERIFY(it != sent_.end());
            it->second.acknowledged = true;
            acknowledged_++;
          }
        });
      }
    });
    int left = steps;
    scheduler.run_until([&] { return --left <= 0; });
    if (auto failure = scheduler.failure()) std::rethrow_exception(failure);
    scheduler.kill_group(group);
    log.reset();
    for (const auto& [appender, batch] : in_flight_) {
      auto header = record::read_batch_header(batch);
      VERIFY(header.ok());
      sent_.try_emplace(header->base_offset, Sent{batch, header->last_offset(), false});
    }
    in_flight_.clear();
    test_.disk().crash();
  }

  void check_final() {
    test_.run([&] {
      auto log = test_.open_log(directory_);
      std::erase_if(sent_, [&](const auto& entry) { return entry.first >= log->log_end_offset(); });
      check_log(*log, sent_);
    });
  }
  uint64_t acknowledged() const { return acknowledged_; }

 private:
  StorageTest& test_;
  std::string directory_;
  std::map<Offset, Sent> sent_;
  std::map<int, Bytes> in_flight_;  // by appender
  uint64_t acknowledged_ = 0;
};

TEST_F(RecoveryTest, CrashesAtRandomPointsKeepEveryAcknowledgedBatch) {
  config.segment_bytes = 6 * 1024;
  config.index_interval_bytes = 512;
  runtime::Random random(kCrashSeed);
  uint64_t acknowledged = 0;
  for (uint64_t seed = 1; seed <= 100; seed++) {
    new_disk(seed);
    const double survival[] = {0.0, 0.5, 0.9, 1.0};
    faults.unsynced_sector_survives = survival[random.below(4)];
    faults.unsynced_entry_survives = survival[random.below(4)];
    CrashHarness harness(*this, fmt::format("data/crash-{}", seed));
    for (int life = 0; life < 3; life++) {
      harness.live_and_crash(seed, 1 + static_cast<int>(random.below(8)),
                             static_cast<int>(random.between(1, 3000)));
    }
    harness.check_final();
    acknowledged += harness.acknowledged();
  }
  EXPECT_GT(acknowledged, 500u);  // the runs did real work before crashing
}

TEST_F(RecoveryTest, CrashesWithDiskFaultsKeepEveryAcknowledgedBatch) {
  config.segment_bytes = 6 * 1024;
  config.index_interval_bytes = 512;
  runtime::Random random(kCrashSeed + 1);
  uint64_t acknowledged = 0;
  for (uint64_t seed = 1; seed <= 60; seed++) {
    new_disk(1000 + seed);
    faults = sim::DiskFaults{};
    faults.enabled = true;
    faults.sync_error = 0.02 * static_cast<double>(random.below(3));
    faults.write_error = 0.01 * static_cast<double>(random.below(2));
    faults.no_space = 0.01 * static_cast<double>(random.below(2));
    faults.unsynced_sector_survives = 0.5;
    CrashHarness harness(*this, fmt::format("data/faults-{}", seed));
    for (int life = 0; life < 3; life++) {
      // Faults strike while the log runs; recovery itself runs on a healed disk.
      disk().set_faults_active(true);
      harness.live_and_crash(seed, 1 + static_cast<int>(random.below(6)),
                             static_cast<int>(random.between(1, 3000)));
      disk().set_faults_active(false);
    }
    harness.check_final();
    acknowledged += harness.acknowledged();
  }
  EXPECT_GT(stats.get("disk.sync_error") + stats.get("disk.write_error"), 0u);
  EXPECT_GT(acknowledged, 100u);
}

// ---- RapidCheck: random operations and crashes against a model ---------------------

// A fresh world per property run.
struct World {
  runtime::testing::ManualClock clock;
  runtime::testing::JumpReactor reactor{clock};
  runtime::Scheduler scheduler{clock, reactor, nullptr};
  sim::DiskFaults faults;
  sim::FaultStats stats;
  std::unique_ptr<sim::SimDisk> disk;
  explicit World(uint64_t seed) {
    disk = std::make_unique<sim::SimDisk>(scheduler, runtime::Random(seed), faults, stats);
  }
  void run(std::function<void()> body) {
    scheduler.spawn("op", std::move(body));
    scheduler.run();
    if (auto failure = scheduler.failure()) std::rethrow_exception(failure);
  }
};

TEST(RecoveryProperty, RandomOperationsAndCrashesMatchTheModel) {
  const bool passed = rc::check([] {
    World world(*rc::gen::inRange<uint64_t>(1, 1'000'000));
    world.faults.unsynced_sector_survives = *rc::gen::element(0.0, 0.5, 1.0);
    LogConfig config;
    config.segment_bytes = *rc::gen::inRange<int64_t>(1024, 8192);
    config.index_interval_bytes = *rc::gen::inRange<int64_t>(0, 2048);
    config.retention_bytes = *rc::gen::inRange<int64_t>(-1, 16 * 1024);
    StorageEnv env{world.scheduler, world.clock, *world.disk};
    // The model: batches by base offset; what is durable; the log start.
    std::map<Offset, Sent> model;
    Offset durable{0};
    Offset log_start{0};
    std::unique_ptr<PartitionLog> log;
    auto reopen = [&] {
      world.run([&] {
        auto opened = PartitionLog::open(env, "p-0", config);
        RC_ASSERT(opened.ok());
        log = std::move(opened).value();
        RC_ASSERT(log->log_end_offset() >= durable);
        RC_ASSERT(log->log_start_offset() >= log_start);
        std::erase_if(model, [&](const auto& e) {
            return e.second.last_offset >= log->log_end_offset();
          });
        log_start = log->log_start_offset();
        check_log(*log, model);
      });
    };
    reopen();
    const int operations = *rc::gen::inRange(1, 40);
    for (int op = 0; op < operations; op++) {
      const int kind = *rc::gen::inRange(0, 11);
      RC_LOG() << fmt::format("op {} start {} end {} durable {}\n", kind,
                              log->log_start_offset(), log->log_end_offset(), durable);
      if (kind <= 4) {
        const int count = *rc::gen::inRange(1, 4);
        std::vector<Bytes> batches;
        for (int i = 0; i < count; i++) {
          batches.push_back(make_batch(*rc::gen::inRange(1, 6), *rc::gen::inRange<size_t>(0, 700),
                                       1000 + op, static_cast<uint64_t>(op * 10 + i)));
        }
        const bool durable_wait = *rc::gen::arbitrary<bool>();
        world.run([&] {
          for (Bytes& batch : batches) {
            auto appended = log->append(batch, LeaderEpoch(0));
            RC_ASSERT(appended.ok());
            model[appended->base_offset] = Sent{batch, appended->last_offset, false};
          }
          if (durable_wait) {
            RC_ASSERT(log->flush().ok());
            for (auto& [base, sent] : model) sent.acknowledged = true;
            durable = log->log_end_offset();
          }
        });
      } else if (kind == 5) {
        world.run([&] {
          const Offset end = log->log_end_offset();
          const Offset target = end - *rc::gen::inRange<int64_t>(0, 10);
          if (target < log->log_start_offset()) return;
          RC_ASSERT(log->truncate_to(target).ok());
          RC_ASSERT(log->log_end_offset() <= target);
          std::erase_if(model, [&](const auto& e) {
            return e.second.last_offset >= log->log_end_offset();
          });
          durable = std::min(durable, log->log_end_offset());
        });
      } else if (kind == 6) {
        world.run([&] {
          log->set_high_watermark(log->log_end_offset());
          const Offset target = log->log_start_offset() +
                                *rc::gen::inRange<int64_t>(0, 5);
          if (target > log->log_end_offset()) return;
          RC_ASSERT(log->delete_records(target).ok());
          RC_ASSERT(log->log_start_offset() == std::max(target, log_start));
          log_start = log->log_start_offset();
          check_log(*log, model);
        });
      } else if (kind == 7) {
        world.run([&] {
          durable = log->log_end_offset();
          RC_ASSERT(log->close().ok());
        });
        log.reset();
        for (auto& [base, sent] : model) sent.acknowledged = true;
        reopen();
      } else if (kind == 8) {
        world.run([&] {
          auto deleted = log->apply_retention();
          RC_ASSERT(deleted.ok());
          RC_ASSERT(log->log_start_offset() >= log_start);
          log_start = log->log_start_offset();
          check_log(*log, model);
        });
      } else {
        log.reset();
        world.disk->crash();
        reopen();
      }
    }
    log.reset();
    world.disk->crash();
    reopen();
  });
  EXPECT_TRUE(passed);
}

}  // namespace
}  // namespace weir::storage::testing
