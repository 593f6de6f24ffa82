// Static facts about one generated message: which api it belongs to and which
// versions weir serves. Every generated message struct has `static constexpr
// MessageInfo info`.
#pragma once

#include <cstdint>
#include <string_view>

namespace weir::protocol {

// flexible_version_min of an api none of whose versions is flexible.
inline constexpr int16_t kNeverFlexible = INT16_MAX;

struct MessageInfo {
  std::string_view name;  // e.g. "ProduceRequest"
  int16_t api_key;
  bool is_request;
  int16_t version_min;
  int16_t version_max;
  int16_t flexible_version_min;

  constexpr bool supports(int16_t version) const {
    return version >= version_min && version <= version_max;
  }
  // Flexible versions use compact strings, bytes and arrays, and tagged fields.
  constexpr bool is_flexible(int16_t version) const { return version >= flexible_version_min; }
};

}  // namespace weir::protocol
