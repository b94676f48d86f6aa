#include "traces/generators.h"

#include <fmt/format.h>

namespace kvsim::traces {

SyntheticSource::SyntheticSource(const ArrivalSpec& arrival, Rng arrivals, LengthModel lengths)
    : spec_(arrival), process_(make_arrival_process(arrival, arrivals)), lengths_(std::move(lengths)) {}

std::optional<Request> SyntheticSource::next() {
  if (ended_) return std::nullopt;
  const std::optional<SimTime> t = process_->next(now_ns_);
  if (!t) {
    ended_ = true;
    return std::nullopt;
  }
  now_ns_ = *t;
  Request r;
  r.id = next_id_++;
  r.arrival_ns = now_ns_;
  std::tie(r.prompt_tokens, r.output_tokens) = lengths_.sample();
  return r;
}

std::string SyntheticSource::describe() const {
  return fmt::format("{}, {}", describe_arrival(spec_), lengths_.describe());
}

}  // namespace kvsim::traces
