// `weir cluster quorum`, after kafka-metadata-quorum.sh describe: the KRaft quorum's
// leader, epoch, high watermark, voters and observers with their lag, asked of the
// controllers with DescribeQuorum (api 55). Only the leader answers it, so every
// controller given is tried in turn.
#include <algorithm>
#include <cstdio>
#include <memory>

#include <fmt/format.h>

#include "cli/commands.h"
#include "rpc/connection.h"
#include "runtime/real/runtime.h"

namespace weir::cli {

namespace {

constexpr OptionSpec kClusterOptions[] = {
    {"bootstrap-controller", true, false,
     "controller(s) to ask (the controller listeners; default 127.0.0.1:9093)", "HOST:PORT[,...]"},
    {"status", false, false, "leader, epoch, high watermark and lag (the default)", ""},
    {"replication", false, false, "one row per voter and observer", ""},
    kHelpOption,
};

void print_cluster_help() {
  fmt::print(
      "Usage: weir cluster quorum [--bootstrap-controller HOST:PORT[,...]] "
      "[--status | --replication]\n"
      "  Describes the KRaft controller quorum, as kafka-metadata-quorum.sh describe does.\n\n"
      "Options:\n{}",
      format_options_help(kClusterOptions));
}

using ReplicaState = protocol::DescribeQuorumResponse::ReplicaState;
using Partition = protocol::DescribeQuorumResponse::PartitionData;

rpc::ConnectionOptions connection_options() {
  rpc::ConnectionOptions options;
  options.client_id = "weir-cluster";
  options.connect_timeout = runtime::seconds(5);
  options.request_timeout = runtime::seconds(10);
  return options;
}

struct Quorum {
  Partition partition;
  std::string cluster_id;
};

// The cluster id, from DescribeCluster for controller endpoints (KIP-919), which any
// controller answers; empty when `address` does not.
std::string ask_cluster_id(runtime::Env& env, const runtime::Address& address) {
  protocol::DescribeClusterRequest request;
  request.endpoint_type = 2;
  auto connection = rpc::Connection::connect(env, address, connection_options());
  if (!connection) return {};
  auto answer = (*connection)->send_and_wait(request);
  (*connection)->close();
  if (!answer) return {};
  const auto* response = std::get_if<protocol::DescribeClusterResponse>(answer->get());
  if (response == nullptr || response->error_code != 0) return {};
  return response->cluster_id;
}

// The leader's answer, or the last error.
std::optional<Quorum> ask(runtime::Env& env, const std::vector<runtime::Address>& controllers,
                          std::string& error) {
  protocol::DescribeQuorumRequest request;
  protocol::DescribeQuorumRequest::TopicData topic;
  topic.topic_name = "__cluster_metadata";
  protocol::DescribeQuorumRequest::PartitionData partition;
  partition.partition_index = 0;
  topic.partitions.push_back(partition);
  request.topics.push_back(topic);
  const rpc::ConnectionOptions options = connection_options();
  // A follower's answer names the leader and where it listens: the leader is asked next.
  std::vector<runtime::Address> to_ask = controllers;
  for (size_t next = 0; next < to_ask.size(); next++) {
    const runtime::Address address = to_ask[next];
    auto connection = rpc::Connection::connect(env, address, options);
    if (!connection) {
      error = fmt::format("{}: {}", address.to_string(), connection.error().to_string());
      continue;
    }
    auto answer = (*connection)->send_and_wait(request);
    (*connection)->close();
    if (!answer) {
      error = fmt::format("{}: {}", address.to_string(), answer.error().to_string());
      continue;
    }
    const auto* response = std::get_if<protocol::DescribeQuorumResponse>(answer->get());
    if (response == nullptr || response->topics.size() != 1 ||
        response->topics[0].partitions.size() != 1) {
      error = fmt::format("{}: a malformed DescribeQuorum answer", address.to_string());
      continue;
    }
    const Partition& answered = response->topics[0].partitions[0];
    if (response->error_code != 0 || answered.error_code != 0) {
      error = fmt::format("{} is not the leader (it names {} as leader)", address.to_string(),
                          answered.leader_id);
      for (const auto& node : response->nodes) {
        if (node.node_id != answered.leader_id || node.listeners.empty()) continue;
        const runtime::Address leader{node.listeners[0].host, node.listeners[0].port};
        if (std::find(to_ask.begin(), to_ask.end(), leader) == to_ask.end()) {
          to_ask.push_back(leader);
        }
      }
      continue;
    }
    return Quorum{answered, ask_cluster_id(env, address)};
  }
  return std::nullopt;
}

std::string ids(const std::vector<ReplicaState>& replicas) {
  std::vector<int32_t> sorted;
  for (const ReplicaState& r : replicas) sorted.push_back(r.replica_id);
  std::sort(sorted.begin(), sorted.end());
  std::string text = "[";
  for (size_t i = 0; i < sorted.size(); i++) text += (i ? "," : "") + std::to_string(sorted[i]);
  return text + "]";
}

void print_status(const Partition& quorum, const std::string& cluster_id, int64_t now_ms) {
  int64_t max_lag = 0;
  int64_t max_lag_ms = 0;
  for (const ReplicaState& voter : quorum.current_voters) {
    max_lag = std::max(max_lag, quorum.high_watermark - voter.log_end_offset);
    if (voter.last_caught_up_timestamp >= 0) {
      max_lag_ms = std::max(max_lag_ms, now_ms - voter.last_caught_up_timestamp);
    }
  }
  fmt::print(
      "ClusterId:              {}\n"
      "LeaderId:               {}\n"
      "LeaderEpoch:            {}\n"
      "HighWatermark:          {}\n"
      "MaxFollowerLag:         {}\n"
      "MaxFollowerLagTimeMs:   {}\n"
      "CurrentVoters:          {}\n"
      "CurrentObservers:       {}\n",
      cluster_id.empty() ? "-" : cluster_id, quorum.leader_id, quorum.leader_epoch,
      quorum.high_watermark, std::max<int64_t>(max_lag, 0), max_lag_ms, ids(quorum.current_voters),
      ids(quorum.observers));
}

void print_replication(const Partition& quorum, int64_t now_ms) {
  fmt::print("{:<8}{:<14}{:<8}{:<20}{:<24}{}\n", "NodeId", "LogEndOffset", "Lag", "LastFetchAgoMs",
             "LastCaughtUpAgoMs", "Status");
  auto row = [&](const ReplicaState& r, std::string_view status) {
    auto ago = [&](int64_t at) { return at < 0 ? std::string("-") : std::to_string(now_ms - at); };
    fmt::print("{:<8}{:<14}{:<8}{:<20}{:<24}{}\n", r.replica_id, r.log_end_offset,
               std::max<int64_t>(quorum.high_watermark - r.log_end_offset, 0),
               ago(r.last_fetch_timestamp), ago(r.last_caught_up_timestamp), status);
  };
  for (const ReplicaState& voter : quorum.current_voters) {
    row(voter, voter.replica_id == quorum.leader_id ? "Leader" : "Follower");
  }
  for (const ReplicaState& observer : quorum.observers) row(observer, "Observer");
}

}  // namespace

int cluster_main(std::span<const std::string_view> args) {
  if (args.empty() || args[0] == "--help" || args[0] == "-h") {
    print_cluster_help();
    return args.empty() ? kExitUsage : kExitOk;
  }
  if (args[0] != "quorum") {
    return usage_error("cluster", fmt::format("unknown action '{}' (expected quorum)", args[0]));
  }
  ParsedOptions options;
  if (auto error = parse_options(args.subspan(1), kClusterOptions, options)) {
    return usage_error("cluster", *error);
  }
  if (options.has("help")) {
    print_cluster_help();
    return kExitOk;
  }
  if (options.has("status") && options.has("replication")) {
    return usage_error("cluster", "--status and --replication exclude each other");
  }
  const std::string text = options.get("bootstrap-controller").value_or("127.0.0.1:9093");
  auto controllers = client::parse_bootstrap_servers(text);
  if (!controllers) {
    return usage_error("cluster", fmt::format("invalid value '{}' for --bootstrap-controller "
                                              "(expected host:port[,host:port...])",
                                              text));
  }
  auto created =
      runtime::real::RealRuntime::create(".", runtime::real::OpenFileLimit::raise_quietly);
  if (!created) {
    print_error("cluster", fmt::format("cannot start: {}", runtime::to_string(created.error())));
    return kExitFailed;
  }
  std::unique_ptr<runtime::real::RealRuntime> real = std::move(created).value();
  runtime::Env env = real->env();
  int status = kExitFailed;
  real->run([&] {
    std::string error;
    auto quorum = ask(env, *controllers, error);
    if (!quorum) {
      print_error("cluster", fmt::format("no controller answered as leader: {}", error));
      return;
    }
    const int64_t now_ms = env.clock.wall_now().milliseconds;
    if (options.has("replication")) {
      print_replication(quorum->partition, now_ms);
    } else {
      print_status(quorum->partition, quorum->cluster_id, now_ms);
    }
    status = kExitOk;
  });
  std::fflush(stdout);
  return status;
}

}  // namespace weir::cli
