// A stream decorator that puts the same N-token prefix (a system prompt) in front of every request's prompt, as
// vLLM benchmark_serving's random dataset does with --random-prefix-len: prompts grow by N tokens and carry
// prefix_id 1, so prefix caching can reuse the prefix's KV.
#pragma once

#include <memory>

#include "traces/request.h"

namespace kvsim::traces {

class SharedPrefixSource : public RequestSource {
 public:
  SharedPrefixSource(std::unique_ptr<RequestSource> inner, int64_t prefix_tokens);
  std::optional<Request> next() override;
  std::string describe() const override;

 private:
  std::unique_ptr<RequestSource> inner_;
  int64_t prefix_tokens_;
};

}  // namespace kvsim::traces
