// CRC-32C, batch validation, record iteration and each codec's decompression.
// bytes_per_second counts the uncompressed bytes (for decompression: the output).
//
//   build-proto/bench/record/record_bench
#include <benchmark/benchmark.h>

#include <string>

#include "record/batch.h"
#include "record/compression.h"
#include "record/crc32c.h"

namespace weir::record {
namespace {

constexpr size_t kMiB = 1 << 20;

// 100-byte values of JSON-ish text with varying digits: compressible the way real
// payloads are, not a run of one byte.
std::vector<Record> make_records(size_t total_bytes) {
  std::vector<Record> records;
  uint64_t state = 0x9e3779b97f4a7c15;
  for (size_t i = 0; i * 110 < total_bytes; i++) {
    state = state * 6364136223846793005 + 1442695040888963407;
    std::string text = "{\"id\":" + std::to_string(i) + ",\"user\":\"u" +
                       std::to_string(state >> 40) + "\",\"event\":\"click\",\"value\":" +
                       std::to_string((state >> 20) & 0xffff) + "}";
    text.resize(100, ' ');
    Record& record = records.emplace_back();
    record.offset_delta = static_cast<int32_t>(i);
    record.timestamp_delta = static_cast<int64_t>(i);
    record.value = Bytes(text.begin(), text.end());
  }
  return records;
}

void crc32c_software_1mib(benchmark::State& state) {
  const Bytes data(kMiB, 0x5a);
  for (auto _ : state) benchmark::DoNotOptimize(crc32c_software(data));
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * data.size()));
}
BENCHMARK(crc32c_software_1mib);

void crc32c_hardware_1mib(benchmark::State& state) {
  if (!crc32c_hardware_available()) {
    state.SkipWithError("no SSE4.2");
    return;
  }
  const Bytes data(kMiB, 0x5a);
  for (auto _ : state) benchmark::DoNotOptimize(crc32c_hardware(data));
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * data.size()));
}
BENCHMARK(crc32c_hardware_1mib);

void validate_batch_1mib(benchmark::State& state) {
  const Bytes batch = encode_batch({}, make_records(kMiB));
  for (auto _ : state) benchmark::DoNotOptimize(validate_batch(batch));
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * batch.size()));
}
BENCHMARK(validate_batch_1mib);

void validate_records_1mib(benchmark::State& state) {
  const Bytes batch = encode_batch({}, make_records(kMiB));
  const BatchView view = validate_batch(batch).value();
  Bytes scratch;
  for (auto _ : state) benchmark::DoNotOptimize(validate_records(view, 64 * kMiB, scratch));
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * batch.size()));
  state.SetItemsProcessed(state.iterations() * view.header.records_count);
}
BENCHMARK(validate_records_1mib);

void decompress_1mib(benchmark::State& state) {
  const auto codec = static_cast<Compression>(state.range(0));
  Bytes plain;
  const Bytes batch = encode_batch({}, make_records(kMiB));
  plain.assign(batch.begin() + kBatchHeaderSize, batch.end());
  const Bytes compressed = compress(codec, plain);
  Bytes out;
  out.reserve(plain.size() + (64 << 10));
  for (auto _ : state) {
    out.clear();
    const Status status = decompress(codec, compressed, 64 * kMiB, out);
    if (!status.ok()) state.SkipWithError("decompression failed");
    benchmark::DoNotOptimize(out.data());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * plain.size()));
  state.SetLabel(std::string(compression_name(codec)) + " ratio " +
                 std::to_string(static_cast<double>(plain.size()) /
                                static_cast<double>(compressed.size())));
}
BENCHMARK(decompress_1mib)
    ->Arg(static_cast<int>(Compression::gzip))
    ->Arg(static_cast<int>(Compression::snappy))
    ->Arg(static_cast<int>(Compression::lz4))
    ->Arg(static_cast<int>(Compression::zstd));

void decompress_snappy_raw_1mib(benchmark::State& state) {
  const Bytes batch = encode_batch({}, make_records(kMiB));
  const Bytes plain(batch.begin() + kBatchHeaderSize, batch.end());
  const Bytes compressed = compress_snappy_raw(plain);
  Bytes out;
  for (auto _ : state) {
    out.clear();
    benchmark::DoNotOptimize(decompress(Compression::snappy, compressed, 64 * kMiB, out));
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * plain.size()));
}
BENCHMARK(decompress_snappy_raw_1mib);

void encode_batch_1mib(benchmark::State& state) {
  const auto codec = static_cast<Compression>(state.range(0));
  const auto records = make_records(kMiB);
  BatchOptions options;
  options.compression = codec;
  Bytes out;
  size_t plain_size = encode_batch({}, records).size();
  for (auto _ : state) {
    out.clear();
    append_batch(options, records, out);
    benchmark::DoNotOptimize(out.data());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * plain_size));
  state.SetLabel(std::string(compression_name(codec)));
}
BENCHMARK(encode_batch_1mib)->DenseRange(0, 4);

}  // namespace
}  // namespace weir::record

BENCHMARK_MAIN();
