#include "record/crc32c.h"

#include <array>
#include <cstring>

#include "base/assert.h"

#if defined(__x86_64__)
#include <nmmintrin.h>
#endif

namespace weir::record {
namespace {

constexpr uint32_t kPolynomial = 0x82f63b78;  // Castagnoli, bit-reflected

// kTables[0] is the classic byte-at-a-time table; kTables[k][b] is the CRC of byte b
// followed by k zero bytes, which lets the loop fold eight bytes per step.
using Tables = std::array<std::array<uint32_t, 256>, 8>;

constexpr Tables make_tables() {
  Tables tables{};
  for (uint32_t byte = 0; byte < 256; byte++) {
    uint32_t crc = byte;
    for (int bit = 0; bit < 8; bit++) crc = (crc >> 1) ^ ((crc & 1) ? kPolynomial : 0);
    tables[0][byte] = crc;
  }
  for (uint32_t byte = 0; byte < 256; byte++) {
    for (size_t k = 1; k < 8; k++) {
      const uint32_t previous = tables[k - 1][byte];
      tables[k][byte] = (previous >> 8) ^ tables[0][previous & 0xff];
    }
  }
  return tables;
}

constexpr Tables kTables = make_tables();
static_assert(kTables[0][1] == 0xf26b8303, "CRC-32C table");

uint64_t load_little_endian_64(const uint8_t* p) {
  uint64_t value;
  std::memcpy(&value, p, sizeof(value));
  if constexpr (std::endian::native == std::endian::big) value = __builtin_bswap64(value);
  return value;
}

}  // namespace

uint32_t crc32c_software(std::span<const uint8_t> data, uint32_t crc) {
  crc = ~crc;
  const uint8_t* p = data.data();
  size_t size = data.size();
  while (size >= 8) {
    const uint64_t word = load_little_endian_64(p) ^ crc;
    crc = kTables[7][word & 0xff] ^ kTables[6][(word >> 8) & 0xff] ^
          kTables[5][(word >> 16) & 0xff] ^ kTables[4][(word >> 24) & 0xff] ^
          kTables[3][(word >> 32) & 0xff] ^ kTables[2][(word >> 40) & 0xff] ^
          kTables[1][(word >> 48) & 0xff] ^ kTables[0][word >> 56];
    p += 8;
    size -= 8;
  }
  while (size > 0) {
    crc = (crc >> 8) ^ kTables[0][(crc ^ *p) & 0xff];
    p++;
    size--;
  }
  return ~crc;
}

#if defined(__x86_64__)

bool crc32c_hardware_available() { return __builtin_cpu_supports("sse4.2"); }

__attribute__((target("sse4.2"))) uint32_t crc32c_hardware(std::span<const uint8_t> data,
                                                           uint32_t crc) {
  VERIFY(crc32c_hardware_available(), "crc32c_hardware without SSE4.2");
  uint64_t state = ~crc;
  const uint8_t* p = data.data();
  size_t size = data.size();
  while (size >= 8) {
    uint64_t word;
    std::memcpy(&word, p, sizeof(word));
    state = _mm_crc32_u64(state, word);
    p += 8;
    size -= 8;
  }
  auto state32 = static_cast<uint32_t>(state);
  while (size > 0) {
    state32 = _mm_crc32_u8(state32, *p);
    p++;
    size--;
  }
  return ~state32;
}

#else

bool crc32c_hardware_available() { return false; }

uint32_t crc32c_hardware(std::span<const uint8_t> data, uint32_t crc) {
  UNREACHABLE("no hardware CRC-32C on this architecture");
}

#endif

uint32_t crc32c(std::span<const uint8_t> data, uint32_t crc) {
  // __builtin_cpu_supports reads a word libgcc fills before main: cheap enough to ask
  // on every call, and it keeps this module free of mutable globals.
  if (crc32c_hardware_available()) return crc32c_hardware(data, crc);
  return crc32c_software(data, crc);
}

}  // namespace weir::record
