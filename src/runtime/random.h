// Seeded randomness. Every random choice in weir draws from a node's Random, which the
// runtime forks from the run's seed, so a simulated run is a function of its seed.
// xoshiro256** with splitmix64 seeding: fast, small, and identical on every platform
// (std:: distributions are not, so none are used).
#pragma once

#include <cstdint>

#include "base/assert.h"

namespace weir::runtime {

class Random {
 public:
  explicit Random(uint64_t seed) {
    for (auto& word : state_) word = splitmix64(seed);
  }

  uint64_t next() {
    const uint64_t result = rotl(state_[1] * 5, 7) * 9;
    const uint64_t t = state_[1] << 17;
    state_[2] ^= state_[0];
    state_[3] ^= state_[1];
    state_[1] ^= state_[2];
    state_[0] ^= state_[3];
    state_[2] ^= t;
    state_[3] = rotl(state_[3], 45);
    return result;
  }

  // Uniform in [0, bound). Lemire's multiply-shift; the tiny bias is irrelevant here.
  uint64_t below(uint64_t bound) {
    VERIFY(bound > 0);
    __extension__ using U128 = unsigned __int128;
    return static_cast<uint64_t>((static_cast<U128>(next()) * bound) >> 64);
  }

  // Uniform in [low, high].
  int64_t between(int64_t low, int64_t high) {
    VERIFY(low <= high);
    return low + static_cast<int64_t>(below(static_cast<uint64_t>(high - low) + 1));
  }

  // Uniform in [0, 1).
  double unit() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }

  bool chance(double probability) { return unit() < probability; }

  // An independent generator derived from this one, for a child component.
  Random fork() { return Random(next()); }

 private:
  static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
  static uint64_t splitmix64(uint64_t& x) {
    uint64_t z = (x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }
  uint64_t state_[4];
};

}  // namespace weir::runtime
