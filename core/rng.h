// Rng: a small, fast, seedable random generator whose streams are identical on every platform
// (xoshiro256++ seeded through SplitMix64). std::*_distribution is implementation-defined, so the
// draws here are written out to keep the deterministic mode bit-for-bit reproducible.
//
// Not thread-safe: one Rng per thread. Split() derives an independent stream.
#pragma once

#include <cmath>
#include <cstdint>
#include <numbers>

namespace apprentice {

class Rng {
 public:
  explicit Rng(uint64_t seed = 0) { Seed(seed); }

  void Seed(uint64_t seed) {
    uint64_t x = seed;
    for (auto& s : s_) s = SplitMix64(x);
    have_spare_normal_ = false;
  }

  uint64_t Next() {
    const uint64_t result = Rotl(s_[0] + s_[3], 23) + s_[0];
    const uint64_t t = s_[1] << 17;
    s_[2] ^= s_[0];
    s_[3] ^= s_[1];
    s_[1] ^= s_[2];
    s_[0] ^= s_[3];
    s_[2] ^= t;
    s_[3] = Rotl(s_[3], 45);
    return result;
  }

  // Uniform in [0, 1) with 53 random bits.
  double Uniform() { return static_cast<double>(Next() >> 11) * 0x1.0p-53; }
  // Uniform in [low, high).
  double Uniform(double low, double high) { return low + (high - low) * Uniform(); }
  // Uniform integer in [0, n); n > 0. Lemire's multiply-shift (bias < 2^-64 * n).
  uint64_t Below(uint64_t n) {
    __extension__ using U128 = unsigned __int128;
    return static_cast<uint64_t>((static_cast<U128>(Next()) * n) >> 64);
  }
  // Standard normal (Box–Muller, both values used).
  double Normal() {
    if (have_spare_normal_) {
      have_spare_normal_ = false;
      return spare_normal_;
    }
    double u1 = Uniform();
    while (u1 <= 0.0) u1 = Uniform();
    const double u2 = Uniform();
    const double r = std::sqrt(-2.0 * std::log(u1));
    const double theta = 2.0 * std::numbers::pi * u2;
    spare_normal_ = r * std::sin(theta);
    have_spare_normal_ = true;
    return r * std::cos(theta);
  }
  // A new generator whose stream is independent of this one's continuation.
  Rng Split() { return Rng(Next() ^ 0xA0761D6478BD642FULL); }

 private:
  static uint64_t Rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
  static uint64_t SplitMix64(uint64_t& x) {
    uint64_t z = (x += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
  }

  uint64_t s_[4];
  double spare_normal_ = 0.0;
  bool have_spare_normal_ = false;
};

}  // namespace apprentice
