// A stream decorator that puts the same N-token prefix (a system prompt) in front of every request's prompt, as
// vLLM benchmark_serving's random dataset does with --random-prefix-len: prompts grow by N tokens and carry
// prefix_id 1, so prefix caching can reuse the prefix's KV. With `count` > 1 there are that many distinct prefixes of
// the same length (one per application or tenant), taken in turn: request i carries prefix (i mod count) + 1.
#pragma once

#include <memory>

#include "traces/request.h"

namespace kvsim::traces {

class SharedPrefixSource : public RequestSource {
 public:
  SharedPrefixSource(std::unique_ptr<RequestSource> inner, int64_t prefix_tokens, int64_t count = 1);
  std::optional<Request> next() override;
  std::string describe() const override;

 private:
  std::unique_ptr<RequestSource> inner_;
  int64_t prefix_tokens_;
  int64_t count_;
  int64_t served_ = 0;
};

}  // namespace kvsim::traces
