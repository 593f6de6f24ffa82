// Append throughput of a PartitionLog: 1 MiB per iteration of batches holding 100-byte
// records (100 records a batch), on SimDisk (the CPU cost of weir's own code: virtual
// time makes the disk free) and on the real disk through RealRuntime (fsync included).
//   storage_append_sim/<durable>: durable=1 flushes after each MiB.
//   storage_append_real/<appenders>: that many fibers append one batch at a time and
//     each waits for durability; group commit shares the fsyncs (reported as a counter).
#include <stdlib.h>

#include <cstddef>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <benchmark/benchmark.h>

#include "record/batch.h"
#include "runtime/real/runtime.h"
#include "runtime/scheduler.h"
#include "sim/disk.h"
#include "storage/partition_log.h"

namespace weir::storage {
namespace {

constexpr size_t kRecordBytes = 100;
constexpr int kRecordsPerBatch = 100;
constexpr size_t kAppendBytes = 1024 * 1024;

record::Bytes make_batch() {
  std::vector<record::Record> records(kRecordsPerBatch);
  for (int i = 0; i < kRecordsPerBatch; i++) {
    records[static_cast<size_t>(i)].offset_delta = i;
    records[static_cast<size_t>(i)].value = record::Bytes(kRecordBytes, static_cast<uint8_t>(i));
  }
  record::BatchOptions options;
  options.base_timestamp = 1'700'000'000'000;
  return record::encode_batch(options, records);
}

LogConfig bench_config() {
  LogConfig config;
  config.segment_bytes = 64 * 1024 * 1024;
  config.retention_bytes = 128 * 1024 * 1024;  // keeps the simulated disk small
  return config;
}

class VirtualClock final : public runtime::Clock {
 public:
  runtime::Instant now() const override { return now_; }
  runtime::WallTime wall_now() const override {
    return runtime::WallTime{now_.nanoseconds() / 1'000'000};
  }
  void advance_to(runtime::Instant t) {
    if (t > now_) now_ = t;
  }

 private:
  runtime::Instant now_;
};

class JumpingReactor final : public runtime::Reactor {
 public:
  explicit JumpingReactor(VirtualClock& clock) : clock_(clock) {}
  bool wait(std::optional<runtime::Instant> deadline) override {
    if (!deadline) return false;
    clock_.advance_to(*deadline);
    return true;
  }

 private:
  VirtualClock& clock_;
};

void storage_append_sim(benchmark::State& state) {
  const bool durable = state.range(0) != 0;
  VirtualClock clock;
  JumpingReactor reactor(clock);
  runtime::Scheduler scheduler(clock, reactor, nullptr);
  sim::DiskFaults faults;
  sim::FaultStats stats;
  sim::SimDisk disk(scheduler, runtime::Random(1), faults, stats);
  record::Bytes batch = make_batch();
  const size_t batches = kAppendBytes / batch.size();
  int64_t bytes = 0;
  scheduler.spawn("bench", [&] {
    auto opened = PartitionLog::open(StorageEnv{scheduler, clock, disk}, "bench-0",
                                     bench_config());
    if (!opened) {
      state.SkipWithError("open failed");
      return;
    }
    PartitionLog& log = **opened;
    for (auto _ : state) {
      for (size_t i = 0; i < batches; i++) {
        // The same buffer again: append only rewrites the offset and epoch in place.
        if (!log.append(batch, LeaderEpoch(0))) state.SkipWithError("append failed");
        bytes += static_cast<int64_t>(batch.size());
      }
      if (durable && !log.flush()) state.SkipWithError("flush failed");
      if (!log.apply_retention()) state.SkipWithError("retention failed");
    }
  });
  scheduler.run();
  state.SetBytesProcessed(bytes);
  state.counters["records/s"] = benchmark::Counter(
      static_cast<double>(bytes / static_cast<int64_t>(batch.size()) * kRecordsPerBatch),
      benchmark::Counter::kIsRate);
}
BENCHMARK(storage_append_sim)->Arg(0)->Arg(1);

void storage_append_real(benchmark::State& state) {
  const int appenders = static_cast<int>(state.range(0));
  std::string root = (std::filesystem::temp_directory_path() / "weir-bench-XXXXXX").string();
  if (mkdtemp(root.data()) == nullptr) {
    state.SkipWithError("mkdtemp failed");
    return;
  }
  auto created = runtime::real::RealRuntime::create(root);
  if (!created) {
    state.SkipWithError("cannot create the runtime");
    return;
  }
  runtime::real::RealRuntime& runtime = **created;
  const record::Bytes batch = make_batch();
  const size_t batches = kAppendBytes / batch.size();
  int64_t bytes = 0;
  uint64_t flushes = 0;
  runtime.run([&] {
    runtime::Env env = runtime.env();
    auto opened = PartitionLog::open(env, "bench-0", bench_config());
    if (!opened) {
      state.SkipWithError("open failed");
      return;
    }
    PartitionLog& log = **opened;
    runtime::Scheduler& scheduler = runtime.scheduler();
    for (auto _ : state) {
      // Each appender writes its share of the MiB, one batch at a time, waiting for
      // durability after each (acks=all with fsync on every produce).
      int done = 0;
      runtime::Event finished(scheduler);
      for (int a = 0; a < appenders; a++) {
        scheduler.spawn("appender", [&, a] {
          record::Bytes own = batch;
          for (size_t i = static_cast<size_t>(a); i < batches;
               i += static_cast<size_t>(appenders)) {
            auto appended = log.append(own, LeaderEpoch(0));
            if (!appended || !log.wait_durable(appended->last_offset.next())) {
              state.SkipWithError("append failed");
              break;
            }
            bytes += static_cast<int64_t>(own.size());
          }
          if (++done == appenders) finished.set();
        });
      }
      finished.wait();
      if (!log.apply_retention()) state.SkipWithError("retention failed");
    }
    flushes = log.flush_count();
    (void)log.close();
  });
  created->reset();
  std::error_code ignored;
  std::filesystem::remove_all(root, ignored);
  state.SetBytesProcessed(bytes);
  state.counters["records/s"] = benchmark::Counter(
      static_cast<double>(bytes / static_cast<int64_t>(batch.size()) * kRecordsPerBatch),
      benchmark::Counter::kIsRate);
  const auto appended_batches = static_cast<double>(bytes / static_cast<int64_t>(batch.size()));
  state.counters["batches/fsync"] =
      appended_batches / static_cast<double>(flushes == 0 ? 1 : flushes);
}
BENCHMARK(storage_append_real)->Arg(1)->Arg(8)->Arg(64)->UseRealTime();

}  // namespace
}  // namespace weir::storage

BENCHMARK_MAIN();
