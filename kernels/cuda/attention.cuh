// Launchers of the project's own attention kernels, shared by the attention suite and the correctness check:
// a paged decode attention (flash-decoding style split-K over the KV blocks) and a simple tiled causal prefill.
#pragma once

#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <cstdint>

namespace kvsim::kernels::cuda {

inline constexpr int kHeadDim = 128;  // Llama-3.x, Qwen2.5, Mistral: head_dim 128 (their config.json)

// KV pool layout: [num_blocks][2 (K, V)][kv_heads][block_size][head_dim] bf16, so one (block, K|V, head) is a
// contiguous block_size x head_dim x 2-byte run, the unit vLLM's paged layout also keeps contiguous per head.
struct DecodeShape {
  int batch = 0, q_heads = 0, kv_heads = 0, block_size = 0, max_blocks = 0;  // max_blocks: block-table row length
  int max_context = 0;
  int head_dim = kHeadDim;  // 64 (gpt-oss) or 128
};

// Refuses (kvsim::Error naming the value) a shape launch_paged_decode cannot run: q_heads / kv_heads not an integer
// in 1..8, head_dim not 64 or 128, block_size not a power of two, batch outside 1..65535, a block table too short.
void check_decode_shape(const DecodeShape& shape);

// Split-K factor: the (sequence, kv_head, split) CTAs fill the GPU in whole waves, each split >= 256 tokens, <= 64.
// Throws kvsim::Error for a group size or head_dim the kernel does not support (see launch_paged_decode).
int decode_splits(const DecodeShape& shape, int sm_count);

// Scratch for split-K partial results: batch x q_heads x splits x (head_dim + 1) floats (the partial outputs, then
// one log-sum-exp per row).
size_t decode_workspace_bytes(const DecodeShape& shape, int splits);

// out[b][h][:] = softmax(q[b][h] . K[b][h/G]^T / sqrt(head_dim)) V[b][h/G] over context_lens[b] <= max_context
// tokens, G = q_heads / kv_heads; q is [batch][q_heads][head_dim] bf16, out [batch][q_heads][head_dim] fp32.
// `workspace` holds decode_workspace_bytes(shape, splits) bytes (unused when splits == 1). Supported: G an integer in
// 1..8, head_dim 64 or 128, block_size a power of two, max_blocks x block_size >= max_context; anything else throws
// kvsim::Error before any CUDA call.
void launch_paged_decode(const DecodeShape& shape, int splits, const __nv_bfloat16* q, const __nv_bfloat16* kv_pool,
                         const int32_t* block_table, const int32_t* context_lens, float* out, void* workspace,
                         cudaStream_t stream);

// Causal self-attention of one sequence: q, k, v, out are [tokens][heads][128]; fp32 accumulation and softmax.
void launch_prefill_simple(int tokens, int heads, const __nv_bfloat16* q, const __nv_bfloat16* k,
                           const __nv_bfloat16* v, float* out, cudaStream_t stream);

}  // namespace kvsim::kernels::cuda
