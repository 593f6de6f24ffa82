#include "client/murmur2.h"

#include "base/assert.h"

namespace weir::client {

int32_t murmur2(std::span<const uint8_t> key) {
  // A transcription of org.apache.kafka.common.utils.Utils.murmur2 in unsigned
  // arithmetic (Java's int overflow wraps; C++'s signed overflow would be undefined).
  constexpr uint32_t seed = 0x9747b28c;
  constexpr uint32_t m = 0x5bd1e995;
  constexpr int r = 24;
  const size_t length = key.size();
  uint32_t h = seed ^ static_cast<uint32_t>(length);
  const size_t length4 = length / 4;
  for (size_t i = 0; i < length4; i++) {
    const size_t i4 = i * 4;
    uint32_t k = uint32_t{key[i4]} | (uint32_t{key[i4 + 1]} << 8) | (uint32_t{key[i4 + 2]} << 16) |
                 (uint32_t{key[i4 + 3]} << 24);
    k *= m;
    k ^= k >> r;
    k *= m;
    h *= m;
    h ^= k;
  }
  const size_t tail = length & ~size_t{3};
  switch (length % 4) {
    case 3: h ^= uint32_t{key[tail + 2]} << 16; [[fallthrough]];
    case 2: h ^= uint32_t{key[tail + 1]} << 8; [[fallthrough]];
    case 1:
      h ^= uint32_t{key[tail]};
      h *= m;
      break;
    default: break;
  }
  h ^= h >> 13;
  h *= m;
  h ^= h >> 15;
  return static_cast<int32_t>(h);
}

int32_t murmur2_partition(std::span<const uint8_t> key, int32_t partition_count) {
  VERIFY(partition_count > 0);
  // Utils.toPositive: clear the sign bit (not abs(), which differs for INT_MIN).
  const int32_t positive = murmur2(key) & 0x7fffffff;
  const int32_t partition = positive % partition_count;
  VERIFY(partition >= 0 && partition < partition_count);
  return partition;
}

}  // namespace weir::client
