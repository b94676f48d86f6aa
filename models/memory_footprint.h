// GPU memory besides the KV cache, as vLLM's start-up profiling sees it: weights, the activation peak of a
// forward pass at max_num_batched_tokens (plus the sampler's logits), and fixed non-torch and CUDA-graph reserves.
#pragma once

#include <cstdint>

#include "models/model_spec.h"
#include "sim/core/dtype.h"

namespace kvsim::models {

// Non-torch memory that vLLM subtracts (NCCL/cuBLAS workspaces allocated after its baseline): the measured H100
// split for gpt-oss-20b (79.18 GiB x 0.9 - 13.47 weights - 7.38 activations - 50.28 KV) leaves 0.13 GiB
// (llm-d-benchmark, empirical-vllm-memory-results.md; REFERENCES.md).
inline constexpr uint64_t kNonTorchBytes = 140'000'000;  // ~0.13 GiB
// CUDA-graph pool for the captured decode sizes; vLLM logs report a few hundred MiB for 7-8B models. Assumption:
// 0.25 GiB; zero under enforce_eager.
inline constexpr uint64_t kCudaGraphPoolBytes = 268'435'456;

// Peak activation bytes of a profiling forward pass over `tokens` tokens in `num_seqs` sequences on one GPU:
// the largest live set of one layer (MLP: input, gate/up output, activation output; attention: q, k, v, output)
// plus the residual stream, plus fp32 logits and one fp32 copy in the sampler for min(num_seqs, tokens) rows.
uint64_t activation_peak_bytes(const ModelSpec& m, int64_t tokens, int64_t num_seqs, DType dtype, int tp);

// Transient memory of eager (unfused) attention over a whole `tokens`-token prompt in one layer, on one GPU: the fp32
// score matrix of every query head (heads x tokens^2 x 4 B: Hugging Face eager attention upcasts the softmax to
// fp32, which H2O's implementation uses to accumulate its scores) plus the layer's full KV, held before eviction.
uint64_t eager_attention_bytes(const ModelSpec& m, int64_t tokens, DType kv_dtype, int tp);

}  // namespace kvsim::models
