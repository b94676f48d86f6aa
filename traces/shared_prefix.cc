#include "traces/shared_prefix.h"

#include <fmt/format.h>

namespace kvsim::traces {

SharedPrefixSource::SharedPrefixSource(std::unique_ptr<RequestSource> inner, int64_t prefix_tokens)
    : inner_(std::move(inner)), prefix_tokens_(prefix_tokens) {}

std::optional<Request> SharedPrefixSource::next() {
  std::optional<Request> r = inner_->next();
  if (r) {
    r->prompt_tokens += prefix_tokens_;
    r->prefix_id = 1;
    r->shared_prefix_tokens = prefix_tokens_;
  }
  return r;
}

std::string SharedPrefixSource::describe() const {
  return fmt::format("{}, with a shared {}-token prefix", inner_->describe(), prefix_tokens_);
}

}  // namespace kvsim::traces
