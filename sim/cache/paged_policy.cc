#include <fmt/format.h>

#include "sim/cache/cache_policy.h"

namespace kvsim::cache {

namespace {

// vLLM's block manager: blocks of block_size tokens taken from a free pool as a sequence grows and returned when it
// finishes or is preempted; with sliding-window layer groups a sequence holds at most window/block_size + 1 blocks
// per sliding group.
class PagedPolicy final : public CachePolicy {
 public:
  explicit PagedPolicy(const sim::MemoryPlan& plan) : plan_(plan) {}

  int64_t blocks_for_tokens(int64_t tokens) const override { return plan_.blocks_for_tokens(tokens); }

  bool grow(SeqKv& seq, int64_t tokens) override {
    const int64_t need = blocks_for_tokens(tokens) - seq.blocks;
    if (need > free_blocks()) return false;
    if (need > 0) {
      used_ += need;
      allocated_ += need;
      seq.blocks += need;
    }
    seq.tokens = tokens;
    return true;
  }

  void release(SeqKv& seq) override {
    used_ -= seq.blocks;
    freed_ += seq.blocks;
    seq = SeqKv{};
  }

  int64_t total_blocks() const override { return plan_.num_gpu_blocks; }
  int64_t used_blocks() const override { return used_; }
  int64_t blocks_allocated() const override { return allocated_; }
  int64_t blocks_freed() const override { return freed_; }

 private:
  sim::MemoryPlan plan_;
  int64_t used_ = 0, allocated_ = 0, freed_ = 0;
};

}  // namespace

void register_builtin_policies(CachePolicyRegistry& registry) {
  registry.add("vllm", "vLLM PagedAttention: paged KV blocks on the GPU, full retention (Kwon et al., SOSP 2023)",
               [](const sim::MemoryPlan& plan) { return std::make_unique<PagedPolicy>(plan); });
}

const CachePolicyRegistry& builtin_policies() {
  static const CachePolicyRegistry registry = [] {
    CachePolicyRegistry r("cache policy");
    register_builtin_policies(r);
    return r;
  }();
  return registry;
}

}  // namespace kvsim::cache
