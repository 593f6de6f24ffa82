// `weir partition elect | reassign`.
//
// elect, after kafka-leader-election.sh: asks the controller (through a
// broker, ElectLeaders, api 43) for preferred-leader or unclean elections of the named
// partitions, or of every partition, and reports each outcome the way the Kafka tool
// does. An unclean election may drop committed records: for each one done, the tool
// prints the new leader and where its log ends — the records at that offset and above
// that the previous leader held are gone (it drops them when it returns, naming the
// range in its own log).
//
// reassign, after kafka-reassign-partitions.sh (with flags instead of its JSON file):
// starts reassignments (AlterPartitionReassignments, api 45), cancels them, lists the
// ones in progress (ListPartitionReassignments, api 46) or verifies that given ones are
// complete.
#include <algorithm>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "cli/commands.h"
#include "client/admin.h"
#include "client/consumer.h"

namespace weir::cli {

namespace {

constexpr OptionSpec kPartitionOptions[] = {
    kBootstrapOption,
    {"election-type", true, false, "preferred or unclean", "TYPE"},
    {"topic", true, false, "the topic whose partitions to elect for", "TOPIC"},
    {"partition", true, true, "a partition of --topic (default: all of them)", "N"},
    {"all-topic-partitions", false, false, "every partition of every topic", ""},
    {"assignment", true, true, "reassign: TOPIC:PARTITION=BROKER,BROKER,...", "SPEC"},
    {"execute", false, false, "reassign: start the reassignments (the default)", ""},
    {"cancel", false, false, "reassign: cancel the reassignments of the partitions named", ""},
    {"verify", false, false, "reassign: whether the reassignments named are complete", ""},
    {"list", false, false, "reassign: the reassignments in progress", ""},
    {"disallow-replication-factor-change", false, false,
     "reassign: refuse an assignment that changes a partition's replica count", ""},
    kHelpOption,
};

void print_partition_help() {
  fmt::print(
      "Usage: weir partition elect --election-type preferred|unclean\n"
      "         (--topic TOPIC [--partition N ...] | --all-topic-partitions)\n"
      "  Elects partition leaders, as kafka-leader-election.sh does: preferred moves\n"
      "  leadership to each partition's first replica; unclean gives a leaderless\n"
      "  partition a leader even from outside the ISR (committed records may be lost).\n"
      "       weir partition reassign [--execute|--cancel|--verify]\n"
      "         --assignment TOPIC:PARTITION=BROKER,... [--assignment ...]\n"
      "       weir partition reassign --list [--topic TOPIC]\n"
      "  Moves partitions between brokers, as kafka-reassign-partitions.sh does: the new\n"
      "  replicas fetch until they are in sync, then the replicas left out leave (and\n"
      "  delete their copy). --cancel goes back to the replicas before; --verify says\n"
      "  whether each named reassignment is complete.\n\n"
      "Options:\n{}",
      format_options_help(kPartitionOptions));
}

std::string names(const std::vector<client::TopicPartition>& partitions) {
  std::vector<std::string> out;
  for (const auto& partition : partitions) {
    out.push_back(fmt::format("{}-{}", partition.topic, partition.partition));
  }
  return fmt::format("{}", fmt::join(out, ", "));
}

// After an unclean election: the new leader and where its log ends.
void report_unclean(runtime::Env& env, client::Cluster& cluster,
                    const client::TopicPartition& partition) {
  client::Admin admin(cluster);
  auto topic = admin.describe_topic_wait(partition.topic);
  int32_t leader = -1;
  int32_t epoch = -1;
  if (topic) {
    for (const client::PartitionInfo& info : topic->partitions) {
      if (info.partition == partition.partition) {
        leader = info.leader;
        epoch = info.leader_epoch;
      }
    }
  }
  client::ConsumerConfig config;
  client::Consumer consumer(cluster, config);
  // A leader recovering from an unclean election answers OFFSET_NOT_AVAILABLE until
  // its high watermark reaches its log end: ask a few times.
  std::optional<record::Offset> end;
  for (int attempt = 0; attempt < 20 && !end; attempt++) {
    auto answer = consumer.list_offset_wait(partition, client::kLatestTimestamp);
    if (answer) {
      end = *answer;
    } else {
      env.scheduler.sleep_for(runtime::milliseconds(250));
    }
  }
  if (!end) {
    fmt::print("{}-{}: elected leader {} uncleanly (epoch {}); its log end is not known yet\n",
               partition.topic, partition.partition, leader, epoch);
    return;
  }
  fmt::print(
      "{}-{}: elected leader {} uncleanly (epoch {}); its log ends at offset {}: records the "
      "previous leader held at offset {} and above are truncated\n",
      partition.topic, partition.partition, leader, epoch, end->value(), end->value());
}

// TOPIC:PARTITION[=B1,B2,...]: the partition, and the replicas when given.
std::optional<client::Reassignment> parse_assignment(const std::string& text) {
  const size_t equals = text.find('=');
  const std::string where = text.substr(0, equals);
  const size_t colon = where.rfind(':');
  if (colon == std::string::npos || colon == 0) return std::nullopt;
  const auto parse_int = [](const std::string& digits) -> std::optional<int32_t> {
    char* end = nullptr;
    const long value = std::strtol(digits.c_str(), &end, 10);
    if (digits.empty() || *end != '\0' || value < 0 || value > INT32_MAX) return std::nullopt;
    return static_cast<int32_t>(value);
  };
  auto partition = parse_int(where.substr(colon + 1));
  if (!partition) return std::nullopt;
  client::Reassignment reassignment{{where.substr(0, colon), *partition}, std::nullopt};
  if (equals != std::string::npos) {
    reassignment.replicas.emplace();
    const std::string list = text.substr(equals + 1);
    size_t start = 0;
    while (start <= list.size()) {
      size_t comma = list.find(',', start);
      if (comma == std::string::npos) comma = list.size();
      auto broker = parse_int(list.substr(start, comma - start));
      if (!broker) return std::nullopt;
      reassignment.replicas->push_back(*broker);
      start = comma + 1;
    }
  }
  return reassignment;
}

std::string join_ids(const std::vector<int32_t>& ids) {
  return fmt::format("{}", fmt::join(ids, ","));
}

int reassign(const ParsedOptions& options) {
  const int modes = (options.has("cancel") ? 1 : 0) + (options.has("verify") ? 1 : 0) +
                    (options.has("list") ? 1 : 0) + (options.has("execute") ? 1 : 0);
  if (modes > 1) {
    return usage_error("partition", "give one of --execute, --cancel, --verify, --list");
  }
  std::vector<client::Reassignment> wanted;
  for (const std::string& text : options.all("assignment")) {
    auto parsed = parse_assignment(text);
    if (!parsed) {
      return usage_error(
          "partition", fmt::format("invalid --assignment '{}' (TOPIC:PARTITION=BROKER,...)", text));
    }
    if (options.has("cancel")) parsed->replicas.reset();
    if (!options.has("cancel") && !options.has("list") && !parsed->replicas) {
      return usage_error("partition", fmt::format("--assignment '{}' names no replicas", text));
    }
    wanted.push_back(std::move(*parsed));
  }
  if (!options.has("list") && wanted.empty()) {
    return usage_error("partition", "reassign needs --assignment (or --list)");
  }
  auto cluster_config = cluster_options("partition", options);
  if (!cluster_config) return kExitUsage;
  return run_client(
      *cluster_config, false,
      [&](runtime::Env&, client::Cluster& cluster, const std::function<bool()>&) {
        client::Admin admin(cluster);
        if (options.has("list") || options.has("verify")) {
          std::optional<std::vector<client::TopicPartition>> partitions;
          if (!wanted.empty()) {
            partitions.emplace();
            for (const auto& r : wanted) partitions->push_back(r.partition);
          } else if (auto topic = options.get("topic")) {
            auto described = admin.describe_topic_wait(*topic);
            if (!described) {
              print_error("partition",
                          fmt::format("describe {}: {}", *topic, described.error().to_string()));
              return kExitFailed;
            }
            partitions.emplace();
            for (const auto& info : described->partitions)
              partitions->push_back({*topic, info.partition});
          }
          auto ongoing = admin.list_partition_reassignments_wait(partitions);
          if (!ongoing) {
            print_error("partition", ongoing.error().to_string());
            return kExitFailed;
          }
          if (options.has("list")) {
            if (ongoing->empty()) fmt::print("No partition reassignment is in progress.\n");
            for (const auto& o : *ongoing) {
              fmt::print("{}-{}: replicas {} adding {} removing {}\n", o.partition.topic,
                         o.partition.partition, join_ids(o.replicas), join_ids(o.adding),
                         join_ids(o.removing));
            }
            return kExitOk;
          }
          // --verify: complete when none is in progress and the replicas are the target.
          fmt::print("Status of partition reassignment:\n");
          bool all_done = true;
          for (const auto& r : wanted) {
            const bool running = std::any_of(ongoing->begin(), ongoing->end(), [&](const auto& o) {
              return o.partition == r.partition;
            });
            bool matches = false;
            if (!running) {
              auto described = admin.describe_topic_wait(r.partition.topic);
              if (described) {
                for (const auto& info : described->partitions) {
                  if (info.partition == r.partition.partition)
                    matches = info.replicas == *r.replicas;
                }
              }
            }
            if (running) {
              fmt::print("Reassignment of partition {}-{} is still in progress.\n",
                         r.partition.topic, r.partition.partition);
            } else if (matches) {
              fmt::print("Reassignment of partition {}-{} is completed.\n", r.partition.topic,
                         r.partition.partition);
            } else {
              fmt::print(
                  "There is no active reassignment of partition {}-{}, but its replicas "
                  "are not {}.\n",
                  r.partition.topic, r.partition.partition, join_ids(*r.replicas));
            }
            all_done = all_done && !running && matches;
          }
          return all_done ? kExitOk : kExitFailed;
        }
        auto outcomes = admin.alter_partition_reassignments_wait(
            wanted, !options.has("disallow-replication-factor-change"));
        if (!outcomes) {
          print_error("partition", outcomes.error().to_string());
          return kExitFailed;
        }
        const char* verb = options.has("cancel") ? "cancelled" : "started";
        int failed = 0;
        for (const client::ReassignmentOutcome& outcome : *outcomes) {
          if (!outcome.error) {
            fmt::print("Successfully {} partition reassignment for {}-{}\n", verb,
                       outcome.partition.topic, outcome.partition.partition);
          } else {
            fmt::print("Error reassigning partition {}-{}: {}\n", outcome.partition.topic,
                       outcome.partition.partition, outcome.error->to_string());
            failed++;
          }
        }
        return failed > 0 ? kExitFailed : kExitOk;
      });
}

}  // namespace

int partition_main(std::span<const std::string_view> args) {
  ParsedOptions options;
  if (auto error = parse_options(args, kPartitionOptions, options)) {
    return usage_error("partition", *error);
  }
  if (options.has("help")) {
    print_partition_help();
    return kExitOk;
  }
  if (options.positional().size() != 1 ||
      (options.positional()[0] != "elect" && options.positional()[0] != "reassign")) {
    return usage_error("partition", options.positional().empty()
                                        ? "missing action: elect or reassign"
                                        : fmt::format("unknown action '{}' (elect, reassign)",
                                                      options.positional().back()));
  }
  if (options.positional()[0] == "reassign") return reassign(options);
  const std::string type_name = options.get("election-type").value_or("");
  std::string lowered = type_name;
  std::transform(lowered.begin(), lowered.end(), lowered.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (lowered != "preferred" && lowered != "unclean") {
    return usage_error("partition", "--election-type must be preferred or unclean");
  }
  const client::ElectionType type =
      lowered == "preferred" ? client::ElectionType::preferred : client::ElectionType::unclean;
  const bool all = options.has("all-topic-partitions");
  const std::optional<std::string> topic = options.get("topic");
  if (all == topic.has_value()) {
    return usage_error("partition", "give either --topic or --all-topic-partitions");
  }
  std::vector<int32_t> asked;
  for (const std::string& text : options.all("partition")) {
    if (!topic) return usage_error("partition", "--partition needs --topic");
    char* end = nullptr;
    const long value = std::strtol(text.c_str(), &end, 10);
    if (text.empty() || *end != '\0' || value < 0 || value > INT32_MAX) {
      return usage_error("partition", fmt::format("invalid value '{}' for --partition", text));
    }
    asked.push_back(static_cast<int32_t>(value));
  }
  auto cluster_config = cluster_options("partition", options);
  if (!cluster_config) return kExitUsage;
  const std::string upper = lowered == "preferred" ? "PREFERRED" : "UNCLEAN";

  return run_client(
      *cluster_config, false,
      [&](runtime::Env& env, client::Cluster& cluster, const std::function<bool()>&) {
        client::Admin admin(cluster);
        std::optional<std::vector<client::TopicPartition>> partitions;
        if (topic) {
          partitions.emplace();
          if (asked.empty()) {
            auto described = admin.describe_topic_wait(*topic);
            if (!described) {
              print_error("partition",
                          fmt::format("describe {}: {}", *topic, described.error().to_string()));
              return kExitFailed;
            }
            for (const auto& info : described->partitions) {
              partitions->push_back({*topic, info.partition});
            }
          }
          for (int32_t p : asked) partitions->push_back({*topic, p});
        }
        auto outcomes = admin.elect_leaders_wait(type, partitions);
        if (!outcomes) {
          print_error("partition", outcomes.error().to_string());
          return kExitFailed;
        }
        std::vector<client::TopicPartition> elected;
        std::vector<client::TopicPartition> not_needed;
        int failed = 0;
        for (const client::ElectionOutcome& outcome : *outcomes) {
          if (!outcome.error) {
            elected.push_back(outcome.partition);
          } else if (outcome.error->code == protocol::ErrorCode::election_not_needed) {
            not_needed.push_back(outcome.partition);
          } else {
            fmt::print("Error completing leader election ({}) for partition: {}-{}: {}\n", upper,
                       outcome.partition.topic, outcome.partition.partition,
                       outcome.error->to_string());
            failed++;
          }
        }
        if (!elected.empty()) {
          fmt::print("Successfully completed leader election ({}) for partitions {}\n", upper,
                     names(elected));
        }
        if (!not_needed.empty()) {
          fmt::print("Valid replica already elected for partitions {}\n", names(not_needed));
        }
        if (elected.empty() && not_needed.empty() && failed == 0) {
          fmt::print("No partition needed a {} election.\n", lowered);
        }
        if (type == client::ElectionType::unclean) {
          for (const auto& partition : elected) report_unclean(env, cluster, partition);
        }
        if (failed > 0) {
          print_error("partition", fmt::format("{} replica(s) could not be elected", failed));
          return kExitFailed;
        }
        return kExitOk;
      });
}

}  // namespace weir::cli
