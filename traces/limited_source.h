// Bounds any request stream by a request count and/or a duration, as the `workload.requests` and
// `workload.duration_s` keys ask, for synthetic generators and trace readers alike.
#pragma once

#include <memory>
#include <optional>

#include "traces/request.h"

namespace kvsim::traces {

// Passes requests through until `max_requests` have passed or the first arrival after `duration_ns` (an arrival at
// exactly duration_ns still passes); then nullopt forever, without pulling the inner source again.
class LimitedSource : public RequestSource {
 public:
  LimitedSource(std::unique_ptr<RequestSource> inner, std::optional<int64_t> max_requests,
                std::optional<SimTime> duration_ns);
  std::optional<Request> next() override;
  std::string describe() const override;

  RequestSource& inner() { return *inner_; }

 private:
  std::unique_ptr<RequestSource> inner_;
  std::optional<int64_t> max_requests_;
  std::optional<SimTime> duration_ns_;
  int64_t passed_ = 0;
  bool ended_ = false;
};

}  // namespace kvsim::traces
