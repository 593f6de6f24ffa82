// Replica placement for new partitions, in the spirit of Kafka's StripedReplicaPlacer:
// racks interleaved so that a partition's replicas land on as many racks as possible,
// and consecutive partitions start one broker further along so that leaders (the first
// replica) spread evenly. The random shuffle of racks and of brokers within a rack
// comes from the caller's Random, so a placement is a function of the generator's
// state.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "base/result.h"
#include "metadata/types.h"
#include "runtime/random.h"

namespace weir::metadata {

struct PlacementBroker {
  BrokerId id{0};
  std::optional<std::string> rack;  // no rack: a rack of its own kind ("" is a rack name)
};

struct PlacementError {
  std::string message;  // Kafka's wording, for INVALID_REPLICATION_FACTOR
};

// Replica lists for `partition_count` partitions of `replication_factor` replicas each,
// over `brokers` (the usable ones: unfenced, not shutting down). Needs
// 1 <= replication_factor <= brokers.size(), else a PlacementError.
Result<std::vector<std::vector<BrokerId>>, PlacementError> place_replicas(
    std::vector<PlacementBroker> brokers, int32_t partition_count, int16_t replication_factor,
    runtime::Random& random);

}  // namespace weir::metadata
