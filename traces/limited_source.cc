#include "traces/limited_source.h"

#include <fmt/format.h>

namespace kvsim::traces {

LimitedSource::LimitedSource(std::unique_ptr<RequestSource> inner, std::optional<int64_t> max_requests,
                             std::optional<SimTime> duration_ns)
    : inner_(std::move(inner)), max_requests_(max_requests), duration_ns_(duration_ns) {}

std::optional<Request> LimitedSource::next() {
  if (ended_ || (max_requests_ && passed_ >= *max_requests_)) {
    ended_ = true;
    return std::nullopt;
  }
  std::optional<Request> r = inner_->next();
  if (!r || (duration_ns_ && r->arrival_ns > *duration_ns_)) {
    ended_ = true;
    return std::nullopt;
  }
  ++passed_;
  return r;
}

std::string LimitedSource::describe() const {
  std::string out = inner_->describe();
  if (max_requests_) out += fmt::format(", {} requests", *max_requests_);
  if (duration_ns_) out += fmt::format(", {} s", ns_to_s(*duration_ns_));
  return out;
}

}  // namespace kvsim::traces
