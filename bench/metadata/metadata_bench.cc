// The metadata image: apply throughput (records per second into MetadataState) and the
// memory of an image holding 100,000 partitions (1,000 topics x 100 partitions, three
// replicas each), measured as the heap growth (mallinfo2) while building it; and the
// controller's side of a topic creation (decide with placement, encode the batch,
// decode it and apply it on a follower), as topic creations per second of CPU; and a
// snapshot of the 100,000-partition image (write and load, and its size).
//
//   build/bench/metadata/metadata_bench
#include <malloc.h>
#include <vector>

#include <benchmark/benchmark.h>

#include "metadata/controller.h"
#include "metadata/records.h"
#include "metadata/state.h"

namespace weir::metadata {
namespace {

constexpr int kTopics = 1000;
constexpr int kPartitionsPerTopic = 100;

TopicId id_of(int topic) {
  TopicId id;
  id.uuid.bytes[0] = static_cast<uint8_t>(topic);
  id.uuid.bytes[1] = static_cast<uint8_t>(topic >> 8);
  id.uuid.bytes[15] = 0x42;
  return id;
}

// The records a controller writes for one cluster of three brokers and the topics.
std::vector<Record> cluster_records(int topics) {
  std::vector<Record> records;
  for (int broker = 1; broker <= 3; broker++) {
    RegisterBrokerRecord registration;
    registration.broker_id = BrokerId(broker);
    registration.broker_epoch = BrokerEpoch(broker);
    registration.endpoints.push_back(
        {"PLAINTEXT", "127.0.0.1", static_cast<uint16_t>(9090 + broker)});
    registration.fenced = false;
    records.push_back(registration);
  }
  for (int topic = 0; topic < topics; topic++) {
    records.push_back(TopicRecord{"topic-" + std::to_string(topic), id_of(topic)});
    for (int p = 0; p < kPartitionsPerTopic; p++) {
      PartitionRecord partition;
      partition.partition_id = PartitionId(p);
      partition.topic_id = id_of(topic);
      partition.replicas = {BrokerId(1 + p % 3), BrokerId(1 + (p + 1) % 3),
                            BrokerId(1 + (p + 2) % 3)};
      partition.isr = partition.replicas;
      partition.leader = partition.replicas.front();
      partition.leader_epoch = LeaderEpoch(0);
      partition.partition_epoch = PartitionEpoch(0);
      records.push_back(std::move(partition));
    }
  }
  return records;
}

void BM_ApplyRecords(benchmark::State& state) {
  const std::vector<Record> records = cluster_records(100);
  for (auto _ : state) {
    MetadataState metadata;
    for (const Record& record : records) {
      auto applied = metadata.apply(record);
      benchmark::DoNotOptimize(applied);
    }
    benchmark::DoNotOptimize(metadata.digest());
  }
  state.counters["records/s"] = benchmark::Counter(
      static_cast<double>(records.size()) * static_cast<double>(state.iterations()),
      benchmark::Counter::kIsRate);
}
BENCHMARK(BM_ApplyRecords)->Unit(benchmark::kMillisecond);

void BM_ImageMemory100kPartitions(benchmark::State& state) {
  const std::vector<Record> records = cluster_records(kTopics);
  for (auto _ : state) {
    const size_t before = mallinfo2().uordblks;
    auto* metadata = new MetadataState();
    for (const Record& record : records) {
      auto applied = metadata->apply(record);
      benchmark::DoNotOptimize(applied);
    }
    const size_t after = mallinfo2().uordblks;
    state.counters["partitions"] = static_cast<double>(metadata->image().partition_count());
    state.counters["image_MiB"] = static_cast<double>(after - before) / (1 << 20);
    state.counters["bytes_per_partition"] =
        static_cast<double>(after - before) /
        static_cast<double>(metadata->image().partition_count());
    // A copy shares the topics (copy on write): what a controller's working copy costs.
    const size_t before_copy = mallinfo2().uordblks;
    auto* copy = new Image(metadata->image());
    state.counters["copy_KiB"] = static_cast<double>(mallinfo2().uordblks - before_copy) / 1024;
    delete copy;
    delete metadata;
  }
}
BENCHMARK(BM_ImageMemory100kPartitions)->Iterations(1)->Unit(benchmark::kMillisecond);

// A snapshot of the 100,000-partition image, as the metadata loader writes one: the
// image's records in batches of 1,000 (the payload's size), and loading it back.
void BM_Snapshot100kPartitions(benchmark::State& state) {
  MetadataState metadata;
  for (const Record& record : cluster_records(kTopics)) {
    if (!metadata.apply(record)) state.SkipWithError("the cluster's records do not apply");
  }
  size_t payload_bytes = 0;
  for (auto _ : state) {
    const std::vector<Record> records = image_records(metadata.image());
    Bytes payload;
    constexpr size_t kPerBatch = 1000;
    for (size_t at = 0; at < records.size(); at += kPerBatch) {
      const Bytes batch =
          encode_batch(std::span(records).subspan(at, std::min(kPerBatch, records.size() - at)));
      payload.insert(payload.end(), batch.begin(), batch.end());
    }
    payload_bytes = payload.size();
    auto decoded = decode_batch(payload);
    MetadataState loaded;
    if (!decoded || !loaded.apply_all(*decoded) || loaded.digest() != metadata.digest()) {
      state.SkipWithError("the snapshot does not rebuild the image");
    }
  }
  state.counters["snapshot_MiB"] = static_cast<double>(payload_bytes) / (1 << 20);
  state.counters["bytes_per_partition"] =
      static_cast<double>(payload_bytes) / static_cast<double>(metadata.image().partition_count());
}
BENCHMARK(BM_Snapshot100kPartitions)->Unit(benchmark::kMillisecond);

void BM_ControllerCreateTopics(benchmark::State& state) {
  runtime::Random random(7);
  ControllerSettings settings;
  Controller controller(settings, random);
  MetadataState follower;
  controller.reset_to(follower, 0);
  auto commit = [&](const std::vector<Record>& records) {
    const Bytes batch = encode_batch(records);
    auto decoded = decode_batch(batch);
    for (const Record& record : *decoded) (void)follower.apply(record);
  };
  commit(controller.bootstrap());
  int64_t offset = 1;
  for (int32_t id = 1; id <= 3; id++) {
    protocol::BrokerRegistrationRequest registration;
    registration.broker_id = id;
    registration.incarnation_id.bytes[0] = static_cast<uint8_t>(id);
    registration.listeners.push_back({"PLAINTEXT", "127.0.0.1", static_cast<uint16_t>(9090 + id),
                                      0, {}});
    auto registered = controller.register_broker(registration, record::Offset(offset), 0);
    commit(registered.records);
    offset += static_cast<int64_t>(registered.records.size());
    protocol::BrokerHeartbeatRequest heartbeat;
    heartbeat.broker_id = id;
    heartbeat.broker_epoch = registered.response.broker_epoch;
    heartbeat.current_metadata_offset = offset;
    auto unfenced = controller.broker_heartbeat(heartbeat, record::Offset(offset), 0);
    commit(unfenced.records);
    offset += static_cast<int64_t>(unfenced.records.size());
  }
  int64_t created = 0;
  for (auto _ : state) {
    protocol::CreateTopicsRequest request;
    protocol::CreateTopicsRequest::CreatableTopic topic;
    topic.name = "bench-" + std::to_string(created++);
    topic.num_partitions = 6;
    topic.replication_factor = 3;
    request.topics.push_back(std::move(topic));
    auto decision = controller.create_topics(request);
    commit(decision.records);
  }
  state.counters["topics/s"] =
      benchmark::Counter(static_cast<double>(state.iterations()), benchmark::Counter::kIsRate);
  state.counters["topics"] = static_cast<double>(follower.image().topic_count());
}
BENCHMARK(BM_ControllerCreateTopics)->Unit(benchmark::kMicrosecond);

}  // namespace
}  // namespace weir::metadata

BENCHMARK_MAIN();
