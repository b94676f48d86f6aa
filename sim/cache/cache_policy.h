// The KV-cache policy of one replica: how many blocks a sequence needs and who holds them. Policies are named
// implementations in a registry (presets such as `vllm`); the scheduler asks them for room and never touches
// blocks itself.
// Contract: a policy never allocates past its capacity (grow() either succeeds whole or changes nothing), never
// schedules events and never looks at scheduler queues. Units: blocks of MemoryPlan::block_size tokens.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "sim/core/registry.h"
#include "sim/serving/memory_plan.h"

namespace kvsim::cache {

// What a sequence holds in the pool.
struct SeqKv {
  int64_t blocks = 0;  // blocks held on the GPU
  int64_t tokens = 0;  // KV entries stored in them
};

class CachePolicy {
 public:
  virtual ~CachePolicy() = default;

  // Blocks a sequence of `tokens` KV entries occupies.
  virtual int64_t blocks_for_tokens(int64_t tokens) const = 0;
  // Make `seq` hold `tokens` entries; false (and no change) when the pool lacks the blocks.
  virtual bool grow(SeqKv& seq, int64_t tokens) = 0;
  // Give back every block of `seq`.
  virtual void release(SeqKv& seq) = 0;

  virtual int64_t total_blocks() const = 0;
  virtual int64_t used_blocks() const = 0;
  int64_t free_blocks() const { return total_blocks() - used_blocks(); }
  // Lifetime counters for conservation checks.
  virtual int64_t blocks_allocated() const = 0;
  virtual int64_t blocks_freed() const = 0;
};

using CachePolicyRegistry = Registry<CachePolicy, const sim::MemoryPlan&>;

// Adds the built-in policies: `vllm` (PagedAttention, Kwon et al., SOSP 2023, sec. 4.2-4.3: fixed-size blocks
// allocated on demand, at most one partially filled block per sequence).
void register_builtin_policies(CachePolicyRegistry& registry);
const CachePolicyRegistry& builtin_policies();

}  // namespace kvsim::cache
