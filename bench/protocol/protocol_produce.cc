// Throughput of decoding and encoding a Produce request of 1 MiB of 100-byte
// records (one topic, one partition, one batch), the broker's hottest message.
// bytes_per_second counts the frame.
//
//   build-proto/bench/protocol/protocol_produce_bench
#include <benchmark/benchmark.h>

#include "protocol/header.h"
#include "record/batch.h"

namespace weir::protocol {
namespace {

constexpr size_t kRecordsBytes = 1 << 20;
constexpr size_t kValueBytes = 100;

Bytes make_batch() {
  std::vector<record::Record> records;
  for (size_t i = 0; i * (kValueBytes + 10) < kRecordsBytes; i++) {
    record::Record& r = records.emplace_back();
    r.offset_delta = static_cast<int32_t>(i);
    r.timestamp_delta = static_cast<int64_t>(i);
    r.value = Bytes(kValueBytes, static_cast<uint8_t>('a' + i % 26));
  }
  return record::encode_batch({}, records);
}

ProduceRequest make_request(int topics) {
  ProduceRequest request;
  request.acks = -1;
  request.timeout_ms = 30000;
  for (int t = 0; t < topics; t++) {
    auto& topic = request.topic_data.emplace_back();
    topic.name = "topic-" + std::to_string(t);
    auto& partition = topic.partition_data.emplace_back();
    partition.index = 0;
    partition.records = make_batch();
  }
  return request;
}

Bytes make_frame(int16_t version) {
  RequestHeader header{.api_key = 0, .api_version = version, .correlation_id = 1,
                       .client_id = "bench", .unknown_tagged_fields = {}};
  Bytes frame;
  encode_request(header, RequestBody(make_request(1)), frame);
  return frame;
}

void decode_produce(benchmark::State& state) {
  const auto version = static_cast<int16_t>(state.range(0));
  const Bytes frame = make_frame(version);
  for (auto _ : state) {
    auto request = decode_request(frame);
    benchmark::DoNotOptimize(request);
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * frame.size()));
}
BENCHMARK(decode_produce)->Arg(7)->Arg(12);

void decode_produce_and_validate_batches(benchmark::State& state) {
  const Bytes frame = make_frame(12);
  for (auto _ : state) {
    auto request = decode_request(frame);
    const auto& produce = std::get<ProduceRequest>(request->body);
    auto batches = record::split_batches(*produce.topic_data[0].partition_data[0].records);
    benchmark::DoNotOptimize(batches);
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * frame.size()));
}
BENCHMARK(decode_produce_and_validate_batches);

void encode_produce(benchmark::State& state) {
  const auto version = static_cast<int16_t>(state.range(0));
  const RequestBody body(make_request(1));
  const RequestHeader header{.api_key = 0, .api_version = version, .correlation_id = 1,
                             .client_id = "bench", .unknown_tagged_fields = {}};
  Bytes frame;
  for (auto _ : state) {
    frame.clear();
    encode_request(header, body, frame);
    benchmark::DoNotOptimize(frame.data());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * frame.size()));
}
BENCHMARK(encode_produce)->Arg(7)->Arg(12);

// Many small fields instead of one large blob: a Metadata response for 1,000
// partitions, the codec's per-field cost.
void metadata_response_round_trip(benchmark::State& state) {
  MetadataResponse response;
  for (int b = 0; b < 3; b++) {
    auto& broker = response.brokers.emplace_back();
    broker.node_id = b;
    broker.host = "broker-" + std::to_string(b);
    broker.port = 9092;
  }
  for (int t = 0; t < 100; t++) {
    auto& topic = response.topics.emplace_back();
    topic.name = "topic-" + std::to_string(t);
    for (int p = 0; p < 10; p++) {
      auto& partition = topic.partitions.emplace_back();
      partition.partition_index = p;
      partition.leader_id = p % 3;
      partition.replica_nodes = {0, 1, 2};
      partition.isr_nodes = {0, 1, 2};
    }
  }
  const ResponseBody body(response);
  Bytes bytes;
  for (auto _ : state) {
    bytes.clear();
    Writer writer(bytes);
    encode_body(body, 12, writer);
    auto decoded = decode_response_body(3, 12, bytes);
    benchmark::DoNotOptimize(decoded);
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * bytes.size()));
  state.SetItemsProcessed(state.iterations() * 1000);
}
BENCHMARK(metadata_response_round_trip);

}  // namespace
}  // namespace weir::protocol

BENCHMARK_MAIN();
