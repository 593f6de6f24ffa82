#include "runtime/buggify.h"

namespace weir::runtime {

namespace {
uint64_t fnv1a(std::string_view text, uint64_t hash) {
  for (char c : text) {
    hash ^= static_cast<uint8_t>(c);
    hash *= 0x100000001b3ULL;
  }
  return hash;
}
}  // namespace

bool Buggify::fire(::weir::SourceLocation where) {
  if (!enabled_) return false;
  const auto key = std::make_pair(std::string_view(where.file_name()), where.line());
  auto it = sites_.find(key);
  if (it == sites_.end()) {
    Random site(fnv1a(key.first, seed_ ^ 0xcbf29ce484222325ULL) + key.second);
    it = sites_.emplace(key, site.chance(site_probability_)).first;
  }
  if (!it->second) return false;
  if (!random_.chance(fire_probability_)) return false;
  fired_++;
  return true;
}

}  // namespace weir::runtime
