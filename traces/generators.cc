#include "traces/generators.h"

#include <cmath>

#include <fmt/format.h>

namespace kvsim::traces {

PoissonSource::PoissonSource(double rate_per_s, Rng arrivals, LengthSampler prompt_tokens, LengthSampler output_tokens)
    : rate_per_s_(rate_per_s),
      arrivals_(arrivals),
      prompt_tokens_(std::move(prompt_tokens)),
      output_tokens_(std::move(output_tokens)) {
  if (!(rate_per_s_ > 0) || !std::isfinite(rate_per_s_)) {
    throw Error(fmt::format("poisson arrivals: rate must be a finite number > 0 req/s, found {}", rate_per_s_));
  }
}

std::optional<Request> PoissonSource::next() {
  if (ended_) return std::nullopt;
  // Past ~292 years of simulated time (int64 ns) the stream ends rather than overflow.
  const double gap_s = arrivals_.exponential(rate_per_s_);
  const SimTime gap_ns = gap_s < 9.2e9 ? seconds_to_ns(gap_s) : kSimTimeMax;
  if (gap_ns > kSimTimeMax - now_ns_) {
    ended_ = true;
    return std::nullopt;
  }
  now_ns_ += gap_ns;
  Request r;
  r.id = next_id_++;
  r.arrival_ns = now_ns_;
  r.prompt_tokens = prompt_tokens_.sample();
  r.output_tokens = output_tokens_.sample();
  return r;
}

std::string PoissonSource::describe() const {
  return fmt::format("poisson {} req/s, prompt {}, output {}", rate_per_s_, describe_length_dist(prompt_tokens_.dist()),
                     describe_length_dist(output_tokens_.dist()));
}

AllAtOnceSource::AllAtOnceSource(LengthSampler prompt_tokens, LengthSampler output_tokens)
    : prompt_tokens_(std::move(prompt_tokens)), output_tokens_(std::move(output_tokens)) {}

std::optional<Request> AllAtOnceSource::next() {
  Request r;
  r.id = next_id_++;
  r.arrival_ns = 0;
  r.prompt_tokens = prompt_tokens_.sample();
  r.output_tokens = output_tokens_.sample();
  return r;
}

std::string AllAtOnceSource::describe() const {
  return fmt::format("all-at-once, prompt {}, output {}", describe_length_dist(prompt_tokens_.dist()),
                     describe_length_dist(output_tokens_.dist()));
}

}  // namespace kvsim::traces
