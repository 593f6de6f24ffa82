#include "sim/workloads/log_client.h"

#include <algorithm>
#include <array>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <absl/container/btree_map.h>
#include <fmt/format.h>

#include "base/assert.h"
#include "client/admin.h"
#include "client/cluster.h"
#include "client/consumer.h"
#include "client/producer.h"

namespace weir::sim {

using record::Offset;
using runtime::Instant;
using runtime::milliseconds;
using runtime::seconds;

uint64_t decode_log_value(const std::optional<record::Bytes>& value) {
  if (!value || value->size() != 8) return 0;
  uint64_t out = 0;
  for (uint8_t byte : *value) out = (out << 8) | byte;
  return out;
}

namespace {

class ClientProcess final : public Process {
 public:
  ClientProcess(NodeContext& context, LogClientHistory& history, LogClientOptions options)
      : env_(context.env), history_(history), options_(std::move(options)) {
    history_.streams.resize(options_.streams.size());
  }

  void run() override {
    client::ClusterOptions options;
    options.bootstrap_servers = options_.bootstrap;
    options.allow_auto_topic_creation = !creates_topics();
    options.connection.request_timeout = seconds(3);
    cluster_.emplace(env_, options);
    if (history_.quiesced) {
      final_read();
      return;
    }
    if (creates_topics() && !create_topics()) return;
    env_.scheduler.spawn("consumer", [this] { consume_loop(); });
    if (!options_.reassign_among.empty()) {
      env_.scheduler.spawn("reassigner", [this] { reassign_loop(); });
    }
    for (size_t s = 1; s < options_.streams.size(); s++) {
      env_.scheduler.spawn(fmt::format("producer {}", s), [this, s] { produce_loop(s); });
    }
    produce_loop(0);
  }

 private:
  bool creates_topics() const {
    return std::ranges::any_of(options_.streams,
                               [](const LogStream& s) { return s.replication_factor.has_value(); });
  }

  void reassign_loop() {
    client::Admin admin(*cluster_);
    const auto running = [&] {
      return !history_.quiesced && env_.clock.now() < history_.healed_at;
    };
    while (running()) {
      env_.scheduler.sleep_for(milliseconds(env_.random.between(1000, 4000)));
      if (!running()) break;
      const auto s = static_cast<size_t>(
          env_.random.between(0, static_cast<int64_t>(options_.streams.size()) - 1));
      const LogStream& stream = options_.streams[s];
      if (!stream.replication_factor) continue;
      client::Reassignment reassignment{
          {stream.topic, static_cast<int32_t>(env_.random.between(0, stream.partitions - 1))},
          std::nullopt};
      if (!env_.random.chance(0.2)) {
        std::vector<int32_t> pool = options_.reassign_among;
        for (size_t i = pool.size(); i > 1; i--) {  // Fisher-Yates, from the run's random
          std::swap(pool[i - 1],
                    pool[static_cast<size_t>(env_.random.between(0, static_cast<int64_t>(i) - 1))]);
        }
        pool.resize(std::min(pool.size(), static_cast<size_t>(*stream.replication_factor)));
        reassignment.replicas = std::move(pool);
      }
      history_.reassignments_asked++;
      auto outcomes = admin.alter_partition_reassignments_wait({reassignment});
      if (outcomes && outcomes->size() == 1 && !outcomes->front().error) {
        history_.reassignments_accepted++;
      }
    }
  }

  // Creates every stream's topic (an existing one counts: an earlier attempt may have
  // succeeded unseen). False if the run quiesced first.
  bool create_topics() {
    std::vector<client::NewTopic> topics;
    for (const LogStream& stream : options_.streams) {
      topics.push_back(client::NewTopic{stream.topic, stream.partitions,
                                        stream.replication_factor.value_or(-1), stream.configs});
    }
    client::Admin admin(*cluster_);
    while (!history_.quiesced && !topics.empty()) {
      auto outcomes = admin.create_topics_wait(topics);
      if (outcomes) {
        std::erase_if(topics, [&](const client::NewTopic& topic) {
          for (const client::TopicOutcome& outcome : *outcomes) {
            if (outcome.name != topic.name) continue;
            return !outcome.error ||
                   outcome.error->code == protocol::ErrorCode::topic_already_exists;
          }
          return false;
        });
      }
      if (!topics.empty()) env_.scheduler.sleep_for(milliseconds(200));
    }
    return topics.empty();
  }

  void produce_loop(size_t s) {
    const LogStream& stream = options_.streams[s];
    client::ProducerConfig config;
    config.acks = stream.acks;
    config.idempotence = stream.idempotent;
    config.linger = milliseconds(2);
    config.delivery_timeout = seconds(8);
    config.request_timeout = seconds(3);
    config.max_block = seconds(2);
    config.retry_backoff = milliseconds(50);
    client::Producer producer(*cluster_, config);
    checkers::LogHistory& log = history_.streams[s];
    while (!history_.quiesced) {
      const size_t index = log.writes.size();
      checkers::LogWrite& write = log.writes.emplace_back();
      write.value = history_.next_value++;
      write.partition = static_cast<int32_t>(write.value % stream.partitions);
      write.invoked = env_.clock.now();
      std::array<uint8_t, 8> bytes;
      for (size_t i = 0; i < 8; i++) bytes[i] = static_cast<uint8_t>(write.value >> (56 - 8 * i));
      const runtime::Clock* clock = &env_.clock;
      const bool acknowledged = stream.acks != 0;
      producer.send(stream.topic, write.partition, std::nullopt, std::span<const uint8_t>(bytes),
                    {}, [&log, index, clock, acknowledged](const client::DeliveryResult& result) {
                      // Anything but success leaves the outcome unknown: the batch may
                      // have been appended before the error. acks=0 has no answer.
                      if (!result || !acknowledged) return;
                      checkers::LogWrite& done = log.writes[index];
                      done.outcome = Outcome::ok;
                      done.offset = result->offset.value();
                      done.acknowledged = clock->now();
                    });
      env_.scheduler.sleep_for(milliseconds(env_.random.between(0, 10)));
    }
    producer.flush();
  }

  std::vector<client::TopicPartition> all_partitions() const {
    std::vector<client::TopicPartition> partitions;
    for (const LogStream& stream : options_.streams) {
      for (int32_t p = 0; p < stream.partitions; p++) partitions.push_back({stream.topic, p});
    }
    return partitions;
  }

  size_t stream_of(const std::string& topic) const {
    for (size_t s = 0; s < options_.streams.size(); s++) {
      if (options_.streams[s].topic == topic) return s;
    }
    VERIFY(false, "a record of topic {}, which no stream writes", topic);
    return 0;
  }

  void consume_loop() {
    client::ConsumerConfig config;
    config.auto_offset_reset = client::OffsetReset::earliest;
    config.fetch_max_wait = milliseconds(200);
    while (!history_.quiesced) {
      client::Consumer consumer(*cluster_, config);
      const std::vector<client::TopicPartition> partitions = all_partitions();
      consumer.assign(partitions);
      for (const auto& partition : partitions) consumer.seek(partition, Offset{0});
      // What this consumer returned last, per partition: its offsets must increase.
      absl::btree_map<std::pair<size_t, int32_t>, int64_t> last;
      // Read for a while, then start over from the beginning.
      const Instant until = env_.clock.now() + seconds(env_.random.between(1, 5));
      while (!history_.quiesced && env_.clock.now() < until) {
        auto records = consumer.poll(milliseconds(300));
        if (!records) {
          env_.scheduler.sleep_for(milliseconds(100));
          continue;
        }
        for (const client::ConsumerRecord& record : *records) {
          const size_t s = stream_of(record.partition.topic);
          const int32_t p = record.partition.partition;
          auto [it, first] = last.try_emplace({s, p}, record.offset.value());
          if (!first) {
            if (record.offset.value() <= it->second && history_.order_violations.size() < 10) {
              history_.order_violations.push_back(
                  {s, p, record.offset.value(), it->second, env_.clock.now()});
            }
            it->second = record.offset.value();
          }
          checkers::record_read(history_.streams[s], {p, record.offset.value()},
                                decode_log_value(record.value), "a consumer", env_.clock.now());
        }
      }
    }
  }

  void final_read() {
    client::ConsumerConfig config;
    config.auto_offset_reset = client::OffsetReset::earliest;
    config.fetch_max_wait = milliseconds(100);
    client::Consumer consumer(*cluster_, config);
    const std::vector<client::TopicPartition> partitions = all_partitions();
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
    // Each partition's records, in the order of all_partitions().
    std::vector<std::vector<std::pair<int64_t, uint64_t>>> log(partitions.size());
    auto index_of = [&](const client::TopicPartition& partition) {
      const auto it = std::ranges::find(partitions, partition);
      VERIFY(it != partitions.end());
      return static_cast<size_t>(it - partitions.begin());
    };
    // The consumer's position runs ahead of what poll() returned (it prefetches), so
    // count what was returned.
    std::vector<Offset> next(partitions.size(), Offset{0});
    auto done = [&] {
      for (size_t i = 0; i < next.size(); i++) {
        if (next[i] < ends[i]) return false;
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
        const size_t i = index_of(record.partition);
        log[i].emplace_back(record.offset.value(), decode_log_value(record.value));
        next[i] = record.offset + 1;
      }
    }
    size_t i = 0;
    for (size_t s = 0; s < options_.streams.size(); s++) {
      std::vector<std::vector<std::pair<int64_t, uint64_t>>> stream_log;
      for (int32_t p = 0; p < options_.streams[s].partitions; p++) {
        stream_log.push_back(std::move(log[i++]));
      }
      history_.streams[s].final_log = std::move(stream_log);
    }
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

bool check_log_client_reads_finished(const LogClientHistory& history, CheckResult& result) {
  for (const checkers::LogHistory& log : history.streams) {
    if (!log.final_log) {
      result.fail(Verdict::liveness, "the final read did not finish after the last restart");
      return false;
    }
  }
  return !history.streams.empty();
}

std::string check_log_client(const LogClientHistory& history, CheckResult& result) {
  if (!check_log_client_reads_finished(history, result)) return "";
  VERIFY(history.streams.size() == 1, "one stream: the log checkers hold every write to it");
  const checkers::LogHistory& log = history.streams[0];
  for (const LogClientHistory::OrderViolation& violation : history.order_violations) {
    result.fail(Verdict::correctness,
                fmt::format("partition {}: the consumer returned offset {} after {}",
                            violation.partition, violation.offset, violation.previous));
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
