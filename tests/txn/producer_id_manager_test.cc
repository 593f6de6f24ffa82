// ProducerIdManager on SimDisk: ids come in blocks whose end is durable before any of
// them is handed out, so no id is handed out twice across restarts, crashes at any step
// (unsynced writes and directory entries lost or kept) and failed fsyncs.
#include <cstdint>
#include <memory>
#include <set>
#include <string>

#include <gtest/gtest.h>

#include "tests/storage/harness.h"
#include "txn/producer_id_manager.h"

namespace weir::txn {
namespace {

using record::ProducerEpoch;
using record::ProducerId;

constexpr const char* kMetadataDirectory = "metadata";

class ProducerIdManagerTest : public storage::testing::StorageTest {
 public:
  // Inside a fiber.
  std::unique_ptr<ProducerIdManager> open_manager(int64_t block_size = kProducerIdBlockSize) {
    auto manager = ProducerIdManager::open(env(), kMetadataDirectory, block_size);
    VERIFY(manager.ok(), "open: {}", storage::to_string(manager.error()));
    return std::move(manager).value();
  }
};

TEST_F(ProducerIdManagerTest, FreshIdsStartAtEpochZeroAndIncrease) {
  run([&] {
    auto manager = open_manager();
    for (int64_t i = 0; i < 2500; i++) {
      auto id = manager->init_producer_id();
      ASSERT_TRUE(id.ok());
      EXPECT_EQ(id->producer_id, ProducerId(i));
      EXPECT_EQ(id->producer_epoch, ProducerEpoch(0));
    }
    // Three blocks of 1000, each reserved once.
    EXPECT_EQ(manager->reservations(), 3u);
    EXPECT_EQ(manager->reserved_end(), ProducerId(3000));
    EXPECT_EQ(file_contents(std::string(kMetadataDirectory) + "/producer-ids"),
              (record::Bytes{'0', '\n', '3', '0', '0', '0', '\n'}));
  });
}

TEST_F(ProducerIdManagerTest, RestartSkipsTheRestOfTheBlock) {
  run([&] {
    auto manager = open_manager();
    for (int i = 0; i < 10; i++) ASSERT_TRUE(manager->init_producer_id().ok());
    manager.reset();
    manager = open_manager();
    EXPECT_EQ(manager->next_id(), ProducerId(1000));
    auto id = manager->init_producer_id();
    ASSERT_TRUE(id.ok());
    EXPECT_EQ(id->producer_id, ProducerId(1000));
  });
}

TEST_F(ProducerIdManagerTest, MalformedFileIsAnErrorNotAGuess) {
  run([&] {
    ASSERT_TRUE(disk().make_directories(kMetadataDirectory).ok());
    ASSERT_TRUE(storage::write_file_atomically(disk(), kMetadataDirectory, "producer-ids",
                                               "0\nlots\n")
                    .ok());
    auto manager = ProducerIdManager::open(env(), kMetadataDirectory);
    ASSERT_FALSE(manager.ok());
    EXPECT_EQ(manager.error(), storage::StorageError::corrupt_batch);
  });
}

TEST_F(ProducerIdManagerTest, FailedReservationHandsOutNothing) {
  run([&] {
    auto manager = open_manager();
    faults.enabled = true;
    faults.sync_error = 1.0;
    disk().set_faults_active(true);
    auto id = manager->init_producer_id();
    EXPECT_FALSE(id.ok());
    EXPECT_EQ(manager->next_id(), manager->reserved_end());
    disk().set_faults_active(false);
    id = manager->init_producer_id();
    ASSERT_TRUE(id.ok());
  });
}

// Fibers ask for ids until the node is killed at a random step and the disk crashes;
// across all lives no id may repeat.
void crash_sweep(ProducerIdManagerTest& test, uint64_t seed_base, bool disk_faults,
                 uint64_t& handed_out, uint64_t& lives) {
  runtime::Random random(seed_base);
  for (uint64_t seed = 1; seed <= 40; seed++) {
    test.new_disk(seed_base + seed);
    test.faults = sim::DiskFaults{};
    test.faults.enabled = disk_faults;
    test.faults.sync_error = disk_faults ? 0.05 : 0;
    test.faults.write_error = disk_faults ? 0.02 : 0;
    const double survival[] = {0.0, 0.5, 1.0};
    test.faults.unsynced_sector_survives = survival[random.below(3)];
    test.faults.unsynced_entry_survives = survival[random.below(3)];
    std::set<int64_t> seen;
    for (int life = 0; life < 5; life++) {
      runtime::Scheduler& scheduler = test.scheduler;
      const runtime::GroupId group = scheduler.new_group("node");
      std::unique_ptr<ProducerIdManager> manager;
      test.disk().set_faults_active(disk_faults);
      scheduler.spawn(group, "open", [&] {
        for (int attempt = 0; !manager; attempt++) {
          VERIFY(attempt < 100, "open keeps failing");
          auto opened = ProducerIdManager::open(test.env(), kMetadataDirectory, 10);
          if (opened) manager = std::move(opened).value();
        }
        const int fibers = 1 + static_cast<int>(random.below(4));
        for (int f = 0; f < fibers; f++) {
          scheduler.spawn("client", [&] {
            int64_t previous = -1;
            while (true) {
              // Handing out an id from a reserved block does not suspend.
              scheduler.yield();
              auto id = manager->init_producer_id();
              if (!id) continue;  // a failed reservation: ask again, as a client would
              const int64_t value = id->producer_id.value();
              VERIFY(value > previous, "ids of one fiber go up");
              VERIFY(seen.insert(value).second, "producer id {} handed out twice", value);
              previous = value;
              handed_out++;
            }
          });
        }
      });
      int left = static_cast<int>(random.between(1, 1500));
      scheduler.run_until([&] { return --left <= 0; });
      if (auto failure = scheduler.failure()) std::rethrow_exception(failure);
      scheduler.kill_group(group);
      manager.reset();
      test.disk().set_faults_active(false);
      test.disk().crash();
      lives++;
    }
  }
}

TEST_F(ProducerIdManagerTest, CrashesNeverReuseAnId) {
  uint64_t handed_out = 0;
  uint64_t lives = 0;
  crash_sweep(*this, 500, /*disk_faults=*/false, handed_out, lives);
  EXPECT_EQ(lives, 200u);
  EXPECT_GT(handed_out, 2000u);
}

TEST_F(ProducerIdManagerTest, CrashesWithDiskFaultsNeverReuseAnId) {
  uint64_t handed_out = 0;
  uint64_t lives = 0;
  crash_sweep(*this, 900, /*disk_faults=*/true, handed_out, lives);
  EXPECT_GT(stats.get("disk.sync_error") + stats.get("disk.write_error"), 0u);
  EXPECT_GT(handed_out, 1000u);
}

}  // namespace
}  // namespace weir::txn
