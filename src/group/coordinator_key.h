// Which __consumer_offsets partition coordinates a group, as Kafka computes it
// (GroupCoordinatorService#partitionFor): Utils.abs(groupId.hashCode()) % partitions.
// Clients never compute it themselves — they ask FindCoordinator — but every broker
// of a mixed or migrated cluster must agree with Kafka's, and an existing
// __consumer_offsets written by Kafka must be read by the same rule.
#pragma once

#include <cstdint>
#include <string_view>

namespace weir::group {

// Java's String.hashCode of the string whose UTF-8 bytes are `utf8`: s[0]*31^(n-1) +
// ... + s[n-1] over its UTF-16 code units, in wrapping 32-bit arithmetic. Malformed
// UTF-8 decodes as Java's decoder does it on the wire: U+FFFD per bad byte.
int32_t java_string_hash_code(std::string_view utf8);

// Kafka's Utils.abs: |n|, with Integer.MIN_VALUE mapped to 0 (not to itself).
constexpr int32_t kafka_abs(int32_t n) { return n == INT32_MIN ? 0 : (n < 0 ? -n : n); }

// The partition of a __consumer_offsets with `partition_count` partitions (> 0) that
// holds `group_id`.
int32_t partition_for_group(std::string_view group_id, int32_t partition_count);

}  // namespace weir::group
