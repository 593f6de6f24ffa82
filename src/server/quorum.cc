#include "server/quorum.h"

#include <algorithm>

#include <fmt/format.h>

#include "protocol/uuid_text.h"

namespace weir::server {

std::string quorum_cluster_id(const std::vector<config::QuorumVoter>& voters) {
  // FNV-1a over "id@host:port,..." in id order, spread over 16 bytes.
  std::vector<config::QuorumVoter> sorted = voters;
  std::sort(sorted.begin(), sorted.end(),
            [](const auto& a, const auto& b) { return a.node_id < b.node_id; });
  std::string text;
  for (const auto& voter : sorted) {
    text += fmt::format("{}@{}:{},", voter.node_id, voter.address.host, voter.address.port);
  }
  protocol::Uuid id;
  uint64_t hash = 0xcbf29ce484222325ULL;
  for (size_t half = 0; half < 2; half++) {
    for (char c : text) hash = (hash ^ static_cast<uint8_t>(c)) * 0x100000001b3ULL;
    hash = (hash ^ half) * 0x100000001b3ULL;
    for (size_t j = 0; j < 8; j++) id.bytes[half * 8 + j] = static_cast<uint8_t>(hash >> (8 * j));
  }
  return protocol::uuid_to_string(id);
}

Result<raft::RaftSettings, std::string> quorum_settings(const config::BrokerConfig& config) {
  if (config.controller_quorum_voters.empty()) {
    return unexpected(
        std::string("controller.quorum.voters: weir needs the static voter set (id@host:port,...); "
                    "controller.quorum.bootstrap.servers (dynamic quorums) is not served yet"));
  }
  raft::RaftSettings settings;
  settings.core.self = raft::ReplicaId(config.node_id);
  for (const auto& voter : config.controller_quorum_voters) {
    const raft::ReplicaId id(voter.node_id);
    if (settings.voter_addresses.contains(id)) {
      return unexpected(
          fmt::format("controller.quorum.voters: node {} is listed twice", voter.node_id));
    }
    settings.core.voters.push_back(id);
    settings.voter_addresses[id] = runtime::Address{voter.address.host, voter.address.port};
  }
  std::sort(settings.core.voters.begin(), settings.core.voters.end());
  if (config.controller_role &&
      !std::binary_search(settings.core.voters.begin(), settings.core.voters.end(),
                          settings.core.self)) {
    return unexpected(fmt::format(
        "controller.quorum.voters: node.id {} has the controller role but is not a voter",
        config.node_id));
  }
  settings.core.election_timeout =
      runtime::milliseconds(config.controller_quorum_election_timeout_ms);
  settings.core.fetch_timeout = runtime::milliseconds(config.controller_quorum_fetch_timeout_ms);
  settings.core.election_backoff_max =
      runtime::milliseconds(config.controller_quorum_election_backoff_max_ms);
  settings.request_timeout = runtime::milliseconds(config.controller_quorum_request_timeout_ms);
  settings.retry_backoff =
      runtime::milliseconds(std::max(config.controller_quorum_retry_backoff_ms, 1));
  settings.segment_bytes = config.metadata_log_segment_bytes;
  settings.cluster_id = quorum_cluster_id(config.controller_quorum_voters);
  if (!config.controller_listener_names.empty()) {
    settings.listener_name = config.controller_listener_names.front();
  }
  settings.directory = "";  // the data root: log.dirs' first directory
  return settings;
}

Result<runtime::Address, std::string> controller_listener(const config::BrokerConfig& config) {
  for (const auto& listener : config.listeners) {
    if (config.is_controller_listener(listener.listener_name)) {
      return runtime::Address{config::is_wildcard_host(listener.host) ? "0.0.0.0" : listener.host,
                              listener.port};
    }
  }
  return unexpected(
      std::string("listeners: a node with the controller role needs a listener named in "
                  "controller.listener.names"));
}

}  // namespace weir::server
