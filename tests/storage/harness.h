// A deterministic harness for storage tests: virtual time (ManualClock + JumpReactor),
// a fiber scheduler, and a SimDisk whose crash semantics and faults the tests drive.
// Helpers that do I/O must run inside a fiber (run() starts one).
#pragma once

#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "record/batch.h"
#include "runtime/disk.h"
#include "sim/disk.h"
#include "sim/faults.h"
#include "storage/partition_log.h"
#include "tests/runtime/fixture.h"

namespace weir::storage::testing {

using record::Bytes;
using record::LeaderEpoch;
using record::Offset;

// A batch of `count` records whose values are `value_bytes` long, stamped from
// `timestamp` onward (one millisecond apart); contents vary with `seed`.
inline Bytes make_batch(int count, size_t value_bytes, int64_t timestamp, uint64_t seed = 0) {
  VERIFY(count > 0);
  std::vector<record::Record> records(static_cast<size_t>(count));
  for (int i = 0; i < count; i++) {
    auto& r = records[static_cast<size_t>(i)];
    r.offset_delta = i;
    r.timestamp_delta = i;
    Bytes value(value_bytes);
    for (size_t j = 0; j < value_bytes; j++) value[j] = static_cast<uint8_t>(seed * 31 + j + i);
    r.value = std::move(value);
  }
  record::BatchOptions options;
  options.base_timestamp = timestamp;
  return record::encode_batch(options, records);
}

// Counts fsyncs of files (not directories) on the way to another Disk.
class CountingDisk final : public runtime::Disk {
 public:
  explicit CountingDisk(runtime::Disk& inner) : inner_(inner) {}
  runtime::IoResult<std::unique_ptr<runtime::File>> open(const std::string& path,
                                                         runtime::OpenMode mode) override {
    auto file = inner_.open(path, mode);
    if (!file) return file;
    return std::unique_ptr<runtime::File>(new CountingFile(std::move(file).value(), syncs_));
  }
  runtime::IoResult<void> remove(const std::string& path) override { return inner_.remove(path); }
  runtime::IoResult<void> rename(const std::string& from, const std::string& to) override {
    return inner_.rename(from, to);
  }
  runtime::IoResult<std::vector<std::string>> list(const std::string& directory) override {
    return inner_.list(directory);
  }
  runtime::IoResult<void> make_directories(const std::string& directory) override {
    return inner_.make_directories(directory);
  }
  runtime::IoResult<void> sync_directory(const std::string& directory) override {
    return inner_.sync_directory(directory);
  }
  runtime::IoResult<bool> exists(const std::string& path) override {
    return inner_.exists(path);
  }
  uint64_t syncs() const { return syncs_; }

 private:
  class CountingFile final : public runtime::File {
   public:
    CountingFile(std::unique_ptr<runtime::File> inner, uint64_t& syncs)
        : inner_(std::move(inner)), syncs_(syncs) {}
    runtime::IoResult<size_t> read_at(uint64_t offset, std::span<std::byte> buffer) override {
      return inner_->read_at(offset, buffer);
    }
    runtime::IoResult<void> write_at(uint64_t offset, std::span<const std::byte> bytes) override {
      return inner_->write_at(offset, bytes);
    }
    runtime::IoResult<uint64_t> size() override { return inner_->size(); }
    runtime::IoResult<void> truncate(uint64_t size) override { return inner_->truncate(size); }
    runtime::IoResult<void> sync() override {
      syncs_++;
      return inner_->sync();
    }
    void close() override { inner_->close(); }

   private:
    std::unique_ptr<runtime::File> inner_;
    uint64_t& syncs_;
  };
  runtime::Disk& inner_;
  uint64_t syncs_ = 0;
};

class StorageTest : public ::testing::Test {
 public:
  StorageTest() {
    config.segment_bytes = 64 * 1024;
    config.index_interval_bytes = 1024;
  }

  sim::SimDisk& disk() {
    if (!disk_) {
      disk_ = std::make_unique<sim::SimDisk>(scheduler, runtime::Random(disk_seed), faults,
                                             stats);
    }
    return *disk_;
  }

  // Replaces the disk with an empty one (outside fibers, with no log open).
  void new_disk(uint64_t seed) {
    disk_.reset();
    disk_seed = seed;
  }

  // Runs `body` in a fiber of its own group until everything is done.
  void run(std::function<void()> body) {
    scheduler.spawn("test", std::move(body));
    scheduler.run();
    if (auto failure = scheduler.failure()) std::rethrow_exception(failure);
  }

  StorageEnv env() { return StorageEnv{scheduler, clock, disk()}; }

  // Inside a fiber: opens (recovers) the partition log, failing the test on error.
  std::unique_ptr<PartitionLog> open_log(const std::string& directory = "data/topic-0") {
    auto log = PartitionLog::open(env(), directory, config);
    VERIFY(log.ok(), "open: {}", to_string(log.error()));
    return std::move(log).value();
  }

  // Inside a fiber: appends one batch, failing the test on error.
  static AppendResult append(PartitionLog& log, Bytes& batch, LeaderEpoch epoch = LeaderEpoch(0)) {
    auto appended = log.append(batch, epoch);
    VERIFY(appended.ok(), "append: {}", to_string(appended.error()));
    return *appended;
  }

  static Bytes read(PartitionLog& log, Offset from, size_t max_bytes = 1 << 20) {
    auto bytes = log.read(from, max_bytes);
    VERIFY(bytes.ok(), "read: {}", to_string(bytes.error()));
    return std::move(bytes).value();
  }

  // Inside a fiber: the whole contents of a file.
  Bytes file_contents(const std::string& path) {
    auto file = disk().open(path, runtime::OpenMode::read_write);
    VERIFY(file.ok(), "open {}", path);
    auto size = (*file)->size();
    VERIFY(size.ok());
    Bytes bytes(*size);
    auto read = (*file)->read_at(0, {reinterpret_cast<std::byte*>(bytes.data()), bytes.size()});
    VERIFY(read.ok() && *read == bytes.size());
    (*file)->close();
    return bytes;
  }

  runtime::testing::ManualClock clock;
  runtime::testing::JumpReactor reactor{clock};
  runtime::Scheduler scheduler{clock, reactor, nullptr};
  sim::DiskFaults faults;
  sim::FaultStats stats;
  uint64_t disk_seed = 1;
  LogConfig config;

 private:
  std::unique_ptr<sim::SimDisk> disk_;
};

}  // namespace weir::storage::testing
