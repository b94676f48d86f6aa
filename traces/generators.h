// Synthetic request streams: an arrival process (traces/arrival.h) and a length model (traces/length_dist.h), both
// on their own RNG streams, so the arrivals do not depend on the lengths drawn. Unbounded: wrap them in a
// LimitedSource. Constant memory.
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "traces/arrival.h"
#include "traces/length_dist.h"
#include "traces/request.h"

namespace kvsim::traces {

class SyntheticSource : public RequestSource {
 public:
  SyntheticSource(const ArrivalSpec& arrival, Rng arrivals, LengthModel lengths);
  std::optional<Request> next() override;
  std::string describe() const override;

 private:
  ArrivalSpec spec_;
  std::unique_ptr<ArrivalProcess> process_;
  LengthModel lengths_;
  SimTime now_ns_ = 0;
  uint64_t next_id_ = 0;
  bool ended_ = false;
};

}  // namespace kvsim::traces
