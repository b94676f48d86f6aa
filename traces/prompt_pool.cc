#include "traces/prompt_pool.h"

#include <fmt/format.h>

namespace kvsim::traces {

namespace {
// SplitMix64's finaliser (Steele, Lea and Flood, OOPSLA 2014): distinct (kind, id, block) triples give distinct
// hashes in practice.
uint64_t mix(uint64_t a, uint64_t b) {
  uint64_t z = a * 0x9E3779B97F4A7C15ull + b + 0x632BE59BD9B4E019ull;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}
constexpr uint64_t kPrefixTag = 0x7072656669780000ull;  // "prefix": the shared-prefix blocks' id space
constexpr uint64_t kPromptTag = 0x70726f6d70740000ull;  // "prompt": the pool slots' id space
}  // namespace

PromptPoolSource::PromptPoolSource(std::unique_ptr<RequestSource> inner, int64_t distinct_prompts)
    : inner_(std::move(inner)), distinct_(distinct_prompts) {
  pool_.reserve(static_cast<size_t>(distinct_prompts));
}

std::optional<Request> PromptPoolSource::next() {
  std::optional<Request> r = inner_->next();
  if (!r) return r;
  const auto slot = static_cast<size_t>(served_++ % distinct_);
  if (pool_.size() <= slot) pool_.push_back({r->prompt_tokens, r->prefix_id, r->shared_prefix_tokens});
  const Prompt& p = pool_[slot];
  r->prompt_tokens = p.tokens;
  const int64_t blocks = (p.tokens + kHashBlockTokens - 1) / kHashBlockTokens;
  r->block_hashes.resize(static_cast<size_t>(blocks));
  for (int64_t j = 0; j < blocks; ++j) {
    const bool in_prefix = p.prefix_id != 0 && (j + 1) * kHashBlockTokens <= p.prefix_tokens;
    r->block_hashes[static_cast<size_t>(j)] =
        in_prefix ? mix(kPrefixTag ^ p.prefix_id, static_cast<uint64_t>(j))
                  : mix(kPromptTag ^ static_cast<uint64_t>(slot + 1), static_cast<uint64_t>(j));
  }
  r->hash_block_tokens = kHashBlockTokens;
  r->prefix_id = 0;  // the hashes carry the identity now
  r->shared_prefix_tokens = 0;
  return r;
}

std::string PromptPoolSource::describe() const {
  return fmt::format("{}, {} distinct prompts taken in turn", inner_->describe(), distinct_);
}

}  // namespace kvsim::traces
