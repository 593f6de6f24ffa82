// Kafka's default partitioner for keyed records: murmur2 (seed 0x9747b28c) of the key
// bytes, made positive by clearing the sign bit, modulo the partition count. It must
// agree bit for bit with the Java client's Utils.murmur2 and librdkafka's
// murmur2_random, or records with one key would land in different partitions
// depending on the client that wrote them.
#pragma once

#include <cstdint>
#include <span>

namespace weir::client {

// Utils.murmur2 of the Java client (a signed 32-bit result, as Java returns it).
int32_t murmur2(std::span<const uint8_t> key);

// The partition of a non-null key among `partition_count` partitions.
int32_t murmur2_partition(std::span<const uint8_t> key, int32_t partition_count);

}  // namespace weir::client
