// GPU memory besides the KV cache, as vLLM V1's start-up profiling sees it (vllm/v1/worker/gpu_worker.py,
// Worker.determine_available_memory with vllm/utils/mem_utils.py memory_profiling): weights, the torch peak of
// GPUModelRunner.profile_run (a forward pass at max_num_batched_tokens, then _dummy_sampler_run over max_num_seqs
// dummy requests), and the non-torch memory that appeared since the worker's first snapshot.
#pragma once

#include <cstdint>

#include "models/model_spec.h"
#include "sim/core/dtype.h"

namespace kvsim::models {

// Non-torch memory on one GPU (CUDA context growth, cuBLAS workspaces, kernel images), MemoryProfilingResult
// .non_torch_increase: 0.13 GiB for every single-GPU model of llm-d-benchmark's H100 logs
// (config_explorer/empirical-vllm-memory-results.md: gpt-oss-20b, Llama-3.1-8B, Qwen3-0.6B; REFERENCES.md).
inline constexpr uint64_t kNonTorchBytes = 140'000'000;  // 0.13 GiB
// Extra non-torch memory under tensor parallelism (NCCL channel and NVLS buffers allocated at the first all-reduce of
// the profiling run): llm-d's Llama-3.3-70B-FP8 at tp=2 reports 0.55 GiB against 0.13 GiB at tp=1, so 0.42 GiB
// (same source). Only tp=2 is measured; larger groups are assumed to need the same.
inline constexpr uint64_t kTensorParallelNonTorchBytes = 450'971'566;  // 0.42 GiB

// Peak bytes the sampler holds per logit in _dummy_sampler_run (vllm/v1/worker/gpu_model_runner.py): the logits
// (model dtype, then fp32) of max_num_seqs rows, sorted values and int64 indices for top-k/top-p
// (vllm/v1/sample/ops/topk_topp_sampler.py apply_top_k_top_p), softmax, scatter and the exponential draw of
// random_sample: about 8 fp32 copies. Fitted to the vLLM 0.19 log of Llama-3.1-8B on an RTX 4090 (2,588 blocks at
// max_num_seqs 256, vocabulary 128,256: 1.12 GiB of activations and non-torch memory). llm-d's H100 logs of an
// earlier V1 imply 38 B (gpt-oss-20b 7.38 GiB, Llama-3.1-8B 4.76 GiB at 1,024 rows).
inline constexpr double kSamplerBytesPerLogit = 32.0;

// Non-torch bytes on one GPU of a tensor-parallel group of `tp` GPUs.
uint64_t non_torch_bytes(int tp);

// Torch peak of vLLM's profiling run on one GPU, over `tokens` tokens in `num_seqs` sequences: the larger of the
// forward pass's live set (one layer's largest: MLP input, gate/up output and activation output, or attention's
// q, k, v and output; plus the residual stream and its normed copy) and the sampler's (the forward's kept hidden
// states plus kSamplerBytesPerLogit per logit of min(num_seqs, tokens) rows over the whole vocabulary: vLLM gathers
// the full logits on every rank).
uint64_t activation_peak_bytes(const ModelSpec& m, int64_t tokens, int64_t num_seqs, DType dtype, int tp);

// Transient memory of eager (unfused) attention over a whole `tokens`-token prompt in one layer, on one GPU: the fp32
// score matrix of every query head (heads x tokens^2 x 4 B: Hugging Face eager attention upcasts the softmax to
// fp32, which H2O's implementation uses to accumulate its scores) plus the layer's full KV, held before eviction.
uint64_t eager_attention_bytes(const ModelSpec& m, int64_t tokens, DType kv_dtype, int tp);

// The FlexGen family's prefill transient in one layer, on one GPU (eager PyTorch, freed after the layer): one GPU
// batch of `rows` sequences padded to `prompt_tokens` tokens runs the layer at once. FlexGen's cost model
// (FlexLLMGen experimental/cost_model.py, lines 285-290: prefill working memory gbs x (18 s h1 + 2 s h2 + 2 nh s^2)
// bytes in fp16) counts nine hidden-sized tensors and one intermediate-sized tensor per token and one fp16 score
// tensor; the released code's peak holds two score copies (torch.bmm's output and the softmax's), so the score term is
// rows x heads x prompt^2 x `score_bytes` here.
uint64_t prefill_transient_bytes(const ModelSpec& m, int64_t rows, int64_t prompt_tokens, double score_bytes,
                                 DType dtype, int tp);

}  // namespace kvsim::models
