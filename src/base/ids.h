// The cluster's vocabulary: one strong type for each kind of number that crosses
// modules, shared by record, metadata, raft, broker and client alike, so no boundary
// converts one module's epoch into another's. Each module names them as it reads best
// (metadata::BrokerId and raft::ReplicaId are both a node's id) but they are the same
// types. Numbers that belong to one module (a log offset, a broker epoch, a partition
// epoch) stay in that module's types.h.
#pragma once

#include <cstdint>

#include "base/strong.h"

namespace weir {

// A node's node.id: a broker's id, a controller's voter id, a replica's id.
using NodeId = Strong<struct NodeIdTag, int32_t>;
// The epoch of a partition's leader, stamped on the batches it appends (the metadata
// log's Raft epoch is one too).
using LeaderEpoch = Strong<struct LeaderEpochTag, int32_t>;
// A partition's index within its topic.
using PartitionId = Strong<struct PartitionIdTag, int32_t>;
using ProducerId = Strong<struct ProducerIdTag, int64_t>;
using ProducerEpoch = Strong<struct ProducerEpochTag, int16_t>;

}  // namespace weir
