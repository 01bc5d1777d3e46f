#pragma once
/// @file
/// A small generator with a fixed algorithm (xoshiro256**, Blackman & Vigna 2021, "Scrambled
/// Linear Pseudorandom Number Generators"; seeded by splitmix64). The std distributions differ
/// between standard libraries; these do not, so a seed gives the same patches everywhere. Every
/// sample gets its own generator from (seed, epoch, position), which makes the loader's output
/// independent of thread scheduling and worker count.
#include <cmath>
#include <cstdint>
#include <utility>
#include <vector>

namespace skipzoo::data {

/// xoshiro256** with distributions of its own; copyable, not thread-safe (one per sample).
class Rng {
 public:
  /// The generator of `seed` (its 256-bit state filled by splitmix64).
  explicit Rng(uint64_t seed) {
    for (auto& word : s_) word = splitmix(seed);
  }
  /// The generator of one sample: a function of its three arguments only (the loader passes
  /// seed, epoch and position).
  static Rng for_sample(uint64_t seed, uint64_t a, uint64_t b) {
    uint64_t x = seed;
    x = splitmix(x) ^ a;
    x = splitmix(x) ^ b;
    return Rng(splitmix(x));
  }

  /// The next 64 random bits.
  uint64_t next() {
    const uint64_t result = rotl(s_[1] * 5, 7) * 9;
    const uint64_t t = s_[1] << 17;
    s_[2] ^= s_[0];
    s_[3] ^= s_[1];
    s_[1] ^= s_[2];
    s_[0] ^= s_[3];
    s_[2] ^= t;
    s_[3] = rotl(s_[3], 45);
    return result;
  }
  /// Uniform in [0, 1), 53 random bits.
  double uniform() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }
  /// Uniform in [lo, hi).
  double uniform(double lo, double hi) { return lo + (hi - lo) * uniform(); }
  /// Uniform integer in [0, n) for n > 0 (rejection keeps it unbiased).
  int64_t below(int64_t n) {
    const uint64_t range = static_cast<uint64_t>(n);
    const uint64_t limit = UINT64_MAX - UINT64_MAX % range;
    uint64_t x;
    do x = next();
    while (x >= limit);
    return static_cast<int64_t>(x % range);
  }
  /// True with probability p; draws nothing when p <= 0.
  bool chance(double p) { return p > 0 && uniform() < p; }
  /// Shuffles `v` in place (Fisher-Yates), every order equally likely.
  template <typename T>
  void shuffle(std::vector<T>& v) {
    for (size_t i = v.size(); i > 1; --i) std::swap(v[i - 1], v[static_cast<size_t>(below(static_cast<int64_t>(i)))]);
  }
  /// A standard normal number, N(0, 1) (Box-Muller; draws two uniforms).
  double normal() {
    const double u = 1.0 - uniform();
    return std::sqrt(-2.0 * std::log(u)) * std::cos(6.283185307179586 * uniform());
  }

 private:
  static uint64_t splitmix(uint64_t& x) {
    uint64_t z = (x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }
  static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
  uint64_t s_[4];
};

}  // namespace skipzoo::data
