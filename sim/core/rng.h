// Random streams. One seed feeds named streams derived from each component's path ("workload/arrivals",
// "replica/3/sampling"), so a new draw in one component never shifts another's. The generator (xoshiro256**,
// seeded by SplitMix64) and the distributions are implemented here rather than taken from <random>, whose
// distributions differ between standard libraries: the same scenario and seed give the same bytes everywhere.
#pragma once

#include <cstdint>
#include <string_view>

namespace kvsim {

class Rng {
 public:
  explicit Rng(uint64_t seed);

  uint64_t next_u64();
  double uniform();                             // [0, 1), 53 random bits
  double uniform(double lo, double hi);         // [lo, hi)
  int64_t uniform_int(int64_t lo, int64_t hi);  // inclusive, unbiased
  double exponential(double rate);              // mean 1/rate
  double normal();                              // standard normal (Marsaglia polar method)
  double normal(double mean, double stddev);
  double lognormal(double mu, double sigma);  // exp(N(mu, sigma))
  double gamma(double shape, double scale);   // mean shape x scale, CV 1 / sqrt(shape)
  double weibull(double shape, double scale);

 private:
  uint64_t s_[4];
};

class RngStreams {
 public:
  explicit RngStreams(uint64_t seed) : seed_(seed) {}
  Rng stream(std::string_view path) const;
  uint64_t seed() const { return seed_; }

 private:
  uint64_t seed_;
};

}  // namespace kvsim
