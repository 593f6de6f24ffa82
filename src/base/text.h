// Small text helpers (absl's on Debian 12 predate std::string_view interop).
#pragma once

#include <charconv>
#include <optional>
#include <string_view>
#include <vector>

namespace weir {

// The pieces of `text` between `separator`s, without empty ones.
inline std::vector<std::string_view> split_nonempty(std::string_view text, char separator) {
  std::vector<std::string_view> pieces;
  size_t start = 0;
  while (start <= text.size()) {
    size_t end = text.find(separator, start);
    if (end == std::string_view::npos) end = text.size();
    if (end > start) pieces.push_back(text.substr(start, end - start));
    start = end + 1;
  }
  return pieces;
}

// The whole of `text` as a decimal integer, or nullopt.
template <typename Int>
std::optional<Int> parse_integer(std::string_view text) {
  Int value{};
  auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return value;
}

}  // namespace weir
