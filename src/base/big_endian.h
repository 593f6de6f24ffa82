// Kafka's integers are big-endian on the wire and on disk (batch headers, frames,
// checkpoint and snapshot files). The one place weir converts them: load and store at a
// raw pointer the caller has bounds-checked, and append to a byte vector.
#pragma once

#include <bit>
#include <cstdint>
#include <cstring>
#include <type_traits>
#include <vector>

namespace weir {

namespace detail {
template <typename U>
constexpr U byteswap_if_little(U value) {
  static_assert(std::is_unsigned_v<U>);
  if constexpr (std::endian::native == std::endian::big || sizeof(U) == 1) {
    return value;
  } else if constexpr (sizeof(U) == 2) {
    return __builtin_bswap16(value);
  } else if constexpr (sizeof(U) == 4) {
    return __builtin_bswap32(value);
  } else {
    static_assert(sizeof(U) == 8);
    return __builtin_bswap64(value);
  }
}
}  // namespace detail

// The integer stored big-endian at p[0, sizeof(T)).
template <typename T>
T load_big_endian(const uint8_t* p) {
  static_assert(std::is_integral_v<T>);
  using U = std::make_unsigned_t<T>;
  U value;
  std::memcpy(&value, p, sizeof(U));
  return static_cast<T>(detail::byteswap_if_little(value));
}

// Stores `value` big-endian at p[0, sizeof(T)).
template <typename T>
void store_big_endian(uint8_t* p, T value) {
  static_assert(std::is_integral_v<T>);
  using U = std::make_unsigned_t<T>;
  const U bits = detail::byteswap_if_little(static_cast<U>(value));
  std::memcpy(p, &bits, sizeof(U));
}

// Appends `value` big-endian to `out`.
template <typename T>
void append_big_endian(std::vector<uint8_t>& out, T value) {
  const size_t at = out.size();
  out.resize(at + sizeof(T));
  store_big_endian<T>(out.data() + at, value);
}

}  // namespace weir
