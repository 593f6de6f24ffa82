// The "consumer" embedded protocol of classic groups: what a member puts in JoinGroup's
// protocol metadata (ConsumerProtocolSubscription) and what the leader hands each member
// in SyncGroup (ConsumerProtocolAssignment), in Kafka's byte layouts (apache/kafka
// clients/src/main/resources/common/message/ConsumerProtocol{Subscription,Assignment}
// .json; both non-flexible), plus the client-side assignors the leader runs.
//
// Everything here is pure: no I/O, no clock, no randomness, ordered containers only, so
// every member that runs an assignor over the same input computes the same output.
//
// Invariants:
//  - Decoding never crashes and never allocates more than its input's size: malformed
//    bytes are a ProtocolDecodeError. A version above the highest known one is read as
//    the highest (later versions only append fields, as Kafka's own reader assumes).
//  - An assignor's result names every member of its input (an empty assignment for a
//    member that gets nothing), gives each partition of a subscribed topic to exactly
//    one member subscribed to that topic, and depends only on its input.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <absl/container/btree_map.h>

#include "base/result.h"
#include "client/cluster.h"

namespace weir::client {

using ProtocolBytes = std::vector<uint8_t>;

// The protocol type classic consumer groups use.
inline constexpr std::string_view kConsumerProtocolType = "consumer";

struct Subscription {
  std::vector<std::string> topics;
  std::optional<ProtocolBytes> user_data;
  std::vector<TopicPartition> owned_partitions;  // v1+ (cooperative rebalancing)
  int32_t generation = -1;                       // v2+
  std::optional<std::string> rack;               // v3+
  bool operator==(const Subscription&) const = default;
};

struct Assignment {
  std::vector<TopicPartition> partitions;  // sorted
  std::optional<ProtocolBytes> user_data;
  bool operator==(const Assignment&) const = default;
};

enum class ProtocolDecodeError : uint8_t { truncated, invalid_length, negative_version };
std::string_view protocol_decode_error_name(ProtocolDecodeError error);

// The versions written: the lowest that carry what weir uses, so every client reads them
// (kafka-python reads v0 only and ignores trailing fields).
inline constexpr int16_t kSubscriptionVersionWritten = 0;
inline constexpr int16_t kAssignmentVersionWritten = 0;

ProtocolBytes encode_subscription(const Subscription& subscription,
                                  int16_t version = kSubscriptionVersionWritten);
weir::Result<Subscription, ProtocolDecodeError> decode_subscription(std::span<const uint8_t> bytes);
ProtocolBytes encode_assignment(const Assignment& assignment,
                                int16_t version = kAssignmentVersionWritten);
weir::Result<Assignment, ProtocolDecodeError> decode_assignment(std::span<const uint8_t> bytes);

// One member as an assignor sees it.
struct AssignorMember {
  std::string member_id;
  std::optional<std::string> group_instance_id;
  Subscription subscription;
};

enum class AssignorKind : uint8_t { range, roundrobin };
// The protocol name a member offers for each assignor ("range", "roundrobin").
std::string_view assignor_name(AssignorKind kind);
std::optional<AssignorKind> assignor_from_name(std::string_view name);

// The partition count of each topic the leader knows (from Metadata); a subscribed
// topic missing here gets no partitions assigned.
using PartitionCounts = absl::btree_map<std::string, int32_t>;
// member id -> assignment, for every member in `members`.
using GroupAssignment = absl::btree_map<std::string, Assignment>;

// Kafka's RangeAssignor: per topic, the members subscribed to it in order (static
// members by instance id first, then dynamic ones by member id, as Kafka's MemberInfo
// orders them) each take a consecutive range; the first `partitions % members` take
// one more.
GroupAssignment assign_range(const std::vector<AssignorMember>& members,
                             const PartitionCounts& partitions);
// Kafka's RoundRobinAssignor: every subscribed partition in (topic, partition) order is
// dealt to the next member (same order as range) that subscribes to its topic.
GroupAssignment assign_roundrobin(const std::vector<AssignorMember>& members,
                                  const PartitionCounts& partitions);
GroupAssignment assign(AssignorKind kind, const std::vector<AssignorMember>& members,
                       const PartitionCounts& partitions);

}  // namespace weir::client
