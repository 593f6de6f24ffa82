// `weir group list|describe|reset-offsets|delete|delete-offsets`, after
// kafka-consumer-groups.sh. Offsets are reset only while the group is Empty (Kafka's
// rule: a live member would overwrite them at its next commit).
#include <algorithm>
#include <chrono>
#include <cstdio>

#include <fmt/format.h>

#include "cli/commands.h"
#include "client/admin.h"
#include "client/consumer.h"

namespace weir::cli {

namespace {

constexpr OptionSpec kGroupOptions[] = {
    kBootstrapOption,
    {"topic", true, true,
     "reset-offsets, delete-offsets: the topic, or TOPIC:P,P... for some partitions", "TOPIC"},
    {"to-earliest", false, false, "reset-offsets: to the log start", ""},
    {"to-latest", false, false, "reset-offsets: to the log end", ""},
    {"to-offset", true, false, "reset-offsets: to this offset (kept within the log)", "N"},
    {"to-datetime", true, false,
     "reset-offsets: to the first record at or after YYYY-MM-DDTHH:MM:SS[.mmm] (UTC)", "ISO"},
    {"shift-by", true, false, "reset-offsets: move each committed offset by N (may be < 0)", "N"},
    {"dry-run", false, false, "reset-offsets: print the new offsets, change nothing", ""},
    {"execute", false, false, "reset-offsets: commit the new offsets", ""},
    {"members", false, false, "describe: list the members and their assignments instead", ""},
    {"state", false, false, "list: each group's state and protocol type too", ""},
    kHelpOption,
};

void print_group_help() {
  fmt::print(
      "Usage: weir group <action> [GROUP] [options]\n"
      "  list [--state]             every group's id (and state)\n"
      "  describe GROUP [--members] per partition: committed offset, log end, lag, member\n"
      "  reset-offsets GROUP --topic T (--to-earliest|--to-latest|--to-offset N|\n"
      "                --to-datetime ISO|--shift-by N) (--dry-run|--execute)\n"
      "                             only while the group is Empty\n"
      "  delete GROUP               an Empty group and its offsets\n"
      "  delete-offsets GROUP --topic T[:P,...]  an Empty group's offsets of a topic\n\n"
      "Options:\n{}",
      format_options_help(kGroupOptions));
}

// "--topic T" or "--topic T:0,2": the topic and its partitions (all when none named).
struct TopicSpec {
  std::string topic;
  std::vector<int32_t> partitions;
};

std::optional<TopicSpec> parse_topic_spec(const std::string& text) {
  TopicSpec spec;
  const size_t colon = text.find(':');
  spec.topic = text.substr(0, colon);
  if (spec.topic.empty()) return std::nullopt;
  if (colon == std::string::npos) return spec;
  std::string rest = text.substr(colon + 1);
  size_t at = 0;
  while (at <= rest.size()) {
    const size_t comma = std::min(rest.find(',', at), rest.size());
    const std::string item = rest.substr(at, comma - at);
    if (item.empty() || item.size() > 9 ||
        !std::all_of(item.begin(), item.end(), [](char c) { return c >= '0' && c <= '9'; })) {
      return std::nullopt;
    }
    spec.partitions.push_back(std::stoi(item));
    at = comma + 1;
  }
  return spec;
}

// "YYYY-MM-DDTHH:MM:SS[.mmm][Z]" (UTC) as epoch milliseconds; nullopt when malformed.
std::optional<int64_t> parse_datetime(std::string_view text) {
  if (!text.empty() && text.back() == 'Z') text.remove_suffix(1);
  int year = 0, month = 0, day = 0, hour = 0, minute = 0, second = 0, millis = 0;
  char tail[2] = {};
  const std::string copy(text);
  int fields = std::sscanf(copy.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d.%3d%1s", &year, &month, &day,
                           &hour, &minute, &second, &millis, tail);
  if (fields != 6 && fields != 7) return std::nullopt;
  if (fields == 6 && copy.size() != 19) return std::nullopt;
  if (month < 1 || month > 12 || day < 1 || day > 31 || hour > 23 || minute > 59 || second > 60) {
    return std::nullopt;
  }
  const std::chrono::year_month_day date{std::chrono::year(year), std::chrono::month(month),
                                         std::chrono::day(day)};
  if (!date.ok()) return std::nullopt;
  const auto days = std::chrono::sys_days(date).time_since_epoch();
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(days).count();
  return ms + ((hour * 60 + minute) * 60 + second) * int64_t{1000} + millis;
}

std::string or_dash(const std::string& text) { return text.empty() ? "-" : text; }

// Prints rows as aligned columns, as kafka-consumer-groups does.
void print_table(const std::vector<std::vector<std::string>>& rows) {
  std::vector<size_t> widths;
  for (const auto& row : rows) {
    widths.resize(std::max(widths.size(), row.size()));
    for (size_t i = 0; i < row.size(); i++) widths[i] = std::max(widths[i], row[i].size());
  }
  for (const auto& row : rows) {
    std::string line;
    for (size_t i = 0; i < row.size(); i++) {
      line += row[i];
      if (i + 1 < row.size()) line += std::string(widths[i] - row[i].size() + 2, ' ');
    }
    fmt::print("{}\n", line);
  }
}

// The partitions a spec names, checked against the topic's metadata.
client::ClientResult<std::vector<client::TopicPartition>> spec_partitions_wait(
    runtime::Env& env, client::Cluster& cluster, const TopicSpec& spec) {
  auto info = cluster.topic_wait(spec.topic, env.clock.now() + runtime::seconds(30));
  if (!info) return unexpected(info.error());
  std::vector<client::TopicPartition> out;
  for (const client::PartitionInfo& partition : (*info)->partitions) {
    if (spec.partitions.empty() || std::find(spec.partitions.begin(), spec.partitions.end(),
                                             partition.partition) != spec.partitions.end()) {
      out.push_back(client::TopicPartition{spec.topic, partition.partition});
    }
  }
  for (int32_t wanted : spec.partitions) {
    if (std::none_of(out.begin(), out.end(),
                     [&](const auto& tp) { return tp.partition == wanted; })) {
      return unexpected(
          client::Error::of(client::ErrorKind::invalid_argument,
                            fmt::format("topic {} has no partition {}", spec.topic, wanted)));
    }
  }
  return out;
}

int describe_wait(runtime::Env& env, client::Cluster& cluster, const std::string& group,
                  bool members_only) {
  client::Admin admin(cluster);
  auto described = admin.describe_group_wait(group);
  if (!described) {
    print_error("group", fmt::format("describe {}: {}", group, described.error().to_string()));
    return kExitFailed;
  }
  if (members_only) {
    std::vector<std::vector<std::string>> rows = {{"GROUP", "CONSUMER-ID", "GROUP-INSTANCE-ID",
                                                   "HOST", "CLIENT-ID", "#PARTITIONS",
                                                   "ASSIGNMENT"}};
    for (const auto& member : described->members) {
      std::string assignment;
      for (const auto& tp : member.assignment) {
        assignment += fmt::format("{}{}-{}", assignment.empty() ? "" : ",", tp.topic, tp.partition);
      }
      rows.push_back({group, member.member_id, member.group_instance_id.value_or("-"),
                      or_dash(member.client_host), or_dash(member.client_id),
                      std::to_string(member.assignment.size()), or_dash(assignment)});
    }
    fmt::print("Consumer group '{}' is {} ({} member(s){})\n\n", group, described->state,
               described->members.size(),
               described->protocol.empty() ? "" : ", assignor " + described->protocol);
    print_table(rows);
    return kExitOk;
  }
  auto committed = admin.list_group_offsets_wait(group);
  if (!committed) {
    print_error("group", fmt::format("offsets of {}: {}", group, committed.error().to_string()));
    return kExitFailed;
  }
  // Every partition the group has a committed offset for or a member is assigned.
  absl::btree_map<client::TopicPartition, const client::GroupMemberDescription*> owner;
  for (const auto& [tp, offset] : *committed) owner[tp] = nullptr;
  for (const auto& member : described->members) {
    for (const auto& tp : member.assignment) owner[tp] = &member;
  }
  fmt::print("Consumer group '{}' is {} ({} member(s){})\n\n", group, described->state,
             described->members.size(),
             described->protocol.empty() ? "" : ", assignor " + described->protocol);
  client::Consumer reader(cluster, client::ConsumerConfig{});
  std::vector<std::vector<std::string>> rows = {{"GROUP", "TOPIC", "PARTITION", "CURRENT-OFFSET",
                                                 "LOG-END-OFFSET", "LAG", "CONSUMER-ID", "HOST",
                                                 "CLIENT-ID"}};
  for (const auto& [tp, member] : owner) {
    auto end = reader.list_offset_wait(tp, client::kLatestTimestamp);
    auto found = committed->find(tp);
    std::string current = "-", log_end = "-", lag = "-";
    if (end) log_end = std::to_string(end->value());
    if (found != committed->end()) {
      current = std::to_string(found->second.value());
      if (end) lag = std::to_string(std::max<int64_t>(0, end->value() - found->second.value()));
    }
    rows.push_back({group, tp.topic, std::to_string(tp.partition), current, log_end, lag,
                    member ? member->member_id : "-", member ? or_dash(member->client_host) : "-",
                    member ? or_dash(member->client_id) : "-"});
  }
  print_table(rows);
  (void)env;
  return kExitOk;
}

struct ResetTarget {
  enum Kind { earliest, latest, offset, datetime, shift } kind = earliest;
  int64_t value = 0;
};

int reset_offsets_wait(runtime::Env& env, client::Cluster& cluster, const std::string& group,
                       const std::vector<TopicSpec>& specs, ResetTarget target, bool execute) {
  client::Admin admin(cluster);
  auto described = admin.describe_group_wait(group);
  if (!described) {
    // A group that does not exist yet may be given offsets (Kafka allows it too).
    if (described.error().code != protocol::ErrorCode::group_id_not_found) {
      print_error("group", fmt::format("describe {}: {}", group, described.error().to_string()));
      return kExitFailed;
    }
  } else if (described->state != "Empty") {
    print_error("group",
                fmt::format("offsets of group '{}' can only be reset while it is inactive (Empty); "
                            "it is {} with {} member(s)",
                            group, described->state, described->members.size()));
    return kExitFailed;
  }
  absl::btree_map<client::TopicPartition, record::Offset> current;
  if (described) {
    auto committed = admin.list_group_offsets_wait(group);
    if (!committed) {
      print_error("group", fmt::format("offsets of {}: {}", group, committed.error().to_string()));
      return kExitFailed;
    }
    current = std::move(*committed);
  }
  client::Consumer reader(cluster, client::ConsumerConfig{});
  absl::btree_map<client::TopicPartition, record::Offset> wanted;
  for (const TopicSpec& spec : specs) {
    auto partitions = spec_partitions_wait(env, cluster, spec);
    if (!partitions) {
      print_error("group", fmt::format("{}: {}", spec.topic, partitions.error().to_string()));
      return kExitFailed;
    }
    for (const client::TopicPartition& tp : *partitions) {
      auto start = reader.list_offset_wait(tp, client::kEarliestTimestamp);
      auto end = reader.list_offset_wait(tp, client::kLatestTimestamp);
      if (!start || !end) {
        print_error("group", fmt::format("{}-{}: {}", tp.topic, tp.partition,
                                         (!start ? start : end).error().to_string()));
        return kExitFailed;
      }
      int64_t offset = 0;
      switch (target.kind) {
        case ResetTarget::earliest: offset = start->value(); break;
        case ResetTarget::latest: offset = end->value(); break;
        case ResetTarget::offset: offset = target.value; break;
        case ResetTarget::datetime: {
          auto at = reader.list_offset_wait(tp, target.value);
          if (!at) {
            print_error("group",
                        fmt::format("{}-{}: {}", tp.topic, tp.partition, at.error().to_string()));
            return kExitFailed;
          }
          // No record at or after the time: the log end, as Kafka's tool does.
          offset = at->value() < 0 ? end->value() : at->value();
          break;
        }
        case ResetTarget::shift: {
          auto found = current.find(tp);
          if (found == current.end()) {
            print_error("group", fmt::format("--shift-by: group {} has no committed offset for "
                                             "{}-{}",
                                             group, tp.topic, tp.partition));
            return kExitFailed;
          }
          offset = found->second.value() + target.value;
          break;
        }
      }
      // Kept within the log, as kafka-consumer-groups does.
      offset = std::clamp(offset, start->value(), end->value());
      wanted[tp] = record::Offset{offset};
    }
  }
  std::vector<std::vector<std::string>> rows = {{"GROUP", "TOPIC", "PARTITION", "NEW-OFFSET"}};
  for (const auto& [tp, offset] : wanted) {
    rows.push_back({group, tp.topic, std::to_string(tp.partition), std::to_string(offset.value())});
  }
  print_table(rows);
  if (!execute) return kExitOk;
  auto outcomes = admin.alter_group_offsets_wait(group, wanted);
  if (!outcomes) {
    print_error("group", fmt::format("reset {}: {}", group, outcomes.error().to_string()));
    return kExitFailed;
  }
  int status = kExitOk;
  for (const auto& outcome : *outcomes) {
    if (outcome.error) {
      print_error("group", fmt::format("reset {}-{}: {}", outcome.partition.topic,
                                       outcome.partition.partition, outcome.error->to_string()));
      status = kExitFailed;
    }
  }
  return status;
}

}  // namespace

int group_main(std::span<const std::string_view> args) {
  ParsedOptions options;
  if (auto error = parse_options(args, kGroupOptions, options)) return usage_error("group", *error);
  if (options.has("help")) {
    print_group_help();
    return kExitOk;
  }
  const auto& positional = options.positional();
  if (positional.empty()) {
    return usage_error("group",
                       "missing action: list, describe, reset-offsets, delete or delete-offsets");
  }
  const std::string action = positional[0];
  const bool takes_group = action != "list";
  if (action != "list" && action != "describe" && action != "reset-offsets" && action != "delete" &&
      action != "delete-offsets") {
    return usage_error("group", fmt::format("unknown action '{}' (list, describe, reset-offsets, "
                                            "delete, delete-offsets)",
                                            action));
  }
  if (takes_group && positional.size() < 2) return usage_error("group", action + " needs a GROUP");
  if (positional.size() > (takes_group ? 2U : 1U)) {
    return usage_error("group", fmt::format("unexpected argument '{}'", positional.back()));
  }
  const std::string group = takes_group ? positional[1] : std::string();
  std::vector<TopicSpec> specs;
  for (const std::string& text : options.all("topic")) {
    auto spec = parse_topic_spec(text);
    if (!spec) {
      return usage_error(
          "group", fmt::format("invalid value '{}' for --topic (TOPIC or TOPIC:P,P...)", text));
    }
    specs.push_back(std::move(*spec));
  }
  if ((action == "reset-offsets" || action == "delete-offsets") && specs.empty()) {
    return usage_error("group", action + " needs --topic");
  }
  ResetTarget target;
  bool execute = false;
  if (action == "reset-offsets") {
    int chosen = 0;
    std::string error;
    if (options.has("to-earliest")) {
      chosen++;
      target.kind = ResetTarget::earliest;
    }
    if (options.has("to-latest")) {
      chosen++;
      target.kind = ResetTarget::latest;
    }
    if (options.has("to-offset")) {
      chosen++;
      target.kind = ResetTarget::offset;
      target.value = options.get_integer("to-offset", 0, INT64_MAX, error).value_or(0);
    }
    if (options.has("shift-by")) {
      chosen++;
      target.kind = ResetTarget::shift;
      target.value =
          options.get_integer("shift-by", INT64_MIN / 2, INT64_MAX / 2, error).value_or(0);
    }
    if (auto text = options.get("to-datetime")) {
      chosen++;
      target.kind = ResetTarget::datetime;
      auto ms = parse_datetime(*text);
      if (!ms) {
        return usage_error("group", fmt::format("invalid value '{}' for --to-datetime "
                                                "(YYYY-MM-DDTHH:MM:SS[.mmm], UTC)",
                                                *text));
      }
      target.value = *ms;
    }
    if (!error.empty()) return usage_error("group", error);
    if (chosen != 1) {
      return usage_error("group",
                         "reset-offsets needs exactly one of --to-earliest, --to-latest, "
                         "--to-offset, --to-datetime, --shift-by");
    }
    if (options.has("dry-run") == options.has("execute")) {
      return usage_error("group", "reset-offsets needs one of --dry-run and --execute");
    }
    execute = options.has("execute");
  }
  auto cluster_config = cluster_options("group", options);
  if (!cluster_config) return kExitUsage;

  return run_client(
      *cluster_config, false,
      [&](runtime::Env& env, client::Cluster& cluster, const std::function<bool()>&) {
        client::Admin admin(cluster);
        if (action == "list") {
          auto groups = admin.list_groups_wait();
          if (!groups) {
            print_error("group", fmt::format("list: {}", groups.error().to_string()));
            return kExitFailed;
          }
          if (!options.has("state")) {
            for (const auto& listing : *groups) fmt::print("{}\n", listing.group_id);
            return kExitOk;
          }
          std::vector<std::vector<std::string>> rows = {{"GROUP", "STATE", "PROTOCOL-TYPE"}};
          for (const auto& listing : *groups) {
            rows.push_back(
                {listing.group_id, or_dash(listing.state), or_dash(listing.protocol_type)});
          }
          print_table(rows);
          return kExitOk;
        }
        if (action == "describe") return describe_wait(env, cluster, group, options.has("members"));
        if (action == "reset-offsets") {
          return reset_offsets_wait(env, cluster, group, specs, target, execute);
        }
        if (action == "delete") {
          auto outcomes = admin.delete_groups_wait({group});
          if (!outcomes) {
            print_error("group", fmt::format("delete {}: {}", group, outcomes.error().to_string()));
            return kExitFailed;
          }
          for (const auto& outcome : *outcomes) {
            if (outcome.error) {
              print_error("group",
                          fmt::format("delete {}: {}", outcome.name, outcome.error->to_string()));
              return kExitFailed;
            }
          }
          fmt::print("Deletion of requested consumer groups ('{}') was successful.\n", group);
          return kExitOk;
        }
        // delete-offsets
        std::vector<client::TopicPartition> partitions;
        for (const TopicSpec& spec : specs) {
          auto found = spec_partitions_wait(env, cluster, spec);
          if (!found) {
            print_error("group", fmt::format("{}: {}", spec.topic, found.error().to_string()));
            return kExitFailed;
          }
          partitions.insert(partitions.end(), found->begin(), found->end());
        }
        auto outcomes = admin.delete_group_offsets_wait(group, partitions);
        if (!outcomes) {
          print_error("group",
                      fmt::format("delete-offsets {}: {}", group, outcomes.error().to_string()));
          return kExitFailed;
        }
        int status = kExitOk;
        std::vector<std::vector<std::string>> rows = {{"TOPIC", "PARTITION", "STATUS"}};
        for (const auto& outcome : *outcomes) {
          rows.push_back({outcome.partition.topic, std::to_string(outcome.partition.partition),
                          outcome.error ? "Error: " + outcome.error->to_string() : "Successful"});
          if (outcome.error) status = kExitFailed;
        }
        print_table(rows);
        return status;
      });
}

}  // namespace weir::cli
