// Cost model v0: the time of one forward pass of a batch on one GPU of a tensor-parallel group, as a roofline per
// operator (time = max(FLOPs / (peak x efficiency), bytes / (bandwidth x efficiency))) with documented default
// efficiencies, plus a per-iteration CPU overhead with and without CUDA graphs. Where the hardware profile carries
// curves measured by `kvsim calibrate`, an operator uses them instead and says so (`source`, `explain`). A pure
// function of
// (ModelSpec, HardwareProfile, ExecConfig, BatchShape): easy to test, easy to cache.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "hw/hardware_profile.h"
#include "models/model_spec.h"
#include "sim/core/dtype.h"
#include "sim/core/time.h"

namespace kvsim::models {

// Default efficiencies: the share of a datasheet peak that the roofline assumes an operator reaches. Each is an
// assumption with a source, to be replaced by measured curves from `kvsim calibrate` (hardware profile `measured`).
struct Efficiency {
  // cuBLAS GEMMs at LLM shapes reach 60-80 % of dense tensor peak on A100/H100 (Vidur, MLSys 2024, operator
  // profiles; NVIDIA Hopper tuning guide); 0.7 is the middle of that band.
  double gemm = 0.70;
  // Streaming kernels (weights, activations): a device-local copy on H100 reaches 2841-2901 GB/s of 3.35 TB/s,
  // 85-87 % (p2pBandwidthLatencyTest log, REFERENCES.md).
  double memory = 0.85;
  // Decode attention over a paged KV cache: DESIGN.md targets >= 80 % of the copy bandwidth for the paged kernel;
  // 0.8 x 0.85 = 0.68 of peak.
  double attention_memory = 0.68;
  // Fused flash-attention prefill: FlashAttention-2 reaches 50-73 % of A100 peak in the forward pass
  // (Dao, 2023, fig. 4); 0.55 assumed.
  double attention_compute = 0.55;
};

// Per-iteration host cost: scheduling, input preparation, sampling, kernel launches. Assumptions until calibrated:
// launch latency 5 us per kernel in eager mode (CUDA driver launch cost is 2-10 us per kernel), a fixed 0.6 ms of
// scheduler + sampler work per iteration and 4 us per sequence (Vidur attributes its high-load error to this term).
struct CpuOverhead {
  double iteration_us = 600.0;
  double per_seq_us = 4.0;
  double launch_us = 5.0;
  int kernels_per_layer = 12;
  double graph_replay_us = 30.0;  // one cudaGraphLaunch per iteration (piecewise graphs: a few)
};

struct ExecConfig {
  DType dtype = DType::kBf16;         // activations and math
  DType weight_dtype = DType::kBf16;  // storage of weights
  DType kv_dtype = DType::kBf16;      // storage of KV entries
  int tp = 1;
  bool cuda_graphs = true;    // false = engine.enforce_eager
  int max_graph_batch = 512;  // vLLM captures decode graphs for batch sizes up to 512
  int64_t block_size = 16;    // KV block size (selects the measured decode-attention curve)
  // Eager (unfused) attention: the fp32 scores of every (head, query, key) pair are written to HBM and read back
  // by the softmax and by the value product (4 passes of 4 bytes: H2O's Hugging Face implementation).
  bool eager_attention = false;
  // H2O accumulates each kept token's attention score per head and picks the least-scored to evict every step:
  // an fp32 read and write of the accumulator plus a read for the min/top-k, per (head, kept token).
  bool score_accumulation = false;
  // Offloaded KV with speculative selection (InfiniGen, Lee et al., OSDI 2024, sec. 4): partial keys of this share
  // of the key columns are scored for every token; the selected rows are gathered by CPU threads into pinned memory
  // and copied while the previous layer computes, so a layer takes max(compute, fetch).
  bool offload = false;
  double partial_weight_ratio = 0.2;
  Efficiency efficiency;
  CpuOverhead cpu;
};

// What one iteration computes, summed over its sequences. A sequence with c cached tokens and n new tokens has
// n x c + n (n + 1) / 2 query-key pairs and reads c + n tokens of KV in each full-attention layer; in a
// sliding-window layer both are capped by the window.
struct BatchShape {
  int64_t num_seqs = 0;
  int64_t num_tokens = 0;    // new tokens computed this iteration
  int64_t num_sampled = 0;   // sequences that produce a token (lm_head rows)
  bool decode_only = false;  // every sequence computes exactly one token (CUDA-graph eligible)
  double attn_pairs = 0;
  double kv_read_tokens = 0;
  double attn_pairs_window = 0;
  double kv_read_tokens_window = 0;
  // Offloaded KV (InfiniGen): tokens whose partial keys a decode step scores, tokens it fetches from host memory,
  // and new tokens whose KV it sends there.
  double partial_key_tokens = 0;
  double fetch_tokens = 0;
  double offload_tokens = 0;

  // Add one sequence; `window` is the model's sliding window (0 = none).
  void add_sequence(int64_t cached_tokens, int64_t new_tokens, bool samples, int64_t window);
};

struct OpCost {
  std::string name;
  double flops = 0;
  double bytes = 0;
  SimTime time_ns = 0;
  std::string source = "roofline";  // "roofline" | "measured"
  std::string bound;                // "compute" | "memory" | "latency" | "measured"
  std::string explain;              // why this source: the curve used, or why none applied
  bool overlapped = false;          // runs beside the layer's compute (kv_fetch): a layer takes the longer of them
};

class CostModel {
 public:
  CostModel(ModelSpec model, hw::HardwareProfile hardware, ExecConfig config);

  // Per-layer operators for one layer (attention split between full and sliding layers is averaged over the
  // layers), followed by `embedding` and `lm_head`, each once.
  // `explain` fills OpCost::explain (string formatting: off in the simulation's hot path).
  std::vector<OpCost> ops(const BatchShape& batch, bool explain = false) const;

  // Whole forward pass: sum over layers of the per-layer ops, plus embedding and lm_head.
  SimTime forward_ns(const BatchShape& batch) const;
  SimTime cpu_overhead_ns(const BatchShape& batch) const;
  SimTime iteration_ns(const BatchShape& batch) const { return forward_ns(batch) + cpu_overhead_ns(batch); }

  // Tokens a decode-only batch of `num_seqs` is padded to under CUDA graphs (vLLM capture sizes 1, 2, 4, 8, 16,
  // 24, ... 512; larger batches run eagerly unpadded).
  int64_t padded_tokens(const BatchShape& batch) const;

  const ModelSpec& model() const { return model_; }
  const hw::HardwareProfile& hardware() const { return hardware_; }
  const ExecConfig& config() const { return config_; }

 private:
  OpCost gemm(const std::string& name, double tokens, double in_features, double out_features, bool explain) const;
  OpCost elementwise(const std::string& name, double bytes, bool explain) const;
  OpCost attention(const BatchShape& batch, bool explain) const;
  OpCost allreduce(double tokens, bool explain) const;
  OpCost experts(double tokens, bool explain) const;
  OpCost kv_fetch(const BatchShape& batch, bool explain) const;

  ModelSpec model_;
  hw::HardwareProfile hardware_;
  ExecConfig config_;
  double act_bytes_;
  double weight_bytes_;
  DType gemm_dtype_;      // the math dtype of GEMMs (fp8 when the weights are fp8)
  double compute_flops_;  // dense peak for the math dtype
};

}  // namespace kvsim::models
