// Time as the runtime hands it out. Code outside src/runtime/real never reads an OS
// clock: it asks its node's Clock, which the simulator drives in virtual time.
#pragma once

#include <chrono>
#include <compare>
#include <cstdint>

#include <fmt/format.h>

namespace weir::runtime {

using Duration = std::chrono::nanoseconds;
using std::chrono::microseconds;
using std::chrono::milliseconds;
using std::chrono::seconds;

// A point on a node's monotonic clock (nanoseconds since an arbitrary origin).
class Instant {
 public:
  constexpr Instant() = default;
  static constexpr Instant from_nanoseconds(int64_t ns) { return Instant(ns); }
  constexpr int64_t nanoseconds() const { return ns_; }
  constexpr auto operator<=>(const Instant&) const = default;
  constexpr Instant operator+(Duration d) const { return Instant(ns_ + d.count()); }
  constexpr Instant operator-(Duration d) const { return Instant(ns_ - d.count()); }
  constexpr Duration operator-(Instant other) const { return Duration(ns_ - other.ns_); }
  static constexpr Instant max() { return Instant(INT64_MAX); }

 private:
  constexpr explicit Instant(int64_t ns) : ns_(ns) {}
  int64_t ns_ = 0;
};

// Wall-clock time in milliseconds since the Unix epoch, as Kafka timestamps are.
struct WallTime {
  int64_t milliseconds = 0;
  constexpr auto operator<=>(const WallTime&) const = default;
};

class Clock {
 public:
  virtual ~Clock() = default;
  virtual Instant now() const = 0;
  virtual WallTime wall_now() const = 0;
};

}  // namespace weir::runtime

template <>
struct fmt::formatter<weir::runtime::Instant> : fmt::formatter<double> {
  auto format(weir::runtime::Instant t, fmt::format_context& ctx) const {
    return fmt::formatter<double>::format(static_cast<double>(t.nanoseconds()) / 1e9, ctx);
  }
};
