// A stream decorator that repeats a pool of N distinct prompts: request i sends prompt (i mod N), whole, as
// inference-perf's shared-prefix data generator and many benchmark clients do (a fixed set of prompts cycled). The
// first N requests define the pool (their sampled lengths and shared prefixes); every later request repeats one of
// them token for token, so prefix caching finds all but its last token. Identity is carried as chained block hashes
// (Request::block_hashes, 16 tokens per hash): the blocks inside a shared prefix hash by the prefix, the rest by the
// prompt, so prompts of one group still share their system prompt.
#pragma once

#include <memory>
#include <vector>

#include "traces/request.h"

namespace kvsim::traces {

class PromptPoolSource : public RequestSource {
 public:
  // Tokens per prefix hash: vLLM's default block size, so every hash covers one block.
  static constexpr int64_t kHashBlockTokens = 16;

  PromptPoolSource(std::unique_ptr<RequestSource> inner, int64_t distinct_prompts);
  std::optional<Request> next() override;
  std::string describe() const override;

 private:
  struct Prompt {
    int64_t tokens = 0;
    uint64_t prefix_id = 0;
    int64_t prefix_tokens = 0;
  };
  std::unique_ptr<RequestSource> inner_;
  int64_t distinct_;
  std::vector<Prompt> pool_;
  int64_t served_ = 0;
};

}  // namespace kvsim::traces
