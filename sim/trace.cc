#include "sim/trace.h"

#include <fmt/format.h>

namespace weir::sim {

void Trace::mix(uint64_t value) {
  // A multiply-xorshift step (from wyhash's mum mix): cheap and order-sensitive.
  __extension__ using U128 = unsigned __int128;
  const U128 product = static_cast<U128>(hash_ ^ value) * 0x9e3779b97f4a7c15ULL;
  hash_ = static_cast<uint64_t>(product) ^ static_cast<uint64_t>(product >> 64);
}

namespace {
uint64_t hash_text(std::string_view text) {
  uint64_t h = 0xcbf29ce484222325ULL;
  for (char c : text) {
    h ^= static_cast<uint8_t>(c);
    h *= 0x100000001b3ULL;
  }
  return h;
}
}  // namespace

void Trace::trace(std::string_view event, uint64_t a, uint64_t b) {
  const int64_t now = clock_.now().nanoseconds();
  mix(hash_text(event));
  mix(static_cast<uint64_t>(now));
  mix(a);
  mix(b);
  events_++;
  if (keep_lines_) lines_ += fmt::format("{} {} {} {}\n", now, event, a, b);
}

void Trace::note(std::string_view event, std::string_view detail) {
  const int64_t now = clock_.now().nanoseconds();
  mix(hash_text(event));
  mix(static_cast<uint64_t>(now));
  mix(hash_text(detail));
  events_++;
  if (keep_lines_) lines_ += fmt::format("{} {} {}\n", now, event, detail);
}

}  // namespace weir::sim
