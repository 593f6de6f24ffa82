// Vocabulary of the metadata module: strong types for the numbers the cluster
// metadata log carries. A broker epoch is the offset of the broker's
// RegisterBrokerRecord in the metadata log, so it is an int64 like an offset, but it
// is not interchangeable with one.
#pragma once

#include <compare>
#include <cstdint>
#include <string>

#include "base/ids.h"
#include "base/strong.h"
#include "protocol/uuid_text.h"
#include "protocol/wire.h"

namespace weir::metadata {

using Bytes = protocol::Bytes;
using Uuid = protocol::Uuid;

// A broker's id is its node's (base/ids.h: the same type as raft::ReplicaId).
using BrokerId = weir::NodeId;
using BrokerEpoch = Strong<struct BrokerEpochTag, int64_t>;
using LeaderEpoch = weir::LeaderEpoch;
using PartitionEpoch = Strong<struct PartitionEpochTag, int32_t>;
using PartitionId = weir::PartitionId;
using ProducerId = weir::ProducerId;

// A topic's id: a Uuid that only names topics.
struct TopicId {
  Uuid uuid;
  bool operator==(const TopicId&) const = default;
  auto operator<=>(const TopicId&) const = default;
  bool is_zero() const { return uuid == Uuid{}; }
};

// Kafka's rendering of a Uuid (URL-safe base64, no padding), as in logs and tools.
using protocol::uuid_to_string;

// No leader: Kafka's -1.
inline constexpr BrokerId kNoLeader{-1};

// ConfigResource types of Kafka's admin APIs and ConfigRecord.
enum class ConfigResourceType : int8_t {
  unknown = 0,
  topic = 2,
  broker = 4,
  broker_logger = 8,
};

// The feature whose level says which record versions the log may hold.
inline constexpr std::string_view kMetadataVersionFeature = "metadata.version";
// metadata.version of Kafka 4.0 (4.0-IV3): the record versions weir writes are the
// ones Kafka writes at this level.
inline constexpr int16_t kMetadataVersionLevel = 25;
// KIP-966's feature: at level 1 the controller keeps eligible leader replicas. A new
// cluster starts with it (as Kafka 4.1+ does); a cluster formatted before keeps its
// elections as they were.
inline constexpr std::string_view kEligibleLeaderReplicasFeature =
    "eligible.leader.replicas.version";
inline constexpr int16_t kEligibleLeaderReplicasLevel = 1;

}  // namespace weir::metadata
