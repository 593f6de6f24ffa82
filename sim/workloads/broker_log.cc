#include "sim/workloads/broker_log.h"

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "client/cluster.h"
#include "client/consumer.h"
#include "client/producer.h"
#include "sim/checkers/log.h"
#include "sim/node_process.h"

namespace weir::sim {

using record::Offset;
using runtime::Instant;
using runtime::milliseconds;
using runtime::seconds;

namespace {

constexpr const char* broker_host = "weir0";
constexpr const char* client_host = "client";
constexpr uint16_t broker_port = 9092;
constexpr uint16_t controller_port = 9093;
constexpr const char* topic = "events";
constexpr int32_t partition_count = 2;

// What the client saw; it lives in the workload, so it survives the client's crashes.
// The final read after the last power loss sets log.final_log.
struct History {
  checkers::LogHistory log;
  bool quiesced = false;
  Instant healed_at = Instant::max();
  uint64_t next_value = 1;
};

uint64_t decode_value(const std::optional<record::Bytes>& value) {
  if (!value || value->size() != 8) return 0;
  uint64_t out = 0;
  for (uint8_t byte : *value) out = (out << 8) | byte;
  return out;
}

class ClientProcess final : public Process {
 public:
  ClientProcess(NodeContext& context, History& history) : env_(context.env), history_(history) {}

  void run() override {
    client::ClusterOptions options;
    options.bootstrap_servers = {runtime::Address{broker_host, broker_port}};
    options.allow_auto_topic_creation = true;
    options.connection.request_timeout = seconds(3);
    cluster_.emplace(env_, options);
    if (history_.quiesced) {
      final_read();
      return;
    }
    env_.scheduler.spawn("consumer", [this] { consume_loop(); });
    produce_loop();
  }

 private:
  void produce_loop() {
    client::ProducerConfig config;
    config.acks = -1;
    config.idempotence = true;
    config.linger = milliseconds(2);
    config.delivery_timeout = seconds(8);
    config.request_timeout = seconds(3);
    config.max_block = seconds(2);
    config.retry_backoff = milliseconds(50);
    client::Producer producer(*cluster_, config);
    while (!history_.quiesced) {
      const size_t index = history_.log.writes.size();
      checkers::LogWrite& write = history_.log.writes.emplace_back();
      write.value = history_.next_value++;
      write.partition = static_cast<int32_t>(write.value % partition_count);
      write.invoked = env_.clock.now();
      std::array<uint8_t, 8> bytes;
      for (size_t i = 0; i < 8; i++) bytes[i] = static_cast<uint8_t>(write.value >> (56 - 8 * i));
      History* history = &history_;
      producer.send(topic, write.partition, std::nullopt, std::span<const uint8_t>(bytes), {},
                    [history, index](const client::DeliveryResult& result) {
                      // Anything but success leaves the outcome unknown: the batch may
                      // have been appended before the error.
                      if (!result) return;
                      checkers::LogWrite& done = history->log.writes[index];
                      done.outcome = Outcome::ok;
                      done.offset = result->offset.value();
                    });
      env_.scheduler.sleep_for(milliseconds(env_.random.between(0, 10)));
    }
    producer.flush();
  }

  void consume_loop() {
    client::ConsumerConfig config;
    config.auto_offset_reset = client::OffsetReset::earliest;
    config.fetch_max_wait = milliseconds(200);
    while (!history_.quiesced) {
      client::Consumer consumer(*cluster_, config);
      std::vector<client::TopicPartition> partitions;
      for (int32_t p = 0; p < partition_count; p++) partitions.push_back({topic, p});
      consumer.assign(partitions);
      for (const auto& partition : partitions) consumer.seek(partition, Offset{0});
      // Read for a while, then start over from the beginning.
      const Instant until = env_.clock.now() + seconds(env_.random.between(1, 5));
      while (!history_.quiesced && env_.clock.now() < until) {
        auto records = consumer.poll(milliseconds(300));
        if (!records) {
          env_.scheduler.sleep_for(milliseconds(100));
          continue;
        }
        for (const client::ConsumerRecord& record : *records) {
          checkers::record_read(history_.log, {record.partition.partition, record.offset.value()},
                                decode_value(record.value), "a consumer");
        }
      }
    }
  }

  void final_read() {
    client::ConsumerConfig config;
    config.auto_offset_reset = client::OffsetReset::earliest;
    config.fetch_max_wait = milliseconds(100);
    client::Consumer consumer(*cluster_, config);
    std::vector<client::TopicPartition> partitions;
    for (int32_t p = 0; p < partition_count; p++) partitions.push_back({topic, p});
    consumer.assign(partitions);
    std::vector<Offset> ends;
    for (const auto& partition : partitions) {
      while (true) {
        auto end = consumer.list_offset_wait(partition, client::kLatestTimestamp);
        if (end) {
          ends.push_back(*end);
          break;
        }
        env_.scheduler.sleep_for(milliseconds(100));
      }
      consumer.seek(partition, Offset{0});
    }
    std::vector<std::vector<std::pair<int64_t, uint64_t>>> log(partition_count);
    // The consumer's position runs ahead of what poll() returned (it prefetches), so
    // count what was returned.
    std::vector<Offset> next(partition_count, Offset{0});
    auto done = [&] {
      for (size_t p = 0; p < next.size(); p++) {
        if (next[p] < ends[p]) return false;
      }
      return true;
    };
    while (!done()) {
      auto records = consumer.poll(milliseconds(300));
      if (!records) {
        env_.scheduler.sleep_for(milliseconds(100));
        continue;
      }
      for (const client::ConsumerRecord& record : *records) {
        const auto p = static_cast<size_t>(record.partition.partition);
        log[p].emplace_back(record.offset.value(), decode_value(record.value));
        next[p] = record.offset + 1;
      }
    }
    history_.log.final_log = std::move(log);
  }

  runtime::Env& env_;
  History& history_;
  std::optional<client::Cluster> cluster_;
};

class BrokerLogWorkload final : public Workload {
 public:
  explicit BrokerLogWorkload(const RunOptions& options) : flaws_(options.flaws) {}

  void setup(World& world) override {
    // A one-node cluster: the node `weir server` runs with no config (a lone voter,
    // broker and controller), on the simulated host.
    world.add_node(broker_host, [this](NodeContext& context) {
      server::NodeHooks hooks;
      hooks.broker.ack_before_fsync = flaws_.ack_before_fsync;
      return std::make_unique<NodeProcess>(
          context,
          node_config(
              {fmt::format("listeners=PLAINTEXT://{0}:{1},CONTROLLER://{0}:{2}", broker_host,
                           broker_port, controller_port),
               fmt::format("controller.quorum.voters=1@{}:{}", broker_host, controller_port),
               fmt::format("num.partitions={}", partition_count)}),
          std::move(hooks));
    });
    world.add_node(
        client_host,
        [this](NodeContext& context) { return std::make_unique<ClientProcess>(context, history_); },
        NodeOptions{.faulty = false});
  }

  void on_heal(World& world) override { history_.healed_at = world.now(); }
  void quiesce(World&) override { history_.quiesced = true; }

  CheckResult check(World&) override {
    CheckResult result;
    const checkers::LogHistory& log = history_.log;
    if (!log.final_log) {
      result.fail(Verdict::liveness, "the final read did not finish after the last restart");
      return result;
    }
    checkers::check_log_integrity(log, result);
    checkers::check_log_durability(log, result);
    checkers::check_log_reads(log, result);
    checkers::check_log_progress(log, history_.healed_at, result);
    result.summary = fmt::format("writes={} acked={} reads={} final={}", log.writes.size(),
                                 checkers::acknowledged_writes(log), log.reads.size(),
                                 checkers::final_records(log));
    return result;
  }

 private:
  Flaws flaws_;
  History history_;
};

}  // namespace

std::unique_ptr<Workload> make_broker_log_workload(const RunOptions& options) {
  return std::make_unique<BrokerLogWorkload>(options);
}

}  // namespace weir::sim
