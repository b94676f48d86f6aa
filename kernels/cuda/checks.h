// Correctness checks of the project's own GPU kernels, callable from plain C++ tests (no CUDA headers here). Defined
// in kernels/cuda/decode_attention.cu in CUDA builds and by kernels/gpu_stub.cc (throwing) otherwise.
#pragma once

#include <cstddef>
#include <cstdint>

namespace kvsim::kernels {

struct DecodeCheck {
  double max_abs_error = 0;      // max |GPU output - CPU fp32 reference| over every output element
  double max_abs_reference = 0;  // max |reference|, so a test can tell the comparison is not vacuous
  int64_t elements = 0;
  int splits = 0;  // split-K factor the kernel ran with
};

// The shape of one decode check. The defaults are Llama-3.1-8B's attention (32 query heads, 8 KV heads, head_dim 128;
// its config.json); Qwen2.5-7B is 28 / 4 (G = 7), gpt-oss-20b 64 / 8 with head_dim 64.
struct DecodeCheckShape {
  int64_t batch = 1;        // sequences; sequence s holds max(1, context - 37 s) tokens
  int64_t context = 1;      // tokens of sequence 0
  int64_t block_size = 16;  // tokens per KV block, a power of two
  int splits = 0;           // split-K factor; 0 lets the kernel choose (decode_splits)
  int q_heads = 32, kv_heads = 8;
  int head_dim = 128;  // 64 or 128
};

// Runs the paged decode-attention kernel on `shape` (bf16 Q/K/V, a shuffled block table) and compares it with a naive
// fp32 attention on the same bf16 inputs, scores scaled by 1/sqrt(head_dim). A shape the kernel does not support
// (q_heads / kv_heads not an integer in 1..8, head_dim not 64 or 128, block_size not a power of two) throws
// kvsim::Error naming the value before any CUDA call; so does a build without CUDA, and a missing GPU after it.
DecodeCheck check_decode_attention(int device, const DecodeCheckShape& shape);

// The split-K scratch bytes the decode kernel needs for `shape` (its batch, context, heads, head_dim; splits as the
// kernel would choose them on this GPU, from its SM count and occupancy). Throws kvsim::Error without a GPU.
size_t decode_scratch_bytes(int device, const DecodeCheckShape& shape);

// Runs the simple causal prefill kernel on one sequence (`heads` heads, head_dim 128, bf16 inputs in [-2, 2)) and
// compares it with a naive fp32 causal attention; `splits` in the result is 0.
DecodeCheck check_prefill_attention(int device, int64_t tokens, int64_t heads);

}  // namespace kvsim::kernels
