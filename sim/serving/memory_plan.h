// How one GPU's memory divides between weights, activations, fixed reserves and the paged KV pool, as vLLM
// computes it at start-up (vllm/v1/worker/gpu_worker.py, Worker.determine_available_memory): KV =
// gpu_memory_utilization x reported HBM - weights - activation peak - non-torch; or set directly by kv_cache_bytes /
// num_gpu_blocks. The CUDA-graph pool is not subtracted: up to v0.20 vLLM captures its graphs after sizing the KV
// cache (Worker.compile_or_warm_up_model), inside the memory gpu_memory_utilization leaves free; profiling the
// graphs first is the default only since v0.21 (VLLM_MEMORY_PROFILER_ESTIMATE_CUDAGRAPHS). Also the block geometry:
// with sliding-window layers the pool is shared by layer groups (vLLM V1 hybrid allocator) and a sliding group holds at
// most window / block_size + 1 blocks of a sequence; a hybrid state-space model's state layers hold a fixed number of
// blocks per running sequence (their conv and SSM state), whatever its length.
#pragma once

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>

#include "sim/scenario.h"

namespace kvsim::sim {

// The block size of a hybrid state-space model's pool, as vLLM sets it (Platform._align_hybrid_block_size,
// vllm/platforms/interface.py; HybridAttentionMambaModelConfig before it): the smallest multiple of the kernel's block
// alignment whose attention page (tokens x one layer's K and V per token) holds one layer's whole state, and never
// less than the scenario's `block_size`. (Without prefix caching for state; "all"-mode prefix caching aligns to the
// Mamba chunk size instead, which kvsim does not model.)
int64_t hybrid_block_size(int64_t block_size, double attention_token_layer_bytes, double state_layer_bytes);

struct MemoryPlan {
  uint64_t hbm_bytes = 0;     // as the driver reports
  uint64_t usable_bytes = 0;  // gpu_memory_utilization x hbm_bytes
  uint64_t weights_bytes = 0;
  uint64_t activation_bytes = 0;
  uint64_t non_torch_bytes = 0;
  uint64_t kv_cache_bytes = 0;  // num_gpu_blocks x block_bytes
  uint64_t block_bytes = 0;     // one block of one layer group
  int64_t block_size = 0;       // tokens per block
  int64_t num_gpu_blocks = 0;
  int64_t layers_per_group = 0;
  int64_t full_groups = 0;
  int64_t sliding_groups = 0;
  int64_t window_blocks = 0;  // most blocks a sliding group holds per sequence
  // State layers (Mamba / Gated DeltaNet) grouped like the others; vLLM's MambaManager gives each running request one
  // page per state group, a page being sized to hold the group's state (see plan_memory).
  int64_t state_groups = 0;
  int64_t state_blocks = 0;  // blocks every sequence holding any token holds for its state, all state groups
  // Offloaded KV (InfiniGen): the GPU blocks hold only partial keys; the full KV lives in a host pool.
  bool offload = false;
  uint64_t token_layer_bytes = 0;    // full K and V of one token in one layer (per GPU)
  int64_t host_capacity_tokens = 0;  // tokens the host pool holds (0 = no host pool)
  // FlexGen (attention on the CPU): the KV is split by layer between the GPU, host memory and disk (kv_share); a
  // block holds a block's tokens in every layer, its bytes divided among the tiers by those shares.
  bool kv_on_host = false;
  sim::TierShares kv_share;
  // Integer KV with a full-precision residual window (KIVI): blocks each sequence holds beside its tokens' for the
  // window's extra bytes.
  int64_t residual_extra_blocks = 0;
  uint64_t streamed_weights_bytes = 0;  // weights kept off the GPU and streamed per layer (FlexGen): host + disk
  uint64_t disk_weights_bytes = 0;      // of those, the ones read from disk
  // Usable GPU memory left beside the static bytes and the pool's GPU share (less than a block when the pool is on
  // the GPU; the pytorch static engine's prefill transient may use it and the pool's free blocks).
  uint64_t spare_gpu_bytes = 0;
  // Bytes of `blocks` KV blocks held in one tier.
  uint64_t tier_kv_bytes(int64_t blocks, double share) const {
    return static_cast<uint64_t>(std::llround(static_cast<double>(blocks) * static_cast<double>(block_bytes) * share));
  }

  uint64_t static_bytes() const { return weights_bytes + activation_bytes + non_torch_bytes; }
  // Blocks a sequence of `tokens` KV entries holds (monotone in tokens). Inline: called per sequence per iteration.
  int64_t blocks_for_tokens(int64_t tokens) const {
    // A power-of-two block size (vLLM's usual ones) divides by a shift: this runs per sequence per iteration.
    const auto size = static_cast<uint64_t>(block_size);
    const int64_t blocks =
        tokens >= 0 && size > 0 && (size & (size - 1)) == 0
            ? static_cast<int64_t>((static_cast<uint64_t>(tokens) + size - 1) >> std::countr_zero(size))
            : (tokens + block_size - 1) / block_size;
    return full_groups * blocks + sliding_groups * std::min(blocks, window_blocks) + (tokens > 0 ? state_blocks : 0);
  }
  // KV bytes of `blocks` held on the GPU (0 when the pool lives in host memory).
  uint64_t gpu_kv_bytes(int64_t blocks) const {
    return kv_on_host ? tier_kv_bytes(blocks, kv_share.gpu) : static_cast<uint64_t>(blocks) * block_bytes;
  }
  uint64_t host_kv_bytes(int64_t blocks) const { return kv_on_host ? tier_kv_bytes(blocks, kv_share.cpu) : 0; }
  uint64_t disk_kv_bytes(int64_t blocks) const { return kv_on_host ? tier_kv_bytes(blocks, kv_share.disk) : 0; }
  // Tokens of one long sequence the pool can hold (vLLM's "GPU KV cache size: N tokens").
  int64_t kv_capacity_tokens() const;
};

// Throws kvsim::Error when the weights do not fit (with both numbers and the tensor-parallel size that would fit)
// or when the pool cannot hold one max_model_len sequence.
MemoryPlan plan_memory(const Scenario& s);

}  // namespace kvsim::sim
