#include "models/cost_model.h"

#include "hw/transfer.h"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>

#include "models/cost_internal.h"
#include "models/model_shapes.h"
#include "sim/core/error.h"
#include "sim/core/units.h"

namespace kvsim::models {

using detail::kHostFlopsPerCore;
using detail::roofline_ns;

namespace {
constexpr int kCacheSlots = 11;
int cache_slot(const std::string& name) {
  // By first letter and length, without comparing strings: this runs for every op of every iteration.
  const size_t n = name.size();
  switch (name.empty() ? '\0' : name[0]) {
    case 'q':
      return n == 8 ? 0 : -1;  // qkv_proj
    case 'o':
      return n == 6 ? 1 : -1;  // o_proj
    case 'r':
      return n == 6 ? 2 : n == 4 ? 7 : -1;  // router, rope
    case 'g':
      return n == 12 ? 3 : -1;  // gate_up_proj
    case 'd':
      return n == 9 ? 4 : -1;  // down_proj
    case 'u':
      return n == 7 ? 5 : -1;  // up_proj
    case 'l':
      return n == 7 ? 6 : -1;  // lm_head
    case 'a':
      return n == 3 ? 8 : -1;  // act
    case 'n':
      return n == 4 ? 9 : -1;  // norm
    case 'e':
      return n == 9 ? 10 : -1;  // embedding
    default:
      return -1;
  }
}
}  // namespace

void BatchShape::add_cpu_sequence(int64_t cached_tokens, int64_t new_tokens, bool samples) {
  const double c = static_cast<double>(cached_tokens), n = static_cast<double>(new_tokens);
  ++num_seqs;
  ++cpu_num_seqs;
  num_tokens += new_tokens;
  if (samples) ++num_sampled;
  cpu_attn_pairs += n * c + n * (n + 1) / 2;
  cpu_kv_read_tokens += c + n;
  cpu_attn_tokens += n;
}

BatchShape BatchShape::split(int64_t parts) const {
  if (parts <= 1) return *this;
  const auto part = [parts](int64_t n) { return (n + parts - 1) / parts; };
  const double f = 1.0 / static_cast<double>(parts);
  BatchShape b = *this;
  b.num_seqs = part(num_seqs);
  b.num_tokens = part(num_tokens);
  b.num_sampled = part(num_sampled);
  b.cpu_num_seqs = part(cpu_num_seqs);
  for (double* v : {&b.attn_pairs, &b.kv_read_tokens, &b.attn_pairs_window, &b.kv_read_tokens_window,
                    &b.partial_key_tokens, &b.fetch_tokens, &b.offload_tokens, &b.residual_tokens, &b.page_scan_tokens,
                    &b.dense_extra_tokens, &b.cpu_attn_pairs, &b.cpu_kv_read_tokens, &b.cpu_attn_tokens}) {
    *v *= f;
  }
  return b;
}

BatchShape BatchShape::uniform(int64_t batch, int64_t tokens_per_seq, int64_t context, bool decode, int64_t window) {
  BatchShape shape;
  for (int64_t i = 0; i < batch; ++i) shape.add_sequence(decode ? context : 0, tokens_per_seq, true, window);
  shape.decode_only = decode && tokens_per_seq == 1 && context > 0;
  return shape;
}

CostModel::CostModel(ModelSpec model, hw::HardwareProfile hardware, ExecConfig config)
    : model_(std::move(model)), hardware_(std::move(hardware)), config_(config) {
  if (config_.tp < 1) throw Error(fmt::format("tensor_parallel must be >= 1, found {}", config_.tp));
  act_bytes_ = dtype_bytes(config_.dtype);
  weight_bytes_ = dtype_bytes(config_.weight_dtype);
  // fp8 weights run fp8 GEMMs where the GPU has fp8 units; narrower formats dequantise to the activation dtype.
  gemm_dtype_ = config_.weight_dtype == DType::kFp8 ? DType::kFp8 : config_.dtype;
  compute_flops_ = hardware_.peak_flops(gemm_dtype_);
  if (!(compute_flops_ > 0) || !(hardware_.gpu.hbm_bytes_per_s > 0)) {
    throw Error(
        fmt::format("hardware '{}' has no {} peak or memory bandwidth", hardware_.name, dtype_name(config_.dtype)));
  }
  for (const auto& [name, v] : {std::pair{"weight_gpu_ratio", config_.weight_gpu_ratio},
                                {"weight_disk_ratio", config_.weight_disk_ratio},
                                {"kv_gpu_ratio", config_.kv_gpu_ratio},
                                {"kv_disk_ratio", config_.kv_disk_ratio},
                                {"act_offload_ratio", config_.act_offload_ratio},
                                {"act_disk_ratio", config_.act_disk_ratio}}) {
    if (!(v >= 0.0 && v <= 1.0)) throw Error(fmt::format("{} must be in [0, 1], found {}", name, v));
  }
  if (config_.weight_gpu_ratio + config_.weight_disk_ratio > 1.0 + 1e-9 ||
      config_.kv_gpu_ratio + config_.kv_disk_ratio > 1.0 + 1e-9 || config_.act_disk_ratio > config_.act_offload_ratio) {
    throw Error("placement shares of weights, KV or activations add up to more than the whole");
  }
  if (config_.uses_disk() && !(config_.disk_bytes_per_s > 0)) {
    throw Error(fmt::format("a disk placement needs disk_bytes_per_s > 0, found {}", config_.disk_bytes_per_s));
  }
  if (config_.gpu_batch_size < 0)
    throw Error(fmt::format("gpu_batch_size must be >= 0, found {}", config_.gpu_batch_size));
  if (config_.page_selection && config_.page_size < 1) {
    throw Error(fmt::format("page_size must be >= 1, found {}", config_.page_size));
  }
  if (config_.kv_residual_tokens < 0 || config_.dense_layers < 0) {
    throw Error(fmt::format("kv_residual_tokens and dense_layers must be >= 0, found {} and {}",
                            config_.kv_residual_tokens, config_.dense_layers));
  }
  op_params_ = fitted_operator_params();
  if (hardware_.measured && !hardware_.measured->operator_model.empty()) {
    for (const auto& [family, values] : hardware_.measured->operator_model) {
      std::vector<double> v;
      for (const std::string& name : family_params(family)) {
        const auto it = values.find(name);
        if (it == values.end()) {
          throw Error(
              fmt::format("hardware '{}': measured.operator_model.{} has no '{}'", hardware_.name, family, name));
        }
        v.push_back(it->second);
      }
      op_params_.set(family, v);
    }
    op_params_.origin = "fitted: " + (hardware_.measured->origin.empty() ? hardware_.name : hardware_.measured->origin);
  }
  rates_ = gpu_rates(hardware_.gpu, compute_flops_);
  time_cache_.reset(new std::atomic<SimTime>[2 * kCacheSlots * (kCacheTokens + 1)]());
  graph_params_ = op_params_;
  for (double* floor : {&graph_params_.gemm_floor_us, &graph_params_.elem_floor_kclk, &graph_params_.decode_floor_us,
                        &graph_params_.prefill_floor_us}) {
    *floor *= config_.cpu.graph_floor_share;
  }
  kv_quant_token_bytes_ = kv_bytes_per_token_layer(model_, config_.kv_dtype, config_.tp);
  kv_full_token_bytes_ = kv_bytes_per_token_layer(model_, config_.dtype, config_.tp);
  layer_weight_bytes_ =
      layer_weight_bytes_per_gpu(model_, config_.weight_dtype, config_.tp) / static_cast<double>(model_.num_layers);
  host_flops_ = 0;
  if (config_.cpu_attention) {
    if (hardware_.host.cpu_cores <= 0 || !(hardware_.host.dram_bytes_per_s > 0)) {
      throw Error(fmt::format("hardware '{}' has no host cpu_cores or dram_bytes_per_s: CPU attention needs both",
                              hardware_.name));
    }
    host_flops_ = hardware_.host.attention_flops_per_s > 0
                      ? hardware_.host.attention_flops_per_s
                      : static_cast<double>(hardware_.host.cpu_cores) * kHostFlopsPerCore;
  }
}

SimTime CostModel::cached(const OperatorParams& p, const std::string& name, double tokens,
                          SimTime (*compute)(const void*), const void* arg) const {
  const int slot = cache_slot(name);
  if (slot < 0 || !(tokens >= 0) || tokens > static_cast<double>(kCacheTokens) || tokens != std::floor(tokens)) {
    return compute(arg);
  }
  const int mode = &p == &graph_params_ ? 1 : 0;
  std::atomic<SimTime>& cell =
      time_cache_[(static_cast<size_t>(mode) * kCacheSlots + static_cast<size_t>(slot)) * (kCacheTokens + 1) +
                  static_cast<size_t>(tokens)];
  SimTime v = cell.load(std::memory_order_relaxed);
  if (v == 0) {
    v = std::max<SimTime>(compute(arg), 1);
    cell.store(v, std::memory_order_relaxed);
  }
  return v;
}

CostModel::Launch CostModel::launch_mode(const BatchShape& batch) const {
  if (!config_.cuda_graphs || batch.num_tokens > config_.max_graph_batch) return Launch::kEager;
  if (batch.decode_only) return Launch::kFullGraph;
  return config_.piecewise_graphs ? Launch::kPiecewise : Launch::kEager;
}

int64_t CostModel::padded_tokens(const BatchShape& batch) const {
  const int64_t n = batch.num_tokens;
  if (launch_mode(batch) == Launch::kEager || n <= 1) return n;
  const int64_t captured = n <= 2 ? 2 : n <= 4 ? 4 : n < 256 ? (n + 7) / 8 * 8 : (n + 15) / 16 * 16;
  return std::min<int64_t>(captured, std::max<int64_t>(n, config_.max_graph_batch));
}

std::vector<OpCost> CostModel::ops(const BatchShape& b, bool explain) const {
  std::vector<OpCost> out;
  ops_into(b, explain, out);
  return out;
}

namespace {

// An op run in a share of the layers, averaged over all of them (time, FLOPs and bytes scale alike).
OpCost scaled(OpCost op, double share) {
  if (share >= 1.0) return op;
  op.time_ns = static_cast<SimTime>(std::llround(static_cast<double>(op.time_ns) * share));
  op.flops *= share;
  op.bytes *= share;
  op.pcie_bytes *= share;
  return op;
}

}  // namespace

void CostModel::ops_into(const BatchShape& b, bool explain, std::vector<OpCost>& out) const {
  out.clear();
  out.reserve(16);  // the most ops a forward pass lists
  const double t = static_cast<double>(padded_tokens(b));
  // Inside a captured graph (full, or the pieces around attention) kernels pay graph_params_' floors.
  const Launch mode = launch_mode(b);
  const OperatorParams& p = mode == Launch::kEager ? op_params_ : graph_params_;
  const OperatorParams& pa =
      mode == Launch::kFullGraph ? graph_params_ : op_params_;  // attention: eager when piecewise
  const double tp = config_.tp;
  const double hidden = static_cast<double>(model_.hidden_size);
  const double head_dim = static_cast<double>(model_.head_dim);
  const double q_dim = static_cast<double>(model_.num_attention_heads) * head_dim / tp;
  const double kv_dim = static_cast<double>(kv_heads_per_gpu(model_, config_.tp)) * head_dim;
  const double inter = static_cast<double>(model_.intermediate_size) / tp;

  if (model_.is_mla()) {
    // MLA's input projections (q_a/q_b or q, kv_a_proj_with_mqa, kv_b_proj) as one GEMM of the same per-GPU weights
    // (models/model_shapes.h); rope turns the rotary parts of q and the one shared rotary key.
    const detail::AttentionShapes a = detail::attention_shapes(model_, 0);
    const double in_params = static_cast<double>(a.q_weight) / tp + static_cast<double>(a.kv_weight);
    out.push_back(gemm(p, "qkv_proj", t, hidden, in_params / hidden, explain));
    const double rope_dim = static_cast<double>(model_.qk_rope_head_dim);
    const double q_heads = static_cast<double>(model_.num_attention_heads) / tp;
    out.push_back(elementwise(p, "rope", t, 2.0 * t * (q_heads + 1.0) * rope_dim * act_bytes_, explain));
  } else {
    out.push_back(gemm(p, "qkv_proj", t, hidden, q_dim + 2 * kv_dim, explain));
    if (model_.position == PositionKind::kRope) {
      out.push_back(elementwise(p, "rope", t, 2.0 * t * (q_dim + kv_dim) * act_bytes_, explain));  // read+write q, k
    }
  }
  out.push_back(attention(pa, b, explain));
  if (config_.page_selection) out.push_back(page_select(b, explain));
  if (config_.cpu_attention) out.push_back(cpu_attention(b, explain));
  if (config_.offload) {
    // Score every token's partial key (memory-bound: reads ratio x head_dim of each key).
    const double partial_dim = static_cast<double>(model_.head_dim) * config_.partial_weight_ratio;
    OpCost pqk;
    pqk.name = "partial_qk";
    pqk.bytes = b.partial_key_tokens * kv_dim * config_.partial_weight_ratio * kv_element_bits(config_.kv_dtype) / 8.0;
    pqk.flops = 2.0 * q_dim / static_cast<double>(model_.head_dim) * partial_dim * b.partial_key_tokens;
    pqk.time_ns = roofline_ns(pqk.flops, rates_.peak_flops * config_.efficiency.gemm, pqk.bytes,
                              hardware_.gpu.hbm_bytes_per_s * config_.efficiency.memory, &pqk.bound);
    if (explain) pqk.explain = "roofline over the partial keys of every cached token (InfiniGen speculation)";
    out.push_back(pqk);
  }
  // CPU attention also sends new KV to the host (offload_tokens of GPU-attended, host-resident sequences).
  if (config_.offload || config_.cpu_attention) out.push_back(kv_fetch(b, explain));
  if (config_.weight_gpu_ratio < 1.0) out.push_back(weight_fetch(explain));
  if (config_.uses_disk()) out.push_back(disk_io(b, explain));
  if (config_.act_offload_ratio > 0) {
    out.push_back(act_transfer(b, true, explain));
    out.push_back(act_transfer(b, false, explain));
  }
  const double o_in = static_cast<double>(model_.num_attention_heads * model_.value_head_dim()) / tp;
  out.push_back(gemm(p, "o_proj", t, o_in, hidden, explain));
  // An MoE model's layers differ only in their MLP: the ops list one average layer, the MoE ops weighted by the share
  // of MoE layers and the dense MLP's by the share of dense ones (DeepSeek's first_k_dense_replace layers).
  const double layers = static_cast<double>(model_.num_layers);
  const double moe_share = static_cast<double>(model_.num_moe_layers()) / layers;
  if (model_.is_moe()) {
    out.push_back(scaled(gemm(p, "router", t, hidden, static_cast<double>(model_.num_experts), explain), moe_share));
    out.push_back(scaled(experts(t, explain), moe_share));
  }
  if (moe_share < 1.0) {
    const double dense_share = 1.0 - moe_share;
    if (model_.mlp == MlpKind::kGated) {
      out.push_back(scaled(gemm(p, "gate_up_proj", t, hidden, 2 * inter, explain), dense_share));
      // read gate and up, write product
      out.push_back(scaled(elementwise(p, "act", t, 3.0 * t * inter * act_bytes_, explain), dense_share));
      out.push_back(scaled(gemm(p, "down_proj", t, inter, hidden, explain), dense_share));
    } else {
      out.push_back(scaled(gemm(p, "up_proj", t, hidden, inter, explain), dense_share));
      out.push_back(scaled(elementwise(p, "act", t, 2.0 * t * inter * act_bytes_, explain), dense_share));
      out.push_back(scaled(gemm(p, "down_proj", t, inter, hidden, explain), dense_share));
    }
  }
  // Two norms per layer (pre-attention, pre-MLP), each reading the residual and writing the output; the residual
  // add is fused into the norm in vLLM.
  out.push_back(elementwise(p, "norm", t, 2.0 * 3.0 * t * hidden * act_bytes_, explain, 2));
  if (config_.tp > 1) {
    OpCost ar = allreduce(p, t, explain);
    ar.time_ns *= 2;  // after attention and after the MLP
    ar.bytes *= 2;
    out.push_back(ar);
  }
  // Once per forward pass.
  out.push_back(elementwise(p, "embedding", t, 2.0 * t * hidden * act_bytes_, explain));
  out.push_back(gemm(p, "lm_head", static_cast<double>(b.num_sampled), hidden,
                     static_cast<double>(model_.vocab_size) / tp, explain));
}

// Overlapped ops run beside the layer's compute on their channel: ops of one channel queue (kv_fetch and
// weight_fetch share the one H2D copy engine), channels overlap each other (kv_fetch's device-to-host part runs on the
// other engine; where it is the longer half, kv_fetch overstates the H2D channel). A layer takes the longest of its
// compute and its channels, as FlexGen's cost model (Sheng et al., ICML 2023, sec. 4.3) takes the max of compute,
// CPU->GPU, GPU->CPU and disk I/O. Under FlexGen's block schedule the compute runs once per GPU batch and the
// transfers once per block.
CostModel::LayerTimes CostModel::layer_times(const BatchShape& b) const {
  LayerTimes t;
  if (b.num_tokens == 0) return t;
  t.parts = config_.gpu_batch_size > 0
                ? std::max<int64_t>(1, (b.num_seqs + config_.gpu_batch_size - 1) / config_.gpu_batch_size)
                : 1;
  // One buffer per thread (sweeps run points on threads sharing a cost model), reused every iteration.
  thread_local std::vector<OpCost> scratch;
  ops_into(b, false, scratch);
  for (const OpCost& op : scratch) {
    if (!op.overlapped) {
      if (t.parts > 1) continue;  // counted per GPU batch below
      (op.name == "embedding" || op.name == "lm_head" ? t.once : t.compute) += op.time_ns;
    } else if (op.channel == OpCost::Channel::kD2h) {
      t.d2h += op.time_ns;
    } else if (op.channel == OpCost::Channel::kDisk) {
      t.disk += op.time_ns;
    } else {
      t.h2d += op.time_ns;
      if (op.name == "weight_fetch") t.weights += op.time_ns;
    }
  }
  if (t.parts > 1) {
    ops_into(b.split(t.parts), false, scratch);
    for (const OpCost& op : scratch) {
      if (op.overlapped) continue;
      (op.name == "embedding" || op.name == "lm_head" ? t.once : t.compute) += op.time_ns * t.parts;
    }
  }
  return t;
}

SimTime CostModel::forward_ns(const BatchShape& b) const {
  const LayerTimes t = layer_times(b);
  return std::max({t.compute, t.h2d, t.d2h, t.disk}) * model_.num_layers + t.once;
}

SimTime CostModel::pytorch_iteration_ns(const BatchShape& b) const {
  if (b.num_tokens == 0) return 0;
  const LayerTimes t = layer_times(b);
  const SimTime copies = std::max({t.h2d, t.d2h, t.disk});
  SimTime gpu = config_.overlap_io ? std::max(t.compute, copies) : t.compute + t.h2d + t.d2h + t.disk;
  if (config_.overlap_io && config_.sync_per_layer && t.parts > 1) {
    // FlexGen's overlapped loop over a block of GPU batches (FlexLLMGen flex_opt.py 1046-1054) issues the next layer
    // object's weight copy with the first GPU batch (layers load weights only for k == 0), each GPU batch's KV and
    // activation copies beside its neighbour's compute, and synchronises after every GPU batch: the weight copy
    // overlaps one GPU batch's compute, the other copies their own GPU batch's.
    const SimTime one_batch = t.compute / t.parts;
    const SimTime h2d = (t.h2d - t.weights) / t.parts, d2h = t.d2h / t.parts, disk = t.disk / t.parts;
    gpu = std::max({one_batch, t.weights + h2d, d2h, disk}) +
          (t.parts - 1) * std::max({one_batch, h2d, d2h, disk});
  }
  // Two layer objects per decoder layer, each run once per GPU batch.
  const auto host =
      static_cast<SimTime>(std::llround(static_cast<double>(t.parts * (config_.attention_ops + config_.mlp_ops)) *
                                        config_.op_us * static_cast<double>(kNsPerUs)));
  // After a synchronisation the GPU waits for the next layer object's first launch.
  const SimTime relaunch =
      config_.sync_per_layer ? static_cast<SimTime>(std::llround(2.0 * config_.cpu.launch_us * kNsPerUs)) : 0;
  return (std::max(host, gpu) + relaunch) * model_.num_layers + t.once + cpu_overhead_ns(b);
}

SimTime CostModel::cpu_overhead_ns(const BatchShape& b) const {
  if (b.num_tokens == 0) return 0;
  const CpuOverhead& c = config_.cpu;
  const double us = c.iteration_us + c.per_seq_us * static_cast<double>(b.num_seqs) + c.framework_step_us +
                    c.framework_layer_us * static_cast<double>(model_.num_layers);
  return static_cast<SimTime>(std::llround(us * kNsPerUs));
}

SimTime CostModel::launch_ns(const BatchShape& b) const {
  if (b.num_tokens == 0) return 0;
  const CpuOverhead& c = config_.cpu;
  const auto& measured = hardware_.measured;
  const double launch_us = measured && measured->launch_ns > 0 ? measured->launch_ns / 1e3 : c.launch_us;
  const double replay_us =
      measured && measured->graph_replay_ns > 0 ? measured->graph_replay_ns / 1e3 : c.graph_replay_us;
  const double layers = static_cast<double>(model_.num_layers);
  double us = 0;
  switch (launch_mode(b)) {
    case Launch::kFullGraph:
      us = replay_us;
      break;
    case Launch::kPiecewise:
      us = (layers + 1) * launch_us + layers * c.attention_kernels_per_layer * launch_us;
      break;
    case Launch::kEager:
      us = launch_us * c.kernels_per_layer * layers;
      break;
  }
  return static_cast<SimTime>(std::llround(us * kNsPerUs));
}

}  // namespace kvsim::models
