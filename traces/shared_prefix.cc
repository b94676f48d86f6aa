#include "traces/shared_prefix.h"

#include <algorithm>

#include <fmt/format.h>

namespace kvsim::traces {

SharedPrefixSource::SharedPrefixSource(std::unique_ptr<RequestSource> inner, int64_t prefix_tokens, int64_t count)
    : inner_(std::move(inner)), prefix_tokens_(prefix_tokens), count_(std::max<int64_t>(1, count)) {}

std::optional<Request> SharedPrefixSource::next() {
  std::optional<Request> r = inner_->next();
  if (r) {
    r->prompt_tokens += prefix_tokens_;
    r->prefix_id = static_cast<uint64_t>(served_++ % count_) + 1;
    r->shared_prefix_tokens = prefix_tokens_;
  }
  return r;
}

std::string SharedPrefixSource::describe() const {
  if (count_ == 1) return fmt::format("{}, with a shared {}-token prefix", inner_->describe(), prefix_tokens_);
  return fmt::format("{}, with {} shared {}-token prefixes taken in turn", inner_->describe(), count_, prefix_tokens_);
}

}  // namespace kvsim::traces
