#include "models/cost_model.h"

#include "hw/transfer.h"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>

#include "sim/core/error.h"
#include "sim/core/units.h"
#include "models/cost_internal.h"

namespace kvsim::models {

using detail::has_group_metadata;
using detail::kAllreduceLatencyPcieUs;
using detail::kDequantOpsPerElement;
using detail::kHostFlopsPerCore;
using detail::roofline_ns;

namespace {
constexpr int kCacheSlots = 11;
int cache_slot(const std::string& name) {
  // By first letter and length, without comparing strings: this runs for every op of every iteration.
  const size_t n = name.size();
  switch (name.empty() ? '\0' : name[0]) {
    case 'q': return n == 8 ? 0 : -1;             // qkv_proj
    case 'o': return n == 6 ? 1 : -1;             // o_proj
    case 'r': return n == 6 ? 2 : n == 4 ? 7 : -1;  // router, rope
    case 'g': return n == 12 ? 3 : -1;            // gate_up_proj
    case 'd': return n == 9 ? 4 : -1;             // down_proj
    case 'u': return n == 7 ? 5 : -1;             // up_proj
    case 'l': return n == 7 ? 6 : -1;             // lm_head
    case 'a': return n == 3 ? 8 : -1;             // act
    case 'n': return n == 4 ? 9 : -1;             // norm
    case 'e': return n == 9 ? 10 : -1;            // embedding
    default: return -1;
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
          throw Error(fmt::format("hardware '{}': measured.operator_model.{} has no '{}'", hardware_.name, family, name));
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
  for (double* floor_us : {&graph_params_.gemm_floor_us, &graph_params_.elem_floor_us, &graph_params_.decode_floor_us,
                           &graph_params_.prefill_floor_us}) {
    *floor_us *= config_.cpu.graph_floor_share;
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
    host_flops_ = static_cast<double>(hardware_.host.cpu_cores) * kHostFlopsPerCore;
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

OpCost CostModel::gemm(const OperatorParams& p, const std::string& name, double tokens, double in_features, double out_features,
                       bool explain) const {
  OpCost op;
  op.name = name;
  const double params = in_features * out_features;
  op.flops = 2.0 * tokens * params;
  op.bytes = params * weight_bytes_ + tokens * (in_features + out_features) * act_bytes_;
  if (const auto& measured = hardware_.measured; measured && tokens >= 1) {
    const auto m = static_cast<int64_t>(tokens), n = static_cast<int64_t>(out_features),
               k = static_cast<int64_t>(in_features);
    if (auto rate = measured->gemm_flops_per_s(std::string(dtype_name(gemm_dtype_)), m, n, k, compute_flops_)) {
      op.time_ns = work_time_ns(op.flops, *rate);
      op.source = "measured";
      op.bound = "measured";
      if (explain)
        op.explain = fmt::format("measured {} GEMM m={} n={} k={}: {:.1f} TFLOP/s", dtype_name(gemm_dtype_), m, n, k,
                                 *rate / 1e12);
      return op;
    }
  }
  struct Args {
    const OperatorParams* p;
    const GpuRates* g;
    double m, n, k, w, a;
  } args{&p, &rates_, tokens, out_features, in_features, weight_bytes_, act_bytes_};
  op.time_ns = cached(p, name, tokens, [](const void* v) {
    const auto* x = static_cast<const Args*>(v);
    return static_cast<SimTime>(std::llround(gemm_seconds(*x->p, *x->g, x->m, x->n, x->k, x->w, x->a) * 1e9));
  }, &args);
  // Which regime dominates: compute against weights read, as gemm_seconds weighs them.
  const bool compute_bound = 2.0 * tokens * out_features * in_features / (p.gemm_compute * rates_.peak_flops) >=
                             (in_features * out_features * weight_bytes_ +
                              tokens * (in_features + out_features) * act_bytes_) /
                                 (p.gemm_memory * rates_.memory_bytes_per_s);
  op.bound = compute_bound ? "compute" : "memory";
  op.source = "model";
  if (explain)
    op.explain = fmt::format(
        "operator model, {}-bound: {:.1f} % of {} peak, {:.1f} % of HBM, ridge p {:.2f}, floor {:.1f} us ({}){}",
        op.bound, p.gemm_compute * 100, dtype_name(gemm_dtype_), p.gemm_memory * 100,
        p.gemm_ridge_p, p.gemm_floor_us, p.origin,
        hardware_.measured ? "; no measured GEMM for this dtype" : "");
  return op;
}

OpCost CostModel::elementwise(const OperatorParams& p, const std::string& name, double tokens, double bytes,
                              bool explain, int kernels) const {
  OpCost op;
  op.name = name;
  op.bytes = bytes;
  op.bound = "memory";
  // A copy kernel moving B bytes reads and writes B: memory traffic runs at twice the measured bytes-copied rate.
  if (hardware_.measured) {
    if (auto copy = hardware_.measured->bandwidth_at("hbm/copy", bytes / 2)) {
      op.time_ns = transfer_time_ns(static_cast<uint64_t>(bytes), 2.0 * *copy);
      op.source = "measured";
      if (explain)
        op.explain = fmt::format("measured HBM copy at {}: {:.0f} GB/s copied",
                                 format_bytes(static_cast<uint64_t>(bytes / 2)), *copy / 1e9);
      return op;
    }
  }
  // `kernels` launches of bytes / kernels each (the two norms of a layer are two kernels).
  struct Args {
    const OperatorParams* p;
    const GpuRates* g;
    double bytes;
    int kernels;
    ElementKind kind;
  } args{&p, &rates_, bytes, kernels,
         name == "norm" ? ElementKind::kNorm : name == "embedding" ? ElementKind::kGather : ElementKind::kPointwise};
  op.time_ns = cached(p, name, tokens, [](const void* v) {
    const auto* x = static_cast<const Args*>(v);
    return static_cast<SimTime>(
        std::llround(elementwise_seconds(*x->p, *x->g, x->bytes / x->kernels, x->kind) * x->kernels * 1e9));
  }, &args);
  op.source = "model";
  if (explain)
    op.explain = fmt::format("operator model: {} kernel(s), {:.1f} % of HBM{}, floor {:.1f} us ({})", kernels,
                             p.elem_memory * 100,
                             rates_.issue_per_s > 0 ? ", issue-bound below the SMs' rate for its kind"
                                                    : " (no SM clock in the profile: bandwidth only)",
                             p.elem_floor_us, p.origin);
  return op;
}

OpCost CostModel::attention(const OperatorParams& p, const BatchShape& b, bool explain) const {
  // Averaged over layers: full-attention layers use the uncapped sums, sliding layers the windowed ones.
  const double layers = static_cast<double>(model_.num_layers);
  const double sliding = static_cast<double>(model_.num_sliding_layers());
  const double full_share = (layers - sliding) / layers, sliding_share = sliding / layers;
  double pairs = full_share * b.attn_pairs + sliding_share * b.attn_pairs_window;
  double kv_tokens = full_share * b.kv_read_tokens + sliding_share * b.kv_read_tokens_window;
  // FlexGen: the CPU-attended sequences' KV layers kept on the GPU (kv_gpu_ratio of the layers) are attended here.
  const double gpu_layers_of_cpu = config_.cpu_attention ? config_.kv_gpu_ratio : 0.0;
  pairs += gpu_layers_of_cpu * b.cpu_attn_pairs;
  kv_tokens += gpu_layers_of_cpu * b.cpu_kv_read_tokens;
  // KIVI: the residual window's tokens are read in full precision in every layer; capped by each layer type's tokens
  // read (a sum of per-sequence minima would be exact; they agree while the residual fits in the sliding window).
  double residual = 0;
  if (config_.kv_dtype != config_.dtype && b.residual_tokens > 0) {
    residual = full_share * std::min(b.residual_tokens, b.kv_read_tokens) +
               sliding_share * std::min(b.residual_tokens, b.kv_read_tokens_window);
  }
  // Quest: the dense layers read the whole context; the batch's sums hold the budget, the rest comes here, averaged
  // over the layers. One decode query per token, so one query-key pair per extra token.
  double dense_extra = 0;
  if (config_.page_selection && b.dense_extra_tokens > 0) {
    dense_extra = b.dense_extra_tokens * std::min(static_cast<double>(config_.dense_layers), layers) / layers;
    pairs += dense_extra;
  }
  const double quant_tokens = kv_tokens - residual + dense_extra;
  // Sequences attended on the CPU (cpu_attention) move no q or output through the GPU's attention kernel.
  const double gpu_tokens = static_cast<double>(b.num_tokens) - (1.0 - gpu_layers_of_cpu) * b.cpu_attn_tokens;
  const int64_t gpu_seqs = b.num_seqs - (gpu_layers_of_cpu > 0 ? 0 : b.cpu_num_seqs);
  const double q_heads = static_cast<double>(model_.num_attention_heads) / config_.tp;
  const double head_dim = static_cast<double>(model_.head_dim);
  OpCost op;
  op.name = "attention";
  op.flops = 4.0 * q_heads * head_dim * pairs;  // QK^T and PV, 2 FLOPs per MAC
  const double kv_bytes = quant_tokens * kv_quant_token_bytes_ + residual * kv_full_token_bytes_;
  const double qo_bytes = 2.0 * gpu_tokens * q_heads * head_dim * act_bytes_;
  op.bytes = kv_bytes + qo_bytes;
  // Integer KV: every quantised K and V element read is dequantised on the CUDA cores inside the kernel, which adds
  // to the compute term (and to op.flops). No term where the profile lacks an FP32 peak.
  const double fp32_flops = hardware_.gpu.fp32_flops;
  double dequant_ops = 0;
  if (has_group_metadata(config_.kv_dtype) && fp32_flops > 0) {
    dequant_ops = quant_tokens * 2.0 * static_cast<double>(kv_heads_per_gpu(model_, config_.tp)) * head_dim *
                  kDequantOpsPerElement;
  }
  if (config_.eager_attention) op.bytes += 16.0 * q_heads * pairs;
  if (config_.kv_concat_growth && b.decode_only) op.bytes += 2.0 * kv_bytes;
  if (config_.score_accumulation) op.bytes += 12.0 * q_heads * kv_tokens;
  // Memory term: the measured paged decode kernel's KV read rate at this mean context, else the roofline.
  // Compute term: the measured prefill kernel's FLOP rate at this many new tokens per sequence, else the roofline.
  // The operator model: the decode kernel's read efficiency grows with the KV tokens in flight, the prefill kernel's
  // compute efficiency with the new tokens per prefilling sequence (models/operator_model.h).
  const double chunk = b.prefill_seqs > 0 ? static_cast<double>(b.prefill_tokens) / static_cast<double>(b.prefill_seqs)
                                          : 1.0;
  const double kv_read_bytes = quant_tokens * kv_quant_token_bytes_ + residual * kv_full_token_bytes_;
  double read_rate = config_.decode_attention_scale * p.decode_memory * kv_read_bytes / (kv_read_bytes + p.decode_half_mb * 1e6) * rates_.memory_bytes_per_s;
  // A decode-only batch's few FLOPs ride on its memory-bound kernel: no prefill ramp applies to them.
  const double ramp = b.prefill_seqs > 0 ? chunk / (chunk + p.prefill_half_tokens) : 1.0;
  double flop_rate = p.prefill_compute * ramp * rates_.peak_flops;
  std::string memory_from = "model", compute_from = "model";
  if (const auto& measured = hardware_.measured; measured && gpu_seqs > 0) {
    const double mean_context = kv_tokens / static_cast<double>(gpu_seqs);
    if (auto r = measured->decode_attention_bytes_per_s(mean_context, config_.block_size)) {
      read_rate = *r;
      memory_from = explain ? fmt::format("measured decode kernel at context {:.0f}", mean_context) : "measured";
    }
    if (!measured->prefill_attention.empty()) {
      flop_rate = measured->prefill_attention.at(gpu_tokens / static_cast<double>(gpu_seqs));
      compute_from = "measured " + measured->prefill_attention_kernel + " prefill kernel";
    }
  }
  const SimTime dequant_ns = dequant_ops > 0 ? work_time_ns(dequant_ops, fp32_flops) : 0;
  const SimTime c_ns = work_time_ns(op.flops, flop_rate) + dequant_ns, m_ns = work_time_ns(op.bytes, read_rate);
  op.flops += dequant_ops;
  const double floor_us = b.prefill_seqs > 0 ? p.prefill_floor_us : p.decode_floor_us;
  op.time_ns = std::max(c_ns, m_ns) + static_cast<SimTime>(std::llround(floor_us * kNsPerUs));
  op.bound = c_ns >= m_ns ? "compute" : "memory";
  const std::string& used = c_ns >= m_ns ? compute_from : memory_from;
  op.source = used == "model" ? "model" : "measured";
  if (explain) {
    op.explain = fmt::format(
        "{}-bound; compute: {} ({:.1f} % of peak at {:.0f} new tokens per prefill); memory: {} ({:.1f} % of HBM at {} "
        "of KV per layer); floor {:.1f} us ({})",
        op.bound, compute_from, flop_rate / rates_.peak_flops * 100, chunk, memory_from,
        read_rate / rates_.memory_bytes_per_s * 100, format_bytes(static_cast<uint64_t>(kv_read_bytes)), floor_us,
        p.origin);
    if (has_group_metadata(config_.kv_dtype)) {
      op.explain += fp32_flops > 0 ? fmt::format("; {} KV dequantised at the FP32 peak ({:.1f} us)",
                                                 dtype_name(config_.kv_dtype), static_cast<double>(dequant_ns) / 1e3)
                                   : fmt::format("; {} KV dequantisation not charged: profile has no fp32_flops",
                                                 dtype_name(config_.kv_dtype));
    }
    if (residual > 0) op.explain += fmt::format("; {:.0f} residual tokens in {}", residual, dtype_name(config_.dtype));
    if (dense_extra > 0) op.explain += fmt::format("; {:.0f} tokens read by Quest's dense layers", dense_extra);
  }
  return op;
}

OpCost CostModel::allreduce(const OperatorParams& p, double tokens, bool explain) const {
  OpCost op;
  op.name = "allreduce";
  const double tp = config_.tp;
  const double message = tokens * static_cast<double>(model_.hidden_size) * act_bytes_;
  op.bytes = 2.0 * (tp - 1) / tp * message;
  // Over NVLink (a switch fabric, or a bridged pair), the operator model fitted on measured all-reduces; otherwise
  // staged through the host over PCIe (an assumption: kAllreduceLatencyPcieUs + bytes at the PCIe rate).
  const bool nvlink = hardware_.gpu.nvlink_bytes_per_s > 0 &&
                      (hardware_.gpu.nvlink_fabric == hw::NvlinkFabric::kNvswitch || config_.tp == 2);
  const int tp_gpus = config_.tp;
  if (nvlink && config_.custom_allreduce && hardware_.gpu.p2p && message <= detail::kCustomAllreduceMaxBytes &&
      (tp_gpus == 2 || tp_gpus == 4 || tp_gpus == 6 || tp_gpus == 8)) {
    const SimTime latency = static_cast<SimTime>(detail::kCustomAllreduceLatencyUs * kNsPerUs);
    const SimTime transfer = transfer_time_ns(static_cast<uint64_t>(op.bytes), rates_.nvlink_bytes_per_s);
    op.time_ns = latency + transfer;
    op.bound = latency >= transfer ? "latency" : "memory";
    op.source = "assumption";
    if (explain)
      op.explain = fmt::format("vLLM custom all-reduce over NVLink: {} us + {} at {:.0f} GB/s", detail::kCustomAllreduceLatencyUs,
                               format_bytes(static_cast<uint64_t>(op.bytes)), rates_.nvlink_bytes_per_s / 1e9);
    return op;
  }
  if (nvlink) {
    op.time_ns = static_cast<SimTime>(std::llround(allreduce_seconds(p, rates_, message, config_.tp) * 1e9));
    const double latency_us = config_.tp == 2 ? p.allreduce_latency_us : p.allreduce_latency_many_us;
    op.bound = latency_us * 1e3 >= 0.5 * static_cast<double>(op.time_ns) ? "latency" : "memory";
    op.source = "model";
    if (explain)
      op.explain = fmt::format("operator model, ring all-reduce over NVLink: {:.1f} us + {} at {:.0f} % of {:.0f} GB/s ({})",
                               latency_us, format_bytes(static_cast<uint64_t>(op.bytes)),
                               p.allreduce_bandwidth * 100, rates_.nvlink_bytes_per_s / 1e9, p.origin);
    return op;
  }
  const double link = hardware_.pcie.h2d_bytes_per_s;
  const SimTime latency = static_cast<SimTime>(kAllreduceLatencyPcieUs * kNsPerUs);
  const SimTime transfer = transfer_time_ns(static_cast<uint64_t>(op.bytes), link);
  op.time_ns = latency + transfer;
  op.bound = latency >= transfer ? "latency" : "memory";
  if (explain)
    op.explain = fmt::format("ring all-reduce staged through the host: {} us latency + {} at {:.0f} GB/s (PCIe)",
                             kAllreduceLatencyPcieUs, format_bytes(static_cast<uint64_t>(op.bytes)), link / 1e9);
  return op;
}

OpCost CostModel::experts(double tokens, bool explain) const {
  // Each token runs experts_per_token experts; the weights read are those of the distinct experts the batch
  // touches: E (1 - (1 - k/E)^T) in expectation under uniform routing.
  const double e = static_cast<double>(model_.num_experts), k = static_cast<double>(model_.experts_per_token);
  const double hidden = static_cast<double>(model_.hidden_size);
  const double inter = static_cast<double>(model_.intermediate_size) / config_.tp;
  const double params_per_expert = 3.0 * hidden * inter;  // gate, up, down
  const double touched = e * (1.0 - std::pow(1.0 - k / e, tokens));
  const DType expert_storage =
      model_.has_expert_dtype && dtype_bits(model_.expert_dtype) < dtype_bits(config_.weight_dtype)
          ? model_.expert_dtype
          : config_.weight_dtype;
  OpCost op;
  op.name = "experts";
  op.flops = 2.0 * tokens * k * params_per_expert;
  op.bytes =
      touched * params_per_expert * dtype_bytes(expert_storage) + tokens * k * (2 * hidden + 3 * inter) * act_bytes_;
  op.time_ns = roofline_ns(op.flops, compute_flops_ * config_.efficiency.gemm, op.bytes,
                           hardware_.gpu.hbm_bytes_per_s * config_.efficiency.memory, &op.bound);
  if (explain) {
    op.explain = fmt::format(
        "roofline over the {:.1f} experts a batch of {:.0f} tokens touches (no measured MoE curve)", touched, tokens);
  }
  return op;
}

std::vector<OpCost> CostModel::ops(const BatchShape& b, bool explain) const {
  std::vector<OpCost> out;
  ops_into(b, explain, out);
  return out;
}

void CostModel::ops_into(const BatchShape& b, bool explain, std::vector<OpCost>& out) const {
  out.clear();
  out.reserve(16);  // the most ops a forward pass lists
  const double t = static_cast<double>(padded_tokens(b));
  // Inside a captured graph (full, or the pieces around attention) kernels pay graph_params_' floors.
  const Launch mode = launch_mode(b);
  const OperatorParams& p = mode == Launch::kEager ? op_params_ : graph_params_;
  const OperatorParams& pa = mode == Launch::kFullGraph ? graph_params_ : op_params_;  // attention: eager when piecewise
  const double tp = config_.tp;
  const double hidden = static_cast<double>(model_.hidden_size);
  const double head_dim = static_cast<double>(model_.head_dim);
  const double q_dim = static_cast<double>(model_.num_attention_heads) * head_dim / tp;
  const double kv_dim = static_cast<double>(kv_heads_per_gpu(model_, config_.tp)) * head_dim;
  const double inter = static_cast<double>(model_.intermediate_size) / tp;

  out.push_back(gemm(p, "qkv_proj", t, hidden, q_dim + 2 * kv_dim, explain));
  if (model_.position == PositionKind::kRope) {
    out.push_back(elementwise(p, "rope", t, 2.0 * t * (q_dim + kv_dim) * act_bytes_, explain));  // read + write q and k
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
    pqk.time_ns = roofline_ns(pqk.flops, compute_flops_ * config_.efficiency.gemm, pqk.bytes,
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
  out.push_back(gemm(p, "o_proj", t, q_dim, hidden, explain));
  if (model_.is_moe()) {
    OpCost router = gemm(p, "router", t, hidden, static_cast<double>(model_.num_experts), explain);
    out.push_back(router);
    out.push_back(experts(t, explain));
  } else if (model_.mlp == MlpKind::kGated) {
    out.push_back(gemm(p, "gate_up_proj", t, hidden, 2 * inter, explain));
    out.push_back(elementwise(p, "act", t, 3.0 * t * inter * act_bytes_, explain));  // read gate and up, write product
    out.push_back(gemm(p, "down_proj", t, inter, hidden, explain));
  } else {
    out.push_back(gemm(p, "up_proj", t, hidden, inter, explain));
    out.push_back(elementwise(p, "act", t, 2.0 * t * inter * act_bytes_, explain));
    out.push_back(gemm(p, "down_proj", t, inter, hidden, explain));
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
  out.push_back(gemm(p, "lm_head", static_cast<double>(b.num_sampled), hidden, static_cast<double>(model_.vocab_size) / tp,
                     explain));
}

// Overlapped ops run beside the layer's compute on their channel: ops of one channel queue (kv_fetch and
// weight_fetch share the one H2D copy engine), channels overlap each other (kv_fetch's device-to-host part runs on the
// other engine; where it is the longer half, kv_fetch overstates the H2D channel). A layer takes the longest of its
// compute and its channels, as FlexGen's cost model (Sheng et al., ICML 2023, sec. 4.3) takes the max of compute,
// CPU->GPU, GPU->CPU and disk I/O. Under FlexGen's block schedule the compute runs once per GPU batch and the
// transfers once per block.
SimTime CostModel::forward_ns(const BatchShape& b) const {
  if (b.num_tokens == 0) return 0;
  const int64_t parts = config_.gpu_batch_size > 0
                            ? std::max<int64_t>(1, (b.num_seqs + config_.gpu_batch_size - 1) / config_.gpu_batch_size)
                            : 1;
  SimTime per_layer = 0, once = 0, h2d = 0, d2h = 0, disk = 0;
  // One buffer per thread (sweeps run points on threads sharing a cost model), reused every iteration.
  thread_local std::vector<OpCost> scratch;
  ops_into(b, false, scratch);
  for (const OpCost& op : scratch) {
    if (!op.overlapped) {
      if (parts > 1) continue;  // counted per GPU batch below
      (op.name == "embedding" || op.name == "lm_head" ? once : per_layer) += op.time_ns;
    } else if (op.channel == OpCost::Channel::kD2h) {
      d2h += op.time_ns;
    } else if (op.channel == OpCost::Channel::kDisk) {
      disk += op.time_ns;
    } else {
      h2d += op.time_ns;
    }
  }
  if (parts > 1) {
    ops_into(b.split(parts), false, scratch);
    for (const OpCost& op : scratch) {
      if (op.overlapped) continue;
      (op.name == "embedding" || op.name == "lm_head" ? once : per_layer) += op.time_ns * parts;
    }
  }
  return std::max({per_layer, h2d, d2h, disk}) * model_.num_layers + once;
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
