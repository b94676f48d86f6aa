// The cost model: the time of one forward pass of a batch on one GPU of a tensor-parallel group, per operator, from
// the analytical operator model (models/operator_model.h: fitted on measured kernels, carried to any GPU by its
// datasheet) or, where the hardware profile carries curves measured by `kvsim calibrate`, from those (`source`,
// `explain` say which); plus the engine's terms: its serial CPU work per iteration and the launch of its kernels
// (CUDA graphs, piecewise, eager), which overlaps the GPU's work. A pure function of
// (ModelSpec, HardwareProfile, ExecConfig, BatchShape): easy to test, easy to cache.
// KV-cache policies change it through ExecConfig switches, all off by default: KIVI's quantised KV with a residual
// window, Quest's page selection (op page_select), FlexGen's CPU attention (op cpu_attention) and weight streaming
// (op weight_fetch), InfiniGen's speculative fetch (ops partial_qk, kv_fetch). Files: cost_model.cc (set-up, batch
// shapes, launch modes), cost_forward.cc (the per-layer op list), cost_step_times.cc (layer, forward and iteration
// times, CPU and launch overheads), cost_layer_ops.cc (GEMMs, element-wise, attention, all-reduce, experts),
// cost_state_ops.cc (hybrid models' state-space mixers), cost_offload_ops.cc; its configuration, exec_config.h.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "hw/hardware_profile.h"
#include "models/exec_config.h"
#include "models/model_spec.h"
#include "models/operator_model.h"
#include "sim/core/dtype.h"
#include "sim/core/time.h"

namespace kvsim::models {

// What one iteration computes, summed over its sequences. A sequence with c cached tokens and n new tokens has
// n x c + n (n + 1) / 2 query-key pairs and reads c + n tokens of KV in each full-attention layer; in a
// sliding-window layer both are capped by the window.
struct BatchShape {
  int64_t num_seqs = 0;
  int64_t num_tokens = 0;      // new tokens computed this iteration
  int64_t num_sampled = 0;     // sequences that produce a token (lm_head rows)
  int64_t prefill_seqs = 0;    // sequences computing more than one new token (prefill chunks)
  int64_t prefill_tokens = 0;  // ... and their new tokens
  bool decode_only = false;    // every sequence computes exactly one token (CUDA-graph eligible)
  double attn_pairs = 0;
  double kv_read_tokens = 0;
  double attn_pairs_window = 0;
  double kv_read_tokens_window = 0;
  // Offloaded KV (InfiniGen): tokens whose partial keys a decode step scores, tokens it fetches from host memory,
  // and new tokens whose KV it sends there.
  // Sequences whose KV lives on the host and whose attention runs on the GPU send their new tokens' KV there
  // (offload_tokens); CPU-attended sequences (add_cpu_sequence) must not be counted here: their k and v already
  // reach the host in cpu_attention's copy.
  double partial_key_tokens = 0;
  double fetch_tokens = 0;
  double offload_tokens = 0;
  // KIVI: over the GPU-attended sequences, the KV tokens read that sit in the full-precision residual window,
  // min(c + n, ExecConfig::kv_residual_tokens) per sequence. Charged in every layer (in a sliding layer capped by that
  // layer's tokens read, exact while the residual is no longer than the window); ignored when kv_dtype == dtype.
  double residual_tokens = 0;
  // Quest: tokens whose page bounds the decode steps scan (each decode sequence's full cached context), and the
  // tokens beyond the budget that the dense layers read in addition (a decode sequence with c cached tokens is added
  // with cached = min(c, budget) and contributes c - min(c, budget) here).
  double page_scan_tokens = 0;
  double dense_extra_tokens = 0;
  // CPU attention (FlexGen): the query-key pairs, KV tokens read and new tokens of the sequences whose attention
  // runs on the host, kept apart from the GPU sums above. cpu_num_seqs lets the GPU side count only its own.
  double cpu_attn_pairs = 0;
  double cpu_kv_read_tokens = 0;
  double cpu_attn_tokens = 0;
  int64_t cpu_num_seqs = 0;

  // The shape of one of `parts` equal GPU batches of this batch (FlexGen's block schedule): every sum divided.
  BatchShape split(int64_t parts) const;

  // `batch` sequences of `tokens_per_seq` new tokens each, after `context` cached ones in decode (none in prefill):
  // the batch `kvsim cost` and the validation cases price; decode_only when each decodes one token after a context.
  static BatchShape uniform(int64_t batch, int64_t tokens_per_seq, int64_t context, bool decode, int64_t window);

  // Add one sequence; `window` is the model's sliding window (0 = none).
  void add_sequence(int64_t cached_tokens, int64_t new_tokens, bool samples, int64_t window);
  // `seqs` decodes (one new token each, sampled, no window) holding `context` KV tokens together: the sums of as many
  // add_sequence calls (exact: integer-valued sums below 2^53).
  void add_decodes(int64_t seqs, int64_t context) {
    num_seqs += seqs;
    num_tokens += seqs;
    num_sampled += seqs;
    attn_pairs += static_cast<double>(context + seqs);
    kv_read_tokens += static_cast<double>(context + seqs);
  }
  // Add one sequence whose attention runs on the CPU: counts num_seqs, num_tokens and num_sampled as add_sequence
  // does, its pairs and KV read into the cpu_ fields. No sliding-window capping: FlexGen's models (OPT) have none,
  // so a sliding-window model's CPU attention is charged as if every layer were full.
  void add_cpu_sequence(int64_t cached_tokens, int64_t new_tokens, bool samples);
};

// Inline: called per sequence per iteration.
inline void BatchShape::add_sequence(int64_t cached_tokens, int64_t new_tokens, bool samples, int64_t window) {
  const double c = static_cast<double>(cached_tokens), n = static_cast<double>(new_tokens);
  ++num_seqs;
  num_tokens += new_tokens;
  if (samples) ++num_sampled;
  if (new_tokens > 1) {
    ++prefill_seqs;
    prefill_tokens += new_tokens;
  }
  attn_pairs += n * c + n * (n + 1) / 2;
  kv_read_tokens += c + n;
  if (window > 0) {
    const double w = static_cast<double>(window);
    // Query i (1-based) sees min(c + i, w) keys.
    double pairs = 0;
    const double full_until = std::clamp(w - c, 0.0, n);  // queries with c + i <= w
    pairs += full_until * c + full_until * (full_until + 1) / 2;
    pairs += (n - full_until) * w;
    attn_pairs_window += pairs;
    kv_read_tokens_window += std::min(c + n, w);
  }
}

struct OpCost {
  std::string name;
  double flops = 0;
  double bytes = 0;
  SimTime time_ns = 0;
  std::string source = "roofline";  // "roofline" | "measured"
  std::string bound;                // "compute" | "memory" | "latency" | "measured"
  std::string explain;              // why this source: the curve used, or why none applied
  bool overlapped = false;          // runs beside the layer's compute (kv_fetch): a layer takes the longer of them
  // The transfer channel of an overlapped op: ops on one channel queue, channels run side by side (FlexGen's cost
  // model, sec. 4.3: a layer takes the longest of compute, CPU->GPU, GPU->CPU and disk I/O).
  enum class Channel : uint8_t { kH2d, kD2h, kDisk };
  Channel channel = Channel::kH2d;
  double pcie_bytes = 0;  // of `bytes`, those crossing PCIe (both directions): kv_fetch, weight_fetch, ...
};

class CostModel {
 public:
  CostModel(ModelSpec model, hw::HardwareProfile hardware, ExecConfig config);

  // Per-layer operators for one layer (attention split between full and sliding layers is averaged over the
  // layers), followed by `embedding` and `lm_head`, each once.
  // `explain` fills OpCost::explain (string formatting: off in the simulation's hot path).
  std::vector<OpCost> ops(const BatchShape& batch, bool explain = false) const;
  // The same into `out` (cleared first): the per-iteration path reuses one buffer, so no heap allocation.
  void ops_into(const BatchShape& batch, bool explain, std::vector<OpCost>& out) const;

  // Whole forward pass: sum over layers of the per-layer ops, plus embedding and lm_head.
  SimTime forward_ns(const BatchShape& batch) const;
  // One layer's GPU times: compute (per GPU batch, times the GPU batches), its copy channels, and the once-per-pass
  // ops (embedding, lm_head).
  struct LayerTimes {
    SimTime compute = 0, h2d = 0, d2h = 0, disk = 0, once = 0;
    SimTime weights = 0;  // of h2d, the weight copy (weight_fetch): once per block of GPU batches
    int64_t parts = 1;    // GPU batches (FlexGen's block schedule)
  };
  LayerTimes layer_times(const BatchShape& batch) const;
  // The engine's serial CPU work of one iteration (CpuOverhead): the GPU idles meanwhile.
  SimTime cpu_overhead_ns(const BatchShape& batch) const;
  // The CPU time to launch the forward pass's kernels: one graph replay, piecewise replays, or every kernel eagerly.
  SimTime launch_ns(const BatchShape& batch) const;
  enum class Launch : uint8_t { kFullGraph, kPiecewise, kEager };
  Launch launch_mode(const BatchShape& batch) const;
  // Launches run ahead of the GPU: an iteration takes the longer of launching and running its kernels.
  SimTime iteration_ns(const BatchShape& batch) const {
    if (config_.pytorch_host) return pytorch_iteration_ns(batch);
    return cpu_overhead_ns(batch) + std::max(forward_ns(batch), launch_ns(batch));
  }
  // The price of iterations that differ only in the context they read (a decode stretch: the same sequences, one new
  // token each, so the same tokens, rows, launches and CPU overhead): those parts are fixed, so a step costs one
  // attention op. ns(b) == iteration_ns(b) for every b of the first's tokens, sequences, sampled rows and kind
  // (tests/models/cost_memo_test.cc).
  class FixedBatch {
   public:
    SimTime ns(const BatchShape& batch) const;

   private:
    friend class CostModel;
    const CostModel* cost_ = nullptr;
    bool fixed_ = false;  // else ns() is iteration_ns()
    Launch mode_ = Launch::kEager;
    SimTime rest_ns_ = 0, once_ns_ = 0, cpu_ns_ = 0, launch_ns_ = 0;
  };
  FixedBatch fixed_batch(const BatchShape& first) const;
  // The FlexGen family's iteration (ExecConfig::pytorch_host): host and GPU per layer object as synchronised, plus
  // the step's serial host time.
  SimTime pytorch_iteration_ns(const BatchShape& batch) const;

  // Tokens a batch is padded to when it replays a captured graph: vLLM's capture sizes 1, 2, 4, multiples of 8 below
  // 256, multiples of 16 from 256 (up to max_graph_batch); batches that launch eagerly run unpadded.
  int64_t padded_tokens(const BatchShape& batch) const;

  // Bytes of hidden states one layer moves each way between the GPU and host memory under FlexGen's activation
  // placement (ExecConfig::act_offload_ratio): what the ops act_load and act_store charge.
  uint64_t act_offload_layer_bytes(const BatchShape& batch) const;

  const ModelSpec& model() const { return model_; }
  const hw::HardwareProfile& hardware() const { return hardware_; }
  const ExecConfig& config() const { return config_; }
  // The analytical operator model's parameters this cost model uses (the profile's fitted ones, else the defaults
  // fitted on Vidur's A100 profiles) and the GPU rates it reads.
  const OperatorParams& operator_params() const { return op_params_; }

 private:
  // ops_into's ops fall in two sets: those that depend on the batch only through its padded tokens (lm_head: its
  // sampled rows) and launch mode, which the memo keeps (kTokens: projections, MLP or experts, norms, all-reduce,
  // embedding, lm_head), and the context ops, listed by context_ops_into (attention, the policies' KV selection and
  // fetches, the weight, disk and activation copies) with a state mixer's ops.
  enum class OpSet : uint8_t { kAll, kTokens };
  void ops_into(const BatchShape& batch, bool explain, std::vector<OpCost>& out, OpSet set) const;
  // Attention's operator parameters: a captured graph's floors when the whole pass is one graph, else the eager ones
  // (between piecewise graphs attention launches eagerly).
  const OperatorParams& attention_params(Launch mode) const {
    return mode == Launch::kFullGraph ? graph_params_ : op_params_;
  }
  // `pa`: attention's operator parameters for the batch's launch mode (attention_params).
  void context_ops_into(const OperatorParams& pa, const BatchShape& batch, bool explain,
                        std::vector<OpCost>& out) const;
  // `p`: the operator model's parameters for this launch mode (graph_params_ inside a captured graph).
  OpCost gemm(const OperatorParams& p, const std::string& name, double tokens, double in_features, double out_features,
              bool explain) const;
  // `tokens`: the token count `bytes` derives from (the key of the time cache).
  OpCost elementwise(const OperatorParams& p, const std::string& name, double tokens, double bytes, bool explain,
                     int kernels = 1) const;
  // The operator model's time of a GEMM or element-wise op depends only on its name, the token count and the launch
  // mode's parameters: computed once per (op, tokens <= kCacheTokens, mode) and kept, since the smooth maxima cost
  // a few pow() calls each and every iteration asks for about ten of them. Lock-free (threads of a sweep share a
  // cost model): a cell is 0 until filled, and every thread fills it with the same value.
  static constexpr int64_t kCacheTokens = 16384;
  SimTime cached(const OperatorParams& p, const std::string& name, double tokens, SimTime (*compute)(const void*),
                 const void* arg) const;
  // Attention's numbers without its labels (the forward-pass memo prices one per iteration): attention() names them.
  struct AttentionTerms {
    double flops = 0, dequant_ops = 0, bytes = 0, kv_read_bytes = 0, residual = 0, dense_extra = 0;
    double chunk = 1, flop_rate = 0, read_rate = 0, mean_context = 0, floor_us = 0;
    int64_t gpu_seqs = 0;
    bool compute_measured = false, memory_measured = false;
    SimTime compute_ns = 0, memory_ns = 0, dequant_ns = 0, time_ns = 0;
  };
  AttentionTerms attention_terms(const OperatorParams& p, const BatchShape& batch) const;
  OpCost attention(const OperatorParams& p, const BatchShape& batch, bool explain) const;
  OpCost allreduce(const OperatorParams& p, double tokens, bool explain) const;
  OpCost experts(double tokens, bool explain) const;
  // A hybrid model's kState mixer (models/state_space.h), each op weighted by `share` (the share of kState layers):
  // its projections over `tokens` (padded) tokens, its causal convolution and its scan over the per-sequence state.
  void state_mixer_ops(const OperatorParams& p, const BatchShape& batch, double tokens, double share, bool explain,
                       std::vector<OpCost>& out) const;
  OpCost state_scan(const OperatorParams& p, const BatchShape& batch, bool explain) const;
  OpCost partial_qk(const BatchShape& batch, bool explain) const;
  OpCost kv_fetch(const BatchShape& batch, bool explain) const;
  OpCost page_select(const BatchShape& batch, bool explain) const;
  OpCost cpu_attention(const BatchShape& batch, bool explain) const;
  OpCost weight_fetch(bool explain) const;
  OpCost disk_io(const BatchShape& batch, bool explain) const;
  // Activations moved between the GPU and host memory for one layer (FlexGen's activation placement).
  OpCost act_transfer(const BatchShape& batch, bool load, bool explain) const;

  ModelSpec model_;
  hw::HardwareProfile hardware_;
  ExecConfig config_;
  double act_bytes_;
  double weight_bytes_;
  DType gemm_dtype_;             // the math dtype of GEMMs (fp8 when the weights are fp8)
  double compute_flops_;         // dense peak for the math dtype
  double kv_quant_token_bytes_;  // KV bytes of one token in one layer on one GPU, in kv_dtype
  double kv_full_token_bytes_;   // the same in dtype (KIVI's residual window)
  double layer_weight_bytes_;    // one decoder layer's weights on one GPU (weight_fetch)
  double host_flops_;            // host FP32 peak (cpu_attention); 0 unless cpu_attention
  OperatorParams op_params_;
  // The same with the per-kernel floors scaled by CpuOverhead::graph_floor_share: kernels replayed from a captured
  // graph run back to back, without the launch that an isolated profiler's floor includes.
  OperatorParams graph_params_;
  GpuRates rates_;
  std::shared_ptr<std::atomic<SimTime>[]> time_cache_;
  // The memo of the token ops (OpSet::kTokens; cost_step_times.cc), in every configuration without a state mixer:
  // their per-layer sum, embedding and lm_head, kept per (launch parameters, padded tokens or sampled rows), so a
  // layer's times cost its context ops alone. In a plain configuration (no op beside the compute, one GPU batch) the
  // only context op is attention: a forward pass is (memo + attention) x layers + embedding + lm_head. -1 until
  // filled; threads fill a cell with the same value.
  bool attention_context_ = false;  // attention is the only context op
  bool plain_ = false;              // ... and the sequences go through a layer in one GPU batch
  double attn_share_ = 1.0;         // attention layers / layers
  std::shared_ptr<std::atomic<SimTime>[]> forward_memo_;
  SimTime plain_forward_ns(const BatchShape& batch) const;
  // The memo's sums for `batch` (filled on first use): the per-layer token ops, and embedding + lm_head; false when
  // its tokens or rows are beyond the memo or there is no memo.
  bool memo_sums(const BatchShape& batch, Launch mode, SimTime& rest_ns, SimTime& once_ns) const;
  // One layer's attention as ops_into prices it, weighted by the attention layers' share.
  SimTime plain_attention_ns(Launch mode, const BatchShape& batch) const;
};

}  // namespace kvsim::models
