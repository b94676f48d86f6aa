// Correctness checks of the project's own GPU kernels, callable from plain C++ tests (no CUDA headers here). Defined
// in kernels/cuda/decode_attention.cu in CUDA builds and by kernels/gpu_stub.cc (throwing) otherwise.
#pragma once

#include <cstdint>

namespace kvsim::kernels {

struct DecodeCheck {
  double max_abs_error = 0;      // max |GPU output - CPU fp32 reference| over every output element
  double max_abs_reference = 0;  // max |reference|, so a test can tell the comparison is not vacuous
  int64_t elements = 0;
  int splits = 0;  // split-K factor the kernel ran with
};

// Runs the paged decode-attention kernel (32 query heads, 8 KV heads, head_dim 128, bf16 Q/K/V, a shuffled block
// table, sequence s with context - 37 s tokens) and compares it with a naive fp32 attention on the same bf16 inputs.
// splits = 0 lets the kernel choose its split-K factor. Throws kvsim::Error without a GPU.
DecodeCheck check_decode_attention(int device, int64_t batch, int64_t context, int64_t block_size, int splits);

// Runs the simple causal prefill kernel on one sequence (`heads` heads, head_dim 128, bf16 inputs in [-2, 2)) and
// compares it with a naive fp32 causal attention; `splits` in the result is 0.
DecodeCheck check_prefill_attention(int device, int64_t tokens, int64_t heads);

}  // namespace kvsim::kernels
