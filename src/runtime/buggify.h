// Buggify points: code marks a rare path (a short read, a spurious timeout, a tiny
// buffer) with `if (env.buggify.fire()) ...`. In production they never fire. In the
// simulator each site (file and line) is switched on or off once per seed, and a
// switched-on site fires with a small probability, so rare paths get exercised
// without drowning the run in them (FoundationDB's BUGGIFY).
#pragma once

#include <cstdint>
#include "base/source_location.h"
#include <string_view>

#include <absl/container/btree_map.h>

#include "runtime/random.h"

namespace weir::runtime {

class Buggify {
 public:
  // Disabled: fire() is always false.
  Buggify() = default;
  Buggify(Random random, uint64_t seed, double site_probability, double fire_probability)
      : random_(random), seed_(seed), enabled_(true), site_probability_(site_probability),
        fire_probability_(fire_probability) {}

  bool fire(::weir::SourceLocation where = ::weir::SourceLocation::current());
  bool enabled() const { return enabled_; }
  uint64_t fired_count() const { return fired_; }

 private:
  Random random_{0};
  uint64_t seed_ = 0;
  bool enabled_ = false;
  double site_probability_ = 0;
  double fire_probability_ = 0;
  uint64_t fired_ = 0;
  // Sites decided so far, keyed by (file, line); the decision is a hash of the seed and
  // the site, so it does not depend on the order sites are first reached.
  absl::btree_map<std::pair<std::string_view, uint32_t>, bool> sites_;
};

}  // namespace weir::runtime
