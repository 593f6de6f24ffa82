// `weir perf produce|consume`, after kafka-producer-perf-test.sh and
// kafka-consumer-perf-test.sh: live progress once a second and a final summary.
#include <algorithm>
#include <cstdio>
#include <memory>

#include <fmt/format.h>

#include "cli/commands.h"
#include "client/consumer.h"
#include "client/producer.h"

namespace weir::cli {

namespace {

constexpr OptionSpec kPerfProduceOptions[] = {
    kBootstrapOption,
    {"topic", true, false, "topic to produce to (must exist)", "NAME"},
    {"num-records", true, false, "records to send", "N"},
    {"record-size", true, false, "value bytes per record", "BYTES"},
    {"throughput", true, false, "records/s to aim for; -1 for as fast as possible", "N"},
    {"producer-props", true, true,
     "producer configs: acks=... linger.ms=... batch.size=... compression.type=... "
     "(several may follow one --producer-props)",
     "KEY=VALUE"},
    {"json", false, false, "also print the summary as one JSON line", ""},
    kHelpOption,
};

constexpr OptionSpec kPerfConsumeOptions[] = {
    kBootstrapOption,
    {"topic", true, false, "topic to consume (every partition, from the beginning)", "NAME"},
    {"messages", true, false, "records to consume", "N"},
    {"timeout-ms", true, false, "give up after this long without a record (default 10000)", "MS"},
    {"consumer-props", true, true, "consumer configs, e.g. fetch.min.bytes=1", "KEY=VALUE"},
    {"json", false, false, "also print the summary as one JSON line", ""},
    kHelpOption,
};

// Latencies in microseconds: every one for the summary, the last second's for progress.
struct Latencies {
  std::vector<uint32_t> all;
  std::vector<uint32_t> window;
  void add(int64_t microseconds) {
    const uint32_t value = static_cast<uint32_t>(std::clamp<int64_t>(microseconds, 0, UINT32_MAX));
    all.push_back(value);
    window.push_back(value);
  }
};

// The q-quantile (0..1) in milliseconds; sorts `values` partially.
double quantile_ms(std::vector<uint32_t>& values, double q) {
  if (values.empty()) return 0.0;
  const size_t index =
      std::min(values.size() - 1, static_cast<size_t>(q * static_cast<double>(values.size())));
  std::nth_element(values.begin(), values.begin() + static_cast<std::ptrdiff_t>(index),
                   values.end());
  return values[index] / 1000.0;
}

// Metadata for the topic a perf run uses, waiting up to 30 s; reports a failure.
const client::TopicInfo* wait_for_topic(std::string_view command, runtime::Env& env,
                                        client::Cluster& cluster, const std::string& topic) {
  auto info = cluster.topic_wait(topic, env.clock.now() + runtime::seconds(30));
  if (!info) {
    print_error(command, fmt::format("{}: {}", topic, info.error().to_string()));
    return nullptr;
  }
  return *info;
}

double seconds_between(runtime::Instant from, runtime::Instant to) {
  return static_cast<double>((to - from).count()) / 1e9;
}

struct ProduceStats {
  int64_t acknowledged = 0;
  int64_t failed = 0;
  int64_t window_count = 0;
  std::string first_error;
  Latencies latencies;
  const runtime::Clock* clock = nullptr;
};

int perf_produce(std::span<const std::string_view> args) {
  ParsedOptions options;
  if (auto error = parse_options(args, kPerfProduceOptions, options)) {
    return usage_error("perf produce", *error);
  }
  if (options.has("help")) {
    fmt::print(
        "Usage: weir perf produce --topic T --num-records N --record-size B "
        "--throughput -1 [--producer-props k=v ...]\n\nOptions:\n{}",
        format_options_help(kPerfProduceOptions));
    return kExitOk;
  }
  std::vector<std::string> properties = options.all("producer-props");
  for (const std::string& extra : options.positional()) {
    // kafka-producer-perf-test takes `--producer-props a=1 b=2`: loose k=v words after
    // the option belong to it.
    if (!options.has("producer-props") || extra.find('=') == std::string::npos) {
      return usage_error("perf produce", fmt::format("unexpected argument '{}'", extra));
    }
    properties.push_back(extra);
  }
  auto topic = options.get("topic");
  if (!topic) return usage_error("perf produce", "missing --topic");
  std::string error;
  const auto num_records = options.get_integer("num-records", 1, INT64_MAX, error);
  if (!error.empty()) return usage_error("perf produce", error);
  if (!num_records) return usage_error("perf produce", "missing --num-records");
  const auto record_size = options.get_integer("record-size", 0, 100 << 20, error);
  if (!error.empty()) return usage_error("perf produce", error);
  if (!record_size) return usage_error("perf produce", "missing --record-size");
  const auto throughput = options.get_integer("throughput", -1, INT64_MAX, error);
  if (!error.empty()) return usage_error("perf produce", error);
  if (!throughput) return usage_error("perf produce", "missing --throughput (-1: unlimited)");
  if (*throughput == 0) return usage_error("perf produce", "--throughput must be -1 or positive");
  client::ProducerConfig config;
  // The idempotence default follows acks (Kafka: acks other than all turn it off).
  for (const std::string& property : properties) {
    auto pair = split_key_value(property);
    if (!pair)
      return usage_error("perf produce", fmt::format("invalid --producer-props '{}'", property));
    if (auto bad = client::apply_producer_property(config, pair->first, pair->second)) {
      return usage_error("perf produce", fmt::format("--producer-props: {}", *bad));
    }
  }
  if (auto bad = client::validate_producer_config(config)) return usage_error("perf produce", *bad);
  auto cluster_config = cluster_options("perf produce", options);
  if (!cluster_config) return kExitUsage;
  const bool json = options.has("json");

  return run_client(
      *cluster_config, true,
      [&](runtime::Env& env, client::Cluster& cluster, const std::function<bool()>& interrupted) {
        const client::TopicInfo* info = wait_for_topic("perf produce", env, cluster, *topic);
        if (info == nullptr) return kExitFailed;
        // A payload of random upper-case letters, as kafka-producer-perf-test sends.
        std::vector<uint8_t> payload(static_cast<size_t>(*record_size));
        for (uint8_t& byte : payload) byte = static_cast<uint8_t>('A' + env.random.below(26));
        auto stats = std::make_shared<ProduceStats>();
        stats->clock = &env.clock;
        client::Producer producer(cluster, config);
        const runtime::Instant start = env.clock.now();
        bool done = false;
        env.scheduler.spawn("perf-progress", [stats, &env, &done, start, record_size] {
          runtime::Instant window_start = start;
          while (!done) {
            env.scheduler.sleep_for(runtime::seconds(1));
            if (done) break;
            const runtime::Instant now = env.clock.now();
            const double elapsed = seconds_between(window_start, now);
            const double rate = static_cast<double>(stats->window_count) / elapsed;
            fmt::print(
                "{} records sent, {:.1f} records/sec ({:.2f} MB/sec), {:.1f} ms p50, "
                "{:.1f} ms p99 latency.\n",
                stats->window_count, rate, rate * static_cast<double>(*record_size) / 1e6,
                quantile_ms(stats->latencies.window, 0.5),
                quantile_ms(stats->latencies.window, 0.99));
            std::fflush(stdout);
            stats->latencies.window.clear();
            stats->window_count = 0;
            window_start = now;
          }
        });
        std::span<const uint8_t> value(payload);
        int64_t sent = 0;
        for (; sent < *num_records && !interrupted(); sent++) {
          if (*throughput > 0) {
            const runtime::Instant due =
                start + runtime::Duration(static_cast<int64_t>(1e9 * static_cast<double>(sent) /
                                                               static_cast<double>(*throughput)));
            if (env.clock.now() < due) env.scheduler.sleep_until(due);
          }
          ProduceStats* raw = stats.get();
          const int64_t sent_ns = env.clock.now().nanoseconds();
          // Two words of capture fit std::function's inline buffer: no allocation.
          producer.send(*topic, std::nullopt, std::nullopt, value, {},
                        [raw, sent_ns](const client::DeliveryResult& result) {
                          if (!result.ok()) {
                            if (raw->failed++ == 0) raw->first_error = result.error().to_string();
                            return;
                          }
                          raw->acknowledged++;
                          raw->window_count++;
                          raw->latencies.add((raw->clock->now().nanoseconds() - sent_ns) / 1000);
                        });
          // Let the sender and the I/O fibers run between records.
          if ((sent & 63) == 63) env.scheduler.yield();
        }
        producer.flush();
        const runtime::Instant end = env.clock.now();
        done = true;
        producer.close();
        const double elapsed = seconds_between(start, end);
        const double rate = static_cast<double>(stats->acknowledged) / elapsed;
        const double mb = rate * static_cast<double>(*record_size) / 1e6;
        std::vector<uint32_t>& all = stats->latencies.all;
        double average = 0;
        for (uint32_t latency : all) average += latency;
        average = all.empty() ? 0 : average / static_cast<double>(all.size()) / 1000.0;
        const double max = all.empty() ? 0 : *std::max_element(all.begin(), all.end()) / 1000.0;
        const double p50 = quantile_ms(all, 0.5), p95 = quantile_ms(all, 0.95);
        const double p99 = quantile_ms(all, 0.99), p999 = quantile_ms(all, 0.999);
        fmt::print(
            "{} records sent, {:.1f} records/sec ({:.2f} MB/sec), {:.2f} ms avg latency, "
            "{:.2f} ms max latency, {:.2f} ms 50th, {:.2f} ms 95th, {:.2f} ms 99th, "
            "{:.2f} ms 99.9th.\n",
            stats->acknowledged, rate, mb, average, max, p50, p95, p99, p999);
        if (json) {
          fmt::print(
              "{{\"records\": {}, \"failed\": {}, \"seconds\": {:.3f}, \"records_per_sec\": "
              "{:.1f}, \"mb_per_sec\": {:.3f}, \"p50_ms\": {:.3f}, \"p99_ms\": {:.3f}}}\n",
              stats->acknowledged, stats->failed, elapsed, rate, mb, p50, p99);
        }
        if (stats->failed > 0) {
          print_error("perf produce", fmt::format("{} record(s) failed; first: {}", stats->failed,
                                                  stats->first_error));
          return kExitFailed;
        }
        return sent == *num_records ? kExitOk : kExitFailed;
      });
}

int perf_consume(std::span<const std::string_view> args) {
  ParsedOptions options;
  if (auto error = parse_options(args, kPerfConsumeOptions, options)) {
    return usage_error("perf consume", *error);
  }
  if (options.has("help")) {
    fmt::print("Usage: weir perf consume --topic T --messages N\n\nOptions:\n{}",
               format_options_help(kPerfConsumeOptions));
    return kExitOk;
  }
  if (!options.positional().empty()) {
    return usage_error("perf consume",
                       fmt::format("unexpected argument '{}'", options.positional()[0]));
  }
  auto topic = options.get("topic");
  if (!topic) return usage_error("perf consume", "missing --topic");
  std::string error;
  const auto messages = options.get_integer("messages", 1, INT64_MAX, error);
  if (!error.empty()) return usage_error("perf consume", error);
  if (!messages) return usage_error("perf consume", "missing --messages");
  const auto timeout_ms = options.get_integer("timeout-ms", 1, INT64_MAX / 1'000'000, error);
  if (!error.empty()) return usage_error("perf consume", error);
  client::ConsumerConfig config;
  config.max_poll_records = 100000;
  for (const std::string& property : options.all("consumer-props")) {
    auto pair = split_key_value(property);
    if (!pair)
      return usage_error("perf consume", fmt::format("invalid --consumer-props '{}'", property));
    if (auto bad = client::apply_consumer_property(config, pair->first, pair->second)) {
      return usage_error("perf consume", fmt::format("--consumer-props: {}", *bad));
    }
  }
  auto cluster_config = cluster_options("perf consume", options);
  if (!cluster_config) return kExitUsage;
  const bool json = options.has("json");

  return run_client(
      *cluster_config, true,
      [&](runtime::Env& env, client::Cluster& cluster, const std::function<bool()>& interrupted) {
        const client::TopicInfo* info = wait_for_topic("perf consume", env, cluster, *topic);
        if (info == nullptr) return kExitFailed;
        std::vector<client::TopicPartition> assignment;
        for (const client::PartitionInfo& each : info->partitions) {
          assignment.push_back(client::TopicPartition{*topic, each.partition});
        }
        client::Consumer consumer(cluster, config);
        consumer.assign(assignment);
        if (auto sought = consumer.seek_to_beginning_wait(assignment); !sought) {
          print_error("perf consume", sought.error().to_string());
          return kExitFailed;
        }
        const runtime::Duration idle_max = runtime::milliseconds(timeout_ms.value_or(10000));
        const runtime::Instant start = env.clock.now();
        runtime::Instant window_start = start;
        runtime::Instant last_record = start;
        int64_t count = 0, bytes = 0, window_count = 0, window_bytes = 0;
        Latencies latencies;  // end to end: consume time minus the record's timestamp
        int status = kExitOk;
        while (count < *messages && !interrupted()) {
          auto records = consumer.poll(runtime::milliseconds(100));
          if (!records) {
            print_error("perf consume", records.error().to_string());
            status = kExitFailed;
            break;
          }
          const int64_t wall_ms = env.clock.wall_now().milliseconds;
          for (const client::ConsumerRecord& record : *records) {
            const int64_t size = static_cast<int64_t>(record.value ? record.value->size() : 0) +
                                 static_cast<int64_t>(record.key ? record.key->size() : 0);
            count++;
            bytes += size;
            window_count++;
            window_bytes += size;
            latencies.add((wall_ms - record.timestamp) * 1000);
          }
          const runtime::Instant now = env.clock.now();
          if (!records->empty()) last_record = now;
          if (now - last_record >= idle_max) {
            print_error("perf consume",
                        fmt::format("no record for {} ms; stopping at {} of {}",
                                    idle_max.count() / 1'000'000, count, *messages));
            status = kExitFailed;
            break;
          }
          if (now - window_start >= runtime::seconds(1)) {
            const double elapsed = seconds_between(window_start, now);
            fmt::print(
                "{} records consumed, {:.1f} records/sec ({:.2f} MB/sec), {:.1f} ms p50, "
                "{:.1f} ms p99 end-to-end latency.\n",
                window_count, static_cast<double>(window_count) / elapsed,
                static_cast<double>(window_bytes) / elapsed / 1e6,
                quantile_ms(latencies.window, 0.5), quantile_ms(latencies.window, 0.99));
            std::fflush(stdout);
            latencies.window.clear();
            window_count = 0;
            window_bytes = 0;
            window_start = now;
          }
        }
        const double elapsed = seconds_between(start, env.clock.now());
        const double rate = static_cast<double>(count) / elapsed;
        const double mb = static_cast<double>(bytes) / elapsed / 1e6;
        const double p50 = quantile_ms(latencies.all, 0.5), p99 = quantile_ms(latencies.all, 0.99);
        fmt::print(
            "{} records consumed in {:.2f} s, {:.1f} records/sec ({:.2f} MB/sec), "
            "{:.2f} ms p50, {:.2f} ms p99 end-to-end latency.\n",
            count, elapsed, rate, mb, p50, p99);
        if (json) {
          fmt::print(
              "{{\"records\": {}, \"seconds\": {:.3f}, \"records_per_sec\": {:.1f}, "
              "\"mb_per_sec\": {:.3f}, \"p50_ms\": {:.3f}, \"p99_ms\": {:.3f}}}\n",
              count, elapsed, rate, mb, p50, p99);
        }
        return status;
      });
}

}  // namespace

int perf_main(std::span<const std::string_view> args) {
  if (args.empty() || args[0] == "--help" || args[0] == "-h") {
    fmt::print(
        "Usage: weir perf <produce|consume> [options]\n"
        "  produce   like kafka-producer-perf-test: --topic --num-records --record-size "
        "--throughput --producer-props\n"
        "  consume   like kafka-consumer-perf-test: --topic --messages\n"
        "Run 'weir perf produce --help' for the options.\n");
    return args.empty() ? kExitUsage : kExitOk;
  }
  if (args[0] == "produce") return perf_produce(args.subspan(1));
  if (args[0] == "consume") return perf_consume(args.subspan(1));
  return usage_error("perf", fmt::format("unknown action '{}' (produce or consume)", args[0]));
}

}  // namespace weir::cli
