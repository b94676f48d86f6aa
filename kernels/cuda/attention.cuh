// Launchers of the project's own attention kernels, shared by the attention suite and the correctness check:
// a paged decode attention (flash-decoding style split-K over the KV blocks) and a simple tiled causal prefill.
#pragma once

#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <cstdint>

namespace kvsim::kernels::cuda {

inline constexpr int kHeadDim = 128;  // Llama-3.x, Qwen2.5, Mistral: head_dim 128 (their config.json)

// KV pool layout: [num_blocks][2 (K, V)][kv_heads][block_size][head_dim] bf16, so one (block, K|V, head) is a
// contiguous block_size x 256-byte run, the unit vLLM's paged layout also keeps contiguous per head.
struct DecodeShape {
  int batch = 0, q_heads = 0, kv_heads = 0, block_size = 0, max_blocks = 0;  // max_blocks: block-table row length
  int max_context = 0;
};

// Split-K factor: the (sequence, kv_head, split) CTAs fill the GPU in whole waves, each split >= 256 tokens, <= 64.
int decode_splits(const DecodeShape& shape, int sm_count);

// Scratch for split-K partial results: batch x q_heads x splits x (head_dim + 1) floats.
size_t decode_workspace_bytes(const DecodeShape& shape, int splits);

// block_size must be a power of two. out[b][h][:] = softmax(q[b][h] . K[b][h/G]^T / sqrt(128)) V[b][h/G] over
// context_lens[b] tokens. `workspace` holds decode_workspace_bytes(shape, splits) bytes (unused when splits == 1).
// q_heads / kv_heads must be 1, 2, 4 or 8.
void launch_paged_decode(const DecodeShape& shape, int splits, const __nv_bfloat16* q, const __nv_bfloat16* kv_pool,
                         const int32_t* block_table, const int32_t* context_lens, float* out, void* workspace,
                         cudaStream_t stream);

// Causal self-attention of one sequence: q, k, v, out are [tokens][heads][128]; fp32 accumulation and softmax.
void launch_prefill_simple(int tokens, int heads, const __nv_bfloat16* q, const __nv_bfloat16* k,
                           const __nv_bfloat16* v, float* out, cudaStream_t stream);

}  // namespace kvsim::kernels::cuda
