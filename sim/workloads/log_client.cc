#include "sim/workloads/log_client.h"

#include <array>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "client/cluster.h"
#include "client/consumer.h"
#include "client/producer.h"

namespace weir::sim {

using record::Offset;
using runtime::Instant;
using runtime::milliseconds;
using runtime::seconds;

namespace {

uint64_t decode_value(const std::optional<record::Bytes>& value) {
  if (!value || value->size() != 8) return 0;
  uint64_t out = 0;
  for (uint8_t byte : *value) out = (out << 8) | byte;
  return out;
}

class ClientProcess final : public Process {
 public:
  ClientProcess(NodeContext& context, LogClientHistory& history, LogClientOptions options)
      : env_(context.env), history_(history), options_(std::move(options)) {}

  void run() override {
    client::ClusterOptions options;
    options.bootstrap_servers = options_.bootstrap;
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
      write.partition = static_cast<int32_t>(write.value % options_.partitions);
      write.invoked = env_.clock.now();
      std::array<uint8_t, 8> bytes;
      for (size_t i = 0; i < 8; i++) bytes[i] = static_cast<uint8_t>(write.value >> (56 - 8 * i));
      LogClientHistory* history = &history_;
      producer.send(options_.topic, write.partition, std::nullopt, std::span<const uint8_t>(bytes),
                    {}, [history, index](const client::DeliveryResult& result) {
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
      for (int32_t p = 0; p < options_.partitions; p++) partitions.push_back({options_.topic, p});
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
    for (int32_t p = 0; p < options_.partitions; p++) partitions.push_back({options_.topic, p});
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
    std::vector<std::vector<std::pair<int64_t, uint64_t>>> log(options_.partitions);
    // The consumer's position runs ahead of what poll() returned (it prefetches), so
    // count what was returned.
    std::vector<Offset> next(options_.partitions, Offset{0});
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
  LogClientHistory& history_;
  LogClientOptions options_;
  std::optional<client::Cluster> cluster_;
};

}  // namespace

std::unique_ptr<Process> make_log_client(NodeContext& context, LogClientHistory& history,
                                         LogClientOptions options) {
  return std::make_unique<ClientProcess>(context, history, std::move(options));
}

std::string check_log_client(const LogClientHistory& history, CheckResult& result) {
  const checkers::LogHistory& log = history.log;
  if (!log.final_log) {
    result.fail(Verdict::liveness, "the final read did not finish after the last restart");
    return "";
  }
  checkers::check_log_integrity(log, result);
  checkers::check_log_durability(log, result);
  checkers::check_log_reads(log, result);
  checkers::check_log_progress(log, history.healed_at, result);
  return fmt::format("writes={} acked={} reads={} final={}", log.writes.size(),
                     checkers::acknowledged_writes(log), log.reads.size(),
                     checkers::final_records(log));
}

}  // namespace weir::sim
