// A controller node's quorum settings, derived from Kafka's KRaft keys:
// node.id, controller.quorum.voters, controller.listener.names and the
// controller.quorum.*.ms timeouts.
#pragma once

#include <string>
#include <vector>

#include "base/result.h"
#include "config/broker_config.h"
#include "raft/node.h"
#include "runtime/network.h"

namespace weir::server {

// Every voter derives the same quorum cluster id from the voter list, so a static
// quorum needs no formatting step to agree on it.
std::string quorum_cluster_id(const std::vector<config::QuorumVoter>& voters);

// The raft settings of this node (a voter, or an observer when node.id is not among
// the voters). The error names the config key.
Result<raft::RaftSettings, std::string> quorum_settings(const config::BrokerConfig& config);

// Where the controller listener binds (the first listener named in
// controller.listener.names).
Result<runtime::Address, std::string> controller_listener(const config::BrokerConfig& config);

}  // namespace weir::server
