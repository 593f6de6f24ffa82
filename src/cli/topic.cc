// `weir topic create|list|describe|delete`, after kafka-topics.sh.
#include <cstdio>

#include <fmt/format.h>

#include "cli/commands.h"
#include "client/admin.h"
#include "protocol/uuid_text.h"

namespace weir::cli {

namespace {

constexpr OptionSpec kTopicOptions[] = {
    kBootstrapOption,
    {"topic", true, true, "topic name (create and delete take several)", "NAME"},
    {"partitions", true, false, "partitions of a new topic (default: the broker's)", "N"},
    {"replication-factor", true, false, "replicas of a new topic (default: the broker's)", "N"},
    {"config", true, true, "topic config of a new topic", "KEY=VALUE"},
    {"if-not-exists", false, false, "create: succeed when the topic exists", ""},
    {"if-exists", false, false, "delete: succeed when the topic does not exist", ""},
    {"exclude-internal", false, false, "list and describe: skip internal topics", ""},
    {"under-replicated-partitions", false, false,
     "describe: only partitions whose ISR is smaller than their replicas", ""},
    {"unavailable-partitions", false, false, "describe: only partitions without a leader", ""},
    kHelpOption,
};

void print_topic_help() {
  fmt::print(
      "Usage: weir topic <create|list|describe|delete> [options]\n"
      "  create    --topic T [--partitions N] [--replication-factor R] [--config k=v]...\n"
      "  list      every topic's name\n"
      "  describe  [--topic T]  partitions, leaders, leader epochs, replicas, ISR, eligible\n"
      "            leader replicas (KIP-966), offline replicas and non-default configs\n"
      "            [--under-replicated-partitions]\n"
      "            [--unavailable-partitions]\n"
      "  delete    --topic T\n\nOptions:\n{}",
      format_options_help(kTopicOptions));
}

std::string join(const std::vector<int32_t>& values) {
  std::string text;
  for (size_t i = 0; i < values.size(); i++) text += (i ? "," : "") + std::to_string(values[i]);
  return text;
}

// A partition's line, as kafka-topics.sh --describe prints it (with its leader epoch and
// the replicas on brokers that are down).
void print_partition(const std::string& topic, const client::PartitionInfo& partition) {
  std::string elr;
  if (partition.elr) {
    elr = fmt::format("\tElr: {}\tLastKnownElr: {}", join(*partition.elr),
                      join(partition.last_known_elr.value_or(std::vector<int32_t>{})));
  }
  fmt::print(
      "\tTopic: {}\tPartition: {}\tLeader: {}\tLeaderEpoch: {}\tReplicas: {}\tIsr: {}"
      "{}\tOffline: {}\n",
      topic, partition.partition,
      partition.leader < 0 ? std::string("none") : std::to_string(partition.leader),
      partition.leader_epoch, join(partition.replicas), join(partition.isr), elr,
      join(partition.offline));
}

// Which partitions `describe` lists: all, or (as kafka-topics.sh's filters) only the
// under-replicated or the leaderless ones — then without the topic lines.
struct PartitionFilter {
  bool under_replicated = false;
  bool unavailable = false;
  bool any() const { return under_replicated || unavailable; }
  bool keeps(const client::PartitionInfo& partition) const {
    if (!any()) return true;
    return (under_replicated && partition.isr.size() < partition.replicas.size()) ||
           (unavailable && partition.leader < 0);
  }
};

int describe(client::Cluster& cluster, std::vector<client::TopicInfo> topics,
             PartitionFilter filter) {
  client::Admin admin(cluster);
  // The ELR columns are extra: without them the rest still describes the topics.
  if (auto elr = admin.describe_elr_wait(topics); !elr) {
    print_error("topic", fmt::format("eligible leader replicas: {}", elr.error().to_string()));
  }
  for (const client::TopicInfo& topic : topics) {
    if (filter.any()) {
      for (const client::PartitionInfo& partition : topic.partitions) {
        if (!filter.keeps(partition)) continue;
        print_partition(topic.name, partition);
      }
      continue;
    }
    std::string configs;
    auto entries = admin.describe_configs_wait(client::ConfigResource::topic, topic.name);
    if (entries) {
      for (const client::ConfigEntry& entry : *entries) {
        if (entry.is_default || entry.source == -1) continue;
        if (!configs.empty()) configs += ",";
        configs += entry.name + "=" + (entry.sensitive ? "(sensitive)" : entry.value.value_or(""));
      }
    }
    const size_t replication = topic.partitions.empty() ? 0 : topic.partitions[0].replicas.size();
    fmt::print("Topic: {}\tTopicId: {}\tPartitionCount: {}\tReplicationFactor: {}\tConfigs: {}\n",
               topic.name, protocol::uuid_to_string(topic.topic_id), topic.partitions.size(),
               replication, configs);
    for (const client::PartitionInfo& partition : topic.partitions) {
      print_partition(topic.name, partition);
    }
  }
  return kExitOk;
}

}  // namespace

int topic_main(std::span<const std::string_view> args) {
  ParsedOptions options;
  if (auto error = parse_options(args, kTopicOptions, options)) return usage_error("topic", *error);
  if (options.has("help")) {
    print_topic_help();
    return kExitOk;
  }
  if (options.positional().size() != 1) {
    return usage_error("topic",
                       options.positional().empty()
                           ? "missing action: create, list, describe or delete"
                           : fmt::format("unexpected argument '{}'", options.positional().back()));
  }
  const std::string action = options.positional()[0];
  if (action != "create" && action != "list" && action != "describe" && action != "delete") {
    return usage_error("topic",
                       fmt::format("unknown action '{}' (create, list, describe, delete)", action));
  }
  const std::vector<std::string> names = options.all("topic");
  if ((action == "create" || action == "delete") && names.empty()) {
    return usage_error("topic", fmt::format("{} needs --topic", action));
  }
  std::string error;
  const auto partitions = options.get_integer("partitions", 1, 1'000'000, error);
  if (!error.empty()) return usage_error("topic", error);
  const auto replication = options.get_integer("replication-factor", 1, 32767, error);
  if (!error.empty()) return usage_error("topic", error);
  std::vector<std::pair<std::string, std::string>> configs;
  for (const std::string& config : options.all("config")) {
    auto pair = split_key_value(config);
    if (!pair) {
      return usage_error("topic",
                         fmt::format("invalid value '{}' for --config (expected k=v)", config));
    }
    configs.push_back(*pair);
  }
  auto cluster_config = cluster_options("topic", options);
  if (!cluster_config) return kExitUsage;

  return run_client(
      *cluster_config, false,
      [&](runtime::Env&, client::Cluster& cluster, const std::function<bool()>&) {
        client::Admin admin(cluster);
        if (action == "create") {
          std::vector<client::NewTopic> topics;
          for (const std::string& name : names) {
            topics.push_back(client::NewTopic{name, static_cast<int32_t>(partitions.value_or(-1)),
                                              static_cast<int16_t>(replication.value_or(-1)),
                                              configs});
          }
          auto outcomes = admin.create_topics_wait(topics);
          if (!outcomes) {
            print_error("topic", outcomes.error().to_string());
            return kExitFailed;
          }
          int status = kExitOk;
          for (const client::TopicOutcome& outcome : *outcomes) {
            if (!outcome.error) {
              fmt::print("Created topic {}.\n", outcome.name);
            } else if (outcome.error->code == protocol::ErrorCode::topic_already_exists &&
                       options.has("if-not-exists")) {
              fmt::print("Topic {} already exists.\n", outcome.name);
            } else {
              print_error("topic",
                          fmt::format("create {}: {}", outcome.name, outcome.error->to_string()));
              status = kExitFailed;
            }
          }
          return status;
        }
        if (action == "delete") {
          auto outcomes = admin.delete_topics_wait(names);
          if (!outcomes) {
            print_error("topic", outcomes.error().to_string());
            return kExitFailed;
          }
          int status = kExitOk;
          for (const client::TopicOutcome& outcome : *outcomes) {
            if (!outcome.error) {
              fmt::print("Deleted topic {}.\n", outcome.name);
            } else if (outcome.error->code == protocol::ErrorCode::unknown_topic_or_partition &&
                       options.has("if-exists")) {
              continue;
            } else {
              print_error("topic",
                          fmt::format("delete {}: {}", outcome.name, outcome.error->to_string()));
              status = kExitFailed;
            }
          }
          return status;
        }
        if (action == "list") {
          auto topics = admin.list_topics_wait(!options.has("exclude-internal"));
          if (!topics) {
            print_error("topic", topics.error().to_string());
            return kExitFailed;
          }
          for (const client::TopicInfo& topic : *topics) fmt::print("{}\n", topic.name);
          return kExitOk;
        }
        // describe
        std::vector<client::TopicInfo> topics;
        if (names.empty()) {
          auto all = admin.list_topics_wait(!options.has("exclude-internal"));
          if (!all) {
            print_error("topic", all.error().to_string());
            return kExitFailed;
          }
          topics = std::move(*all);
        } else {
          for (const std::string& name : names) {
            auto topic = admin.describe_topic_wait(name);
            if (!topic) {
              print_error("topic", fmt::format("describe {}: {}", name, topic.error().to_string()));
              return kExitFailed;
            }
            topics.push_back(std::move(*topic));
          }
        }
        return describe(cluster, std::move(topics),
                        PartitionFilter{options.has("under-replicated-partitions"),
                                        options.has("unavailable-partitions")});
      });
}

}  // namespace weir::cli
