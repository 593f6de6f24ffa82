// The `quorum-state` file: Kafka's JSON (leaderId, leaderEpoch, votedId, ...) plus a
// CRC-32C of the rest, so a flipped bit on read is noticed instead of believed (a
// voter that misreads its vote could vote twice).
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "raft/types.h"

namespace weir::raft {

inline constexpr const char* quorum_state_file = "quorum-state";

std::string format_quorum_state(const QuorumState& state, const std::vector<ReplicaId>& voters);
// nullopt if the text is not a quorum-state file weir wrote or its CRC does not match.
std::optional<QuorumState> parse_quorum_state(std::string_view text);

}  // namespace weir::raft
