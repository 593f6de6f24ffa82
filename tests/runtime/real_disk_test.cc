// The real disk backend: durability across a fresh RealDisk, directory operations,
// path validation and errno mapping.
#include "runtime/real/disk.h"

#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "runtime/real/runtime.h"
#include "tests/runtime/temp_directory.h"

namespace weir::runtime::real {
namespace {

using testing::pattern;
using testing::TempDirectory;

std::vector<std::byte> bytes_of(std::string_view text) {
  const auto* data = reinterpret_cast<const std::byte*>(text.data());
  return std::vector<std::byte>(data, data + text.size());
}

// Runs `body` in a fresh runtime rooted at `root`, and destroys the runtime afterwards,
// so the next call sees only what reached the file system.
void with_disk(const std::string& root, const std::function<void(RealRuntime&, Disk&)>& body) {
  auto created = RealRuntime::create(root);
  ASSERT_TRUE(created.ok());
  std::unique_ptr<RealRuntime> runtime = std::move(created).value();
  runtime->run([&] { body(*runtime, runtime->env().disk); });
}

TEST(RealDiskTest, SyncedDataSurvivesReopeningThroughANewDisk) {
  TempDirectory directory;
  const std::vector<std::byte> first = pattern(1024 * 1024 + 17, 1);
  const std::vector<std::byte> second = pattern(4096, 2);
  const uint64_t second_offset = 3 * 1024 * 1024;
  with_disk(directory.path(), [&](RealRuntime& runtime, Disk& disk) {
    ASSERT_TRUE(disk.make_directories("topic/0").ok());
    auto file = disk.open("topic/0/segment.tmp", OpenMode::create_exclusive);
    ASSERT_TRUE(file.ok()) << to_string(file.error());
    ASSERT_TRUE((*file)->write_at(0, first).ok());
    ASSERT_TRUE((*file)->write_at(second_offset, second).ok());
    ASSERT_TRUE((*file)->sync().ok());
    (*file)->close();
    ASSERT_TRUE(disk.rename("topic/0/segment.tmp", "topic/0/segment.log").ok());
    ASSERT_TRUE(disk.sync_directory("topic/0").ok());
    ASSERT_TRUE(disk.sync_directory("").ok());
    EXPECT_GE(runtime.worker().completed_count(), 3u) << "syncs run on the worker";
  });
  with_disk(directory.path(), [&](RealRuntime&, Disk& disk) {
    auto names = disk.list("topic/0");
    ASSERT_TRUE(names.ok());
    EXPECT_EQ(*names, (std::vector<std::string>{"segment.log"}));
    auto file = disk.open("topic/0/segment.log", OpenMode::read_write);
    ASSERT_TRUE(file.ok());
    auto size = (*file)->size();
    ASSERT_TRUE(size.ok());
    EXPECT_EQ(*size, second_offset + second.size());
    std::vector<std::byte> read_first(first.size());
    auto got = (*file)->read_at(0, read_first);
    ASSERT_TRUE(got.ok());
    EXPECT_EQ(*got, first.size());
    EXPECT_TRUE(read_first == first);
    // The hole between the two writes reads as zeros.
    std::vector<std::byte> hole(16, std::byte{0xff});
    ASSERT_TRUE((*file)->read_at(first.size(), hole).ok());
    EXPECT_TRUE(hole == std::vector<std::byte>(16, std::byte{0}));
    // A read across the end returns only what exists.
    std::vector<std::byte> tail(second.size() + 100);
    got = (*file)->read_at(second_offset, tail);
    ASSERT_TRUE(got.ok());
    EXPECT_EQ(*got, second.size());
    EXPECT_TRUE(std::equal(second.begin(), second.end(), tail.begin()));
  });
}

TEST(RealDiskTest, ListIsSortedAndRenameReplacesTheTarget) {
  TempDirectory directory;
  with_disk(directory.path(), [&](RealRuntime&, Disk& disk) {
    for (const char* name : {"b", "a", "10", "2", "c"}) {
      auto file = disk.open(name, OpenMode::create);
      ASSERT_TRUE(file.ok());
      ASSERT_TRUE((*file)->write_at(0, bytes_of(name)).ok());
    }
    ASSERT_TRUE(disk.make_directories("d/e").ok());
    auto names = disk.list("");
    ASSERT_TRUE(names.ok());
    EXPECT_EQ(*names, (std::vector<std::string>{"10", "2", "a", "b", "c", "d"}));
    auto dot = disk.list(".");
    ASSERT_TRUE(dot.ok());
    EXPECT_EQ(*dot, *names);

    ASSERT_TRUE(disk.rename("a", "b").ok());
    EXPECT_FALSE(*disk.exists("a"));
    auto b = disk.open("b", OpenMode::read_write);
    ASSERT_TRUE(b.ok());
    std::vector<std::byte> content(8);
    auto got = (*b)->read_at(0, content);
    ASSERT_TRUE(got.ok());
    ASSERT_EQ(*got, 1u);
    EXPECT_EQ(content[0], std::byte{'a'});
  });
}

TEST(RealDiskTest, TruncateShrinksAndExtends) {
  TempDirectory directory;
  with_disk(directory.path(), [&](RealRuntime&, Disk& disk) {
    auto file = disk.open("f", OpenMode::create);
    ASSERT_TRUE(file.ok());
    ASSERT_TRUE((*file)->write_at(0, pattern(1000, 3)).ok());
    ASSERT_TRUE((*file)->truncate(10).ok());
    EXPECT_EQ(*(*file)->size(), 10u);
    ASSERT_TRUE((*file)->truncate(50).ok());
    EXPECT_EQ(*(*file)->size(), 50u);
    std::vector<std::byte> tail(40);
    ASSERT_TRUE((*file)->read_at(10, tail).ok());
    EXPECT_TRUE(tail == std::vector<std::byte>(40, std::byte{0}));
  });
}

TEST(RealDiskTest, OperatingErrorsMapToIoErrors) {
  TempDirectory directory;
  with_disk(directory.path(), [&](RealRuntime&, Disk& disk) {
    auto missing = disk.open("missing", OpenMode::read_write);
    ASSERT_FALSE(missing.ok());
    EXPECT_EQ(missing.error(), IoError::not_found);

    ASSERT_TRUE(disk.open("present", OpenMode::create).ok());
    auto again = disk.open("present", OpenMode::create_exclusive);
    ASSERT_FALSE(again.ok());
    EXPECT_EQ(again.error(), IoError::exists);
    EXPECT_TRUE(disk.open("present", OpenMode::create).ok()) << "create opens an existing file";

    EXPECT_EQ(disk.rename("missing", "x").error(), IoError::not_found);
    EXPECT_EQ(disk.remove("missing").error(), IoError::not_found);
    EXPECT_EQ(disk.list("missing").error(), IoError::not_found);
    EXPECT_EQ(disk.sync_directory("missing").error(), IoError::not_found);
    EXPECT_EQ(disk.open("missing/file", OpenMode::create).error(), IoError::not_found);
    // A file is in the way of the directory.
    EXPECT_EQ(disk.make_directories("present/sub").error(), IoError::exists);
    EXPECT_EQ(disk.make_directories("present").error(), IoError::exists);

    ASSERT_TRUE(disk.make_directories("full/child").ok());
    ASSERT_TRUE(disk.make_directories("full/child").ok()) << "idempotent";
    EXPECT_EQ(disk.remove("full").error(), IoError::exists) << "not empty";
    EXPECT_TRUE(disk.remove("full/child").ok());
    EXPECT_TRUE(disk.remove("full").ok());
    EXPECT_FALSE(*disk.exists("full"));
    EXPECT_TRUE(disk.remove("present").ok());
    EXPECT_FALSE(*disk.exists("present"));
  });
}

TEST(RealDiskTest, PathsMustStayInsideTheRoot) {
  TempDirectory directory;
  with_disk(directory.path(), [&](RealRuntime&, Disk& disk) {
    for (const char* bad : {"", "/etc/passwd", "../escape", "a/../b", "a//b", "a/", "./a",
                            "a/./b", ".."}) {
      EXPECT_EQ(disk.open(bad, OpenMode::create).error(), IoError::invalid) << bad;
      EXPECT_EQ(disk.remove(bad).error(), IoError::invalid) << bad;
      EXPECT_EQ(disk.rename("x", bad).error(), IoError::invalid) << bad;
    }
    EXPECT_EQ(disk.list("..").error(), IoError::invalid);
    EXPECT_EQ(disk.make_directories("/tmp/x").error(), IoError::invalid);
    EXPECT_TRUE(valid_relative_path("a/b.log"));
    EXPECT_TRUE(valid_relative_path("..a"));
    EXPECT_FALSE(valid_relative_path("a/.."));
  });
}

TEST(RealDiskTest, ClosedFileFailsWithClosed) {
  TempDirectory directory;
  with_disk(directory.path(), [&](RealRuntime&, Disk& disk) {
    auto file = disk.open("f", OpenMode::create);
    ASSERT_TRUE(file.ok());
    (*file)->close();
    (*file)->close();  // idempotent
    std::vector<std::byte> buffer(4);
    EXPECT_EQ((*file)->read_at(0, buffer).error(), IoError::closed);
    EXPECT_EQ((*file)->write_at(0, buffer).error(), IoError::closed);
    EXPECT_EQ((*file)->sync().error(), IoError::closed);
    EXPECT_EQ((*file)->size().error(), IoError::closed);
    EXPECT_EQ((*file)->truncate(0).error(), IoError::closed);
  });
}

TEST(RealDiskTest, ConcurrentSyncsFromManyFibersAllComplete) {
  TempDirectory directory;
  constexpr int writer_count = 8;
  with_disk(directory.path(), [&](RealRuntime& runtime, Disk& disk) {
    Scheduler& scheduler = runtime.scheduler();
    Semaphore done(scheduler, 0);
    int synced = 0;
    for (int i = 0; i < writer_count; i++) {
      scheduler.spawn("writer", [&, i] {
        auto file = disk.open("f" + std::to_string(i), OpenMode::create_exclusive);
        ASSERT_TRUE(file.ok());
        for (int round = 0; round < 4; round++) {
          ASSERT_TRUE((*file)->write_at(static_cast<uint64_t>(round) * 4096,
                                        pattern(4096, static_cast<uint64_t>(i))).ok());
          ASSERT_TRUE((*file)->sync().ok());
        }
        synced++;
        done.release();
      });
    }
    done.acquire(writer_count);
    EXPECT_EQ(synced, writer_count);
    EXPECT_EQ(runtime.worker().completed_count(), static_cast<uint64_t>(writer_count * 4));
  });
}

TEST(RealDiskTest, RootIsCreatedAndAFileAsRootIsAnError) {
  TempDirectory directory;
  const std::string nested = directory.path() + "/a/b/c";
  with_disk(nested, [&](RealRuntime&, Disk& disk) { EXPECT_TRUE(disk.list("").ok()); });
  with_disk(nested, [&](RealRuntime&, Disk& disk) {
    ASSERT_TRUE(disk.open("file", OpenMode::create).ok());
  });
  auto over_file = RealRuntime::create(nested + "/file/x");
  ASSERT_FALSE(over_file.ok());
  EXPECT_EQ(over_file.error(), IoError::not_found);
}

}  // namespace
}  // namespace weir::runtime::real
