// Strong integer types: an offset is not a byte position, an epoch is not a node id.
// Each Tag makes a distinct type; arithmetic is only what the tag's meaning allows
// (comparison always, +/- with an integer delta, never mixing two kinds).
#pragma once

#include <compare>
#include <cstdint>
#include <functional>

#include <fmt/format.h>

namespace weir {

template <typename Tag, typename Rep = int64_t>
class Strong {
 public:
  using rep = Rep;
  constexpr Strong() = default;
  constexpr explicit Strong(Rep value) : value_(value) {}
  constexpr Rep value() const { return value_; }
  constexpr auto operator<=>(const Strong&) const = default;

  constexpr Strong next() const { return Strong(value_ + 1); }
  constexpr Strong operator+(Rep delta) const { return Strong(value_ + delta); }
  constexpr Strong operator-(Rep delta) const { return Strong(value_ - delta); }
  constexpr Rep operator-(Strong other) const { return value_ - other.value_; }
  constexpr Strong& operator+=(Rep delta) {
    value_ += delta;
    return *this;
  }

  template <typename H>
  friend H AbslHashValue(H h, Strong s) {
    return H::combine(std::move(h), s.value_);
  }

 private:
  Rep value_{};
};

}  // namespace weir

template <typename Tag, typename Rep>
struct fmt::formatter<weir::Strong<Tag, Rep>> : fmt::formatter<Rep> {
  auto format(weir::Strong<Tag, Rep> s, fmt::format_context& ctx) const {
    return fmt::formatter<Rep>::format(s.value(), ctx);
  }
};

template <typename Tag, typename Rep>
struct std::hash<weir::Strong<Tag, Rep>> {
  size_t operator()(weir::Strong<Tag, Rep> s) const { return std::hash<Rep>{}(s.value()); }
};
