// `weir produce` and `weir consume`, after kafka-console-producer.sh and
// kafka-console-consumer.sh: lines from stdin become records; records become lines.
#include <cstdio>
#include <iostream>
#include <string>

#include <fmt/format.h>

#include "cli/commands.h"
#include "client/consumer.h"
#include "client/group_consumer.h"
#include "client/producer.h"

namespace weir::cli {

namespace {

constexpr OptionSpec kProduceOptions[] = {
    kBootstrapOption,
    {"topic", true, false, "topic to produce to", "NAME"},
    {"partition", true, false, "partition (default: by key, or sticky for null keys)", "P"},
    {"acks", true, false, "0, 1 or all (default all)", "ACKS"},
    {"compression", true, false, "none, gzip, snappy, lz4 or zstd (default none)", "CODEC"},
    {"property", true, true,
     "reader property: parse.key=true, key.separator=SEP (default tab), "
     "null.marker=TEXT",
     "KEY=VALUE"},
    {"producer-property", true, true, "producer config, e.g. linger.ms=10", "KEY=VALUE"},
    kHelpOption,
};

constexpr OptionSpec kConsumeOptions[] = {
    kBootstrapOption,
    {"topic", true, true, "topic to consume from (several with --group)", "NAME"},
    {"group", true, false,
     "consume as a member of this consumer group: partitions are assigned by the group, "
     "reading starts at the committed offsets and positions are committed",
     "GROUP"},
    {"partition", true, false, "only this partition (default: all)", "P"},
    {"from-beginning", false, false, "start at the earliest offset (default: the end)", ""},
    {"offset", true, false, "start offset: a number (needs --partition), earliest or latest",
     "OFFSET"},
    {"max-messages", true, false, "exit after this many records", "N"},
    {"timeout-ms", true, false, "exit when no record arrived for this long", "MS"},
    {"isolation-level", true, false, "read_uncommitted (default) or read_committed", "LEVEL"},
    {"property", true, true,
     "formatter property: print.key, print.offset, print.partition, print.timestamp, "
     "print.headers, print.value (true/false), key.separator, line.separator",
     "KEY=VALUE"},
    {"consumer-property", true, true, "consumer config, e.g. fetch.min.bytes=1024", "KEY=VALUE"},
    kHelpOption,
};

std::optional<std::string> unescape(std::string_view text) {
  std::string out;
  for (size_t i = 0; i < text.size(); i++) {
    if (text[i] != '\\' || i + 1 == text.size()) {
      out += text[i];
      continue;
    }
    const char next = text[++i];
    if (next == 't')
      out += '\t';
    else if (next == 'n')
      out += '\n';
    else if (next == '\\')
      out += '\\';
    else
      return std::nullopt;
  }
  return out;
}

std::span<const uint8_t> as_bytes(std::string_view text) {
  return {reinterpret_cast<const uint8_t*>(text.data()), text.size()};
}

std::string_view as_text(const record::Bytes& bytes) {
  return {reinterpret_cast<const char*>(bytes.data()), bytes.size()};
}

// kafka-console-consumer's DefaultMessageFormatter properties.
struct RecordFormat {
  bool print_key = false;
  bool print_offset = false;
  bool print_partition = false;
  bool print_timestamp = false;
  bool print_headers = false;
  bool print_value = true;
  std::string key_separator = "\t";
  std::string line_separator = "\n";
};

void format_record(const RecordFormat& format, const client::ConsumerRecord& record,
                   std::string& out) {
  if (format.print_timestamp) {
    out += fmt::format("{}:{}\t",
                       record.timestamp_type == record::TimestampType::log_append_time
                           ? "LogAppendTime"
                           : "CreateTime",
                       record.timestamp);
  }
  if (format.print_partition) out += fmt::format("Partition:{}\t", record.partition.partition);
  if (format.print_offset) out += fmt::format("Offset:{}\t", record.offset.value());
  if (format.print_headers) {
    std::string headers;
    for (const record::Header& header : record.headers) {
      if (!headers.empty()) headers += ",";
      headers += header.key + ":" + (header.value ? std::string(as_text(*header.value)) : "NULL");
    }
    out += (headers.empty() ? "NO_HEADERS" : headers) + "\t";
  }
  if (format.print_key) {
    out += record.key ? std::string(as_text(*record.key)) : "null";
    out += format.key_separator;
  }
  if (format.print_value) out += record.value ? std::string(as_text(*record.value)) : "null";
  out += format.line_separator;
}

// The --property options into `format`; false after printing a usage error.
bool parse_format(const ParsedOptions& options, RecordFormat& format) {
  for (const std::string& property : options.all("property")) {
    auto pair = split_key_value(property);
    if (!pair) return !usage_error("consume", fmt::format("invalid --property '{}'", property));
    auto flag = [&](bool& target) {
      if (pair->second != "true" && pair->second != "false") return false;
      target = pair->second == "true";
      return true;
    };
    bool ok = true;
    if (pair->first == "print.key")
      ok = flag(format.print_key);
    else if (pair->first == "print.offset")
      ok = flag(format.print_offset);
    else if (pair->first == "print.partition")
      ok = flag(format.print_partition);
    else if (pair->first == "print.timestamp")
      ok = flag(format.print_timestamp);
    else if (pair->first == "print.headers")
      ok = flag(format.print_headers);
    else if (pair->first == "print.value")
      ok = flag(format.print_value);
    else if (pair->first == "key.separator" || pair->first == "line.separator") {
      auto text = unescape(pair->second);
      ok = text.has_value();
      if (ok)
        (pair->first == "key.separator" ? format.key_separator : format.line_separator) = *text;
    } else {
      return !usage_error("consume", fmt::format("unknown --property {}", pair->first));
    }
    if (!ok) {
      return !usage_error("consume",
                          fmt::format("invalid value '{}' for {}", pair->second, pair->first));
    }
  }
  return true;
}

// `weir consume --group`: a GroupConsumer member; prints records as consume does and
// commits (auto commit every auto.commit.interval.ms, before rebalances and at exit).
int consume_group(const ParsedOptions& options, const std::string& group,
                  const client::ClusterOptions& cluster_config);

}  // namespace

int produce_main(std::span<const std::string_view> args) {
  ParsedOptions options;
  if (auto error = parse_options(args, kProduceOptions, options)) {
    return usage_error("produce", *error);
  }
  if (options.has("help")) {
    fmt::print(
        "Usage: weir produce --topic T [options] < lines\n"
        "Each line of stdin is one record's value (or key<separator>value with "
        "--property parse.key=true).\n\nOptions:\n{}",
        format_options_help(kProduceOptions));
    return kExitOk;
  }
  if (!options.positional().empty()) {
    return usage_error("produce", fmt::format("unexpected argument '{}'", options.positional()[0]));
  }
  auto topic = options.get("topic");
  if (!topic) return usage_error("produce", "missing --topic");
  std::string error;
  const auto partition = options.get_integer("partition", 0, INT32_MAX, error);
  if (!error.empty()) return usage_error("produce", error);
  client::ProducerConfig config;
  for (const std::string& property : options.all("producer-property")) {
    auto pair = split_key_value(property);
    if (!pair)
      return usage_error("produce", fmt::format("invalid --producer-property '{}'", property));
    if (auto bad = client::apply_producer_property(config, pair->first, pair->second)) {
      return usage_error("produce", fmt::format("--producer-property: {}", *bad));
    }
  }
  if (auto acks = options.get("acks")) {
    if (auto bad = client::apply_producer_property(config, "acks", *acks)) {
      return usage_error("produce",
                         fmt::format("invalid value '{}' for --acks (0, 1 or all)", *acks));
    }
  }
  if (auto codec = options.get("compression")) {
    if (client::apply_producer_property(config, "compression.type", *codec)) {
      return usage_error(
          "produce",
          fmt::format("invalid value '{}' for --compression (none, gzip, snappy, lz4, zstd)",
                      *codec));
    }
  }
  if (auto bad = client::validate_producer_config(config)) return usage_error("produce", *bad);
  bool parse_key = false;
  std::string key_separator = "\t";
  std::optional<std::string> null_marker;
  for (const std::string& property : options.all("property")) {
    auto pair = split_key_value(property);
    if (!pair) return usage_error("produce", fmt::format("invalid --property '{}'", property));
    if (pair->first == "parse.key") {
      if (pair->second != "true" && pair->second != "false") {
        return usage_error("produce",
                           fmt::format("invalid value '{}' for parse.key", pair->second));
      }
      parse_key = pair->second == "true";
    } else if (pair->first == "key.separator") {
      auto separator = unescape(pair->second);
      if (!separator || separator->empty()) {
        return usage_error("produce", fmt::format("invalid key.separator '{}'", pair->second));
      }
      key_separator = *separator;
    } else if (pair->first == "null.marker") {
      null_marker = pair->second;
    } else {
      return usage_error("produce", fmt::format("unknown --property {}", pair->first));
    }
  }
  auto cluster_config = cluster_options("produce", options);
  if (!cluster_config) return kExitUsage;
  config.max_block = runtime::seconds(30);

  return run_client(
      *cluster_config, false,
      [&](runtime::Env&, client::Cluster& cluster, const std::function<bool()>&) {
        std::ios::sync_with_stdio(false);
        client::Producer producer(cluster, config);
        int64_t failures = 0;
        std::string first_failure;
        std::string line;
        int64_t line_number = 0;
        int status = kExitOk;
        while (std::getline(std::cin, line)) {
          line_number++;
          std::optional<std::string_view> key;
          std::optional<std::string_view> value = std::string_view(line);
          if (parse_key) {
            const size_t at = line.find(key_separator);
            if (at == std::string::npos) {
              print_error("produce", fmt::format("line {}: no key separator '{}' (parse.key=true)",
                                                 line_number, key_separator));
              status = kExitFailed;
              break;
            }
            key = std::string_view(line).substr(0, at);
            value = std::string_view(line).substr(at + key_separator.size());
          }
          if (null_marker) {
            if (key && *key == *null_marker) key.reset();
            if (value && *value == *null_marker) value.reset();
          }
          std::optional<std::span<const uint8_t>> key_bytes;
          std::optional<std::span<const uint8_t>> value_bytes;
          if (key) key_bytes = as_bytes(*key);
          if (value) value_bytes = as_bytes(*value);
          std::optional<int32_t> chosen;
          if (partition) chosen = static_cast<int32_t>(*partition);
          producer.send(*topic, chosen, key_bytes, value_bytes, {},
                        [&failures, &first_failure](const client::DeliveryResult& result) {
                          if (!result.ok()) {
                            if (failures++ == 0) first_failure = result.error().to_string();
                          }
                        });
          // Interactive input: deliver each line before blocking for the next; piped input
          // is buffered and batches.
          if (std::cin.rdbuf()->in_avail() <= 0) producer.flush();
        }
        producer.close();
        if (failures > 0) {
          print_error("produce",
                      fmt::format("{} record(s) failed; first: {}", failures, first_failure));
          return kExitFailed;
        }
        return status;
      });
}

int consume_main(std::span<const std::string_view> args) {
  ParsedOptions options;
  if (auto error = parse_options(args, kConsumeOptions, options)) {
    return usage_error("consume", *error);
  }
  if (options.has("help")) {
    fmt::print(
        "Usage: weir consume --topic T [options]\nPrints each record's value, one per "
        "line.\n\nOptions:\n{}",
        format_options_help(kConsumeOptions));
    return kExitOk;
  }
  if (!options.positional().empty()) {
    return usage_error("consume", fmt::format("unexpected argument '{}'", options.positional()[0]));
  }
  auto topic = options.get("topic");
  if (!topic) return usage_error("consume", "missing --topic");
  const auto group = options.get("group");
  if (!group && options.all("topic").size() > 1) {
    return usage_error("consume", "several --topic need --group");
  }
  if (group && (options.has("partition") || options.has("offset"))) {
    return usage_error("consume",
                       "--group excludes --partition and --offset (the group assigns "
                       "partitions and starts at the committed offsets)");
  }
  std::string error;
  const auto partition = options.get_integer("partition", 0, INT32_MAX, error);
  if (!error.empty()) return usage_error("consume", error);
  const auto max_messages = options.get_integer("max-messages", 1, INT64_MAX, error);
  if (!error.empty()) return usage_error("consume", error);
  const auto timeout_ms = options.get_integer("timeout-ms", 0, INT64_MAX / 1'000'000, error);
  if (!error.empty()) return usage_error("consume", error);
  std::optional<int64_t> start_offset;
  std::string start = options.has("from-beginning") ? "earliest" : "latest";
  if (auto offset = options.get("offset")) {
    if (options.has("from-beginning")) {
      return usage_error("consume", "--offset and --from-beginning exclude each other");
    }
    if (*offset == "earliest" || *offset == "latest") {
      start = *offset;
    } else {
      start_offset = options.get_integer("offset", 0, INT64_MAX, error);
      if (!error.empty()) {
        return usage_error(
            "consume",
            fmt::format("invalid value '{}' for --offset (a number, earliest or latest)", *offset));
      }
      if (!partition) return usage_error("consume", "--offset N needs --partition");
    }
  }
  if (group) {
    const auto cluster_config = cluster_options("consume", options);
    if (!cluster_config) return kExitUsage;
    return consume_group(options, *group, *cluster_config);
  }
  client::ConsumerConfig config;
  for (const std::string& property : options.all("consumer-property")) {
    auto pair = split_key_value(property);
    if (!pair)
      return usage_error("consume", fmt::format("invalid --consumer-property '{}'", property));
    if (auto bad = client::apply_consumer_property(config, pair->first, pair->second)) {
      return usage_error("consume", fmt::format("--consumer-property: {}", *bad));
    }
  }
  if (auto level = options.get("isolation-level")) {
    if (client::apply_consumer_property(config, "isolation.level", *level)) {
      return usage_error("consume",
                         fmt::format("invalid value '{}' for --isolation-level", *level));
    }
  }
  RecordFormat format;
  if (!parse_format(options, format)) return kExitUsage;
  auto cluster_config = cluster_options("consume", options);
  if (!cluster_config) return kExitUsage;

  return run_client(
      *cluster_config, true,
      [&](runtime::Env& env, client::Cluster& cluster, const std::function<bool()>& interrupted) {
        auto info = cluster.topic_wait(*topic, env.clock.now() + runtime::seconds(30));
        if (!info) {
          print_error("consume", fmt::format("{}: {}", *topic, info.error().to_string()));
          return kExitFailed;
        }
        std::vector<client::TopicPartition> assignment;
        for (const client::PartitionInfo& each : (*info)->partitions) {
          if (!partition || each.partition == *partition) {
            assignment.push_back(client::TopicPartition{*topic, each.partition});
          }
        }
        if (assignment.empty()) {
          print_error("consume", fmt::format("topic {} has no partition {}", *topic, *partition));
          return kExitFailed;
        }
        client::Consumer consumer(cluster, config);
        consumer.assign(assignment);
        if (start_offset) {
          consumer.seek(assignment[0], record::Offset{*start_offset});
        } else {
          auto sought = start == "earliest" ? consumer.seek_to_beginning_wait(assignment)
                                            : consumer.seek_to_end_wait(assignment);
          if (!sought) {
            print_error("consume", sought.error().to_string());
            return kExitFailed;
          }
        }
        int64_t count = 0;
        runtime::Instant last_record = env.clock.now();
        int status = kExitOk;
        std::string out;
        while (!interrupted() && (!max_messages || count < *max_messages)) {
          auto records = consumer.poll(runtime::milliseconds(100));
          if (!records) {
            print_error("consume", records.error().to_string());
            status = kExitFailed;
            break;
          }
          out.clear();
          for (const client::ConsumerRecord& record : *records) {
            if (max_messages && count >= *max_messages) break;
            count++;
            format_record(format, record, out);
          }
          if (!out.empty()) {
            std::fwrite(out.data(), 1, out.size(), stdout);
            std::fflush(stdout);
          }
          const runtime::Instant now = env.clock.now();
          if (!records->empty()) last_record = now;
          if (timeout_ms && now - last_record >= runtime::milliseconds(*timeout_ms)) break;
        }
        fmt::print(stderr, "Processed a total of {} messages\n", count);
        return status;
      });
}

namespace {

int consume_group(const ParsedOptions& options, const std::string& group,
                  const client::ClusterOptions& cluster_config) {
  std::string error;
  const auto max_messages = options.get_integer("max-messages", 1, INT64_MAX, error);
  const auto timeout_ms = options.get_integer("timeout-ms", 0, INT64_MAX / 1'000'000, error);
  if (!error.empty()) return usage_error("consume", error);
  client::GroupConsumerConfig config;
  config.group_id = group;
  // kafka-console-consumer: the group's committed offsets win; without one, start at
  // the end, or at the beginning with --from-beginning.
  config.consumer.auto_offset_reset =
      options.has("from-beginning") ? client::OffsetReset::earliest : client::OffsetReset::latest;
  for (const std::string& property : options.all("consumer-property")) {
    auto pair = split_key_value(property);
    if (!pair) {
      return usage_error("consume", fmt::format("invalid --consumer-property '{}'", property));
    }
    if (pair->first == "group.id" && pair->second != group) {
      return usage_error("consume", "--consumer-property group.id differs from --group");
    }
    if (auto bad = client::apply_group_consumer_property(config, pair->first, pair->second)) {
      return usage_error("consume", fmt::format("--consumer-property: {}", *bad));
    }
  }
  if (auto level = options.get("isolation-level")) {
    if (client::apply_consumer_property(config.consumer, "isolation.level", *level)) {
      return usage_error("consume",
                         fmt::format("invalid value '{}' for --isolation-level", *level));
    }
  }
  if (auto bad = client::validate_group_consumer_config(config)) {
    return usage_error("consume", *bad);
  }
  RecordFormat format;
  if (!parse_format(options, format)) return kExitUsage;
  std::vector<std::string> topics = options.all("topic");

  return run_client(
      cluster_config, true,
      [&](runtime::Env& env, client::Cluster& cluster, const std::function<bool()>& interrupted) {
        for (const std::string& topic : topics) {
          auto info = cluster.topic_wait(topic, env.clock.now() + runtime::seconds(30));
          if (!info) {
            print_error("consume", fmt::format("{}: {}", topic, info.error().to_string()));
            return kExitFailed;
          }
        }
        client::GroupConsumer consumer(cluster, config);
        consumer.subscribe(topics);
        int64_t count = 0;
        runtime::Instant last_record = env.clock.now();
        int status = kExitOk;
        std::string out;
        while (!interrupted() && (!max_messages || count < *max_messages)) {
          auto records = consumer.poll(runtime::milliseconds(100));
          if (!records) {
            print_error("consume", records.error().to_string());
            status = kExitFailed;
            break;
          }
          out.clear();
          // With --max-messages the last batch may be cut: the first record not printed
          // of each partition becomes its position again, so the commit at exit covers
          // exactly what was printed.
          absl::btree_map<client::TopicPartition, record::Offset> unprinted;
          for (const client::ConsumerRecord& record : *records) {
            if (max_messages && count >= *max_messages) {
              unprinted.try_emplace(record.partition, record.offset);
              continue;
            }
            count++;
            format_record(format, record, out);
          }
          if (!out.empty()) {
            std::fwrite(out.data(), 1, out.size(), stdout);
            std::fflush(stdout);
          }
          for (const auto& [tp, offset] : unprinted) consumer.seek(tp, offset);
          const runtime::Instant now = env.clock.now();
          if (!records->empty()) last_record = now;
          if (timeout_ms && now - last_record >= runtime::milliseconds(*timeout_ms)) break;
        }
        if (auto closed = consumer.close(); !closed && status == kExitOk) {
          print_error("consume", fmt::format("commit at exit: {}", closed.error().to_string()));
          status = kExitFailed;
        }
        fmt::print(stderr, "Processed a total of {} messages\n", count);
        return status;
      });
}

}  // namespace

}  // namespace weir::cli
