// The cost model's per-layer operators priced by the operator model (or a measured curve): GEMMs, element-wise
// kernels, attention, all-reduce and MoE experts (cost_model.h).
#include <algorithm>
#include <cmath>

#include <fmt/format.h>

#include "hw/transfer.h"
#include "models/cost_internal.h"
#include "models/cost_model.h"
#include "sim/core/units.h"

namespace kvsim::models {

using detail::has_group_metadata;
using detail::kAllreduceLatencyPcieUs;
using detail::kDequantOpsPerElement;
using detail::roofline_ns;

OpCost CostModel::gemm(const OperatorParams& p, const std::string& name, double tokens, double in_features,
                       double out_features, bool explain) const {
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
  op.time_ns = cached(
      p, name, tokens,
      [](const void* v) {
        const auto* x = static_cast<const Args*>(v);
        return static_cast<SimTime>(std::llround(gemm_seconds(*x->p, *x->g, x->m, x->n, x->k, x->w, x->a) * 1e9));
      },
      &args);
  op.bound = gemm_terms(p, rates_, tokens, out_features, in_features, weight_bytes_, act_bytes_).compute_bound()
                 ? "compute"
                 : "memory";
  op.source = "model";
  if (explain)
    op.explain = fmt::format(
        "operator model, {}-bound: {:.1f} % of {} peak, {:.1f} % of HBM, ridge p {:.2f}, floor {:.1f} us ({}){}",
        op.bound, p.gemm_compute * 100, dtype_name(gemm_dtype_), p.gemm_memory * 100, p.gemm_ridge_p, p.gemm_floor_us,
        p.origin, hardware_.measured ? "; no measured GEMM for this dtype" : "");
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
    double bytes, rows;
    int kernels;
    ElementKind kind;
  } args{&p,
         &rates_,
         bytes,
         tokens,
         kernels,
         name == "norm" ? ElementKind::kNorm : name == "embedding" ? ElementKind::kGather : ElementKind::kPointwise};
  op.time_ns = cached(
      p, name, tokens,
      [](const void* v) {
        const auto* x = static_cast<const Args*>(v);
        return static_cast<SimTime>(std::llround(
            elementwise_seconds(*x->p, *x->g, x->bytes / x->kernels, x->rows, x->kind) * x->kernels * 1e9));
      },
      &args);
  op.source = "model";
  if (explain)
    op.explain = fmt::format("operator model: {} kernel(s), {:.1f} % of HBM{}, floor {:.2f} k clocks = {:.1f} us ({})",
                             kernels, p.elem_memory * 100,
                             rates_.issue_per_s > 0 ? " or the SMs' issue rate for its class, the slower"
                                                    : " (no SM clock in the profile: bandwidth only)",
                             p.elem_floor_kclk, elementwise_floor_seconds(p, rates_) * 1e6, p.origin);
  return op;
}

CostModel::AttentionTerms CostModel::attention_terms(const OperatorParams& p, const BatchShape& b) const {
  // Averaged over the attention layers: full-attention layers use the uncapped sums, sliding layers the windowed ones.
  // A hybrid model's kState layers read no KV: ops_into weights this op by the attention layers' share and charges
  // the state layers' per-sequence state in state_scan (cost_state_ops.cc). A pure attention model's attention layers
  // are all its layers.
  AttentionTerms a;
  const double layers = static_cast<double>(model_.num_attention_layers());
  const double sliding = static_cast<double>(model_.num_sliding_layers());
  const double full_share = static_cast<double>(model_.num_full_layers()) / layers, sliding_share = sliding / layers;
  double pairs = full_share * b.attn_pairs + sliding_share * b.attn_pairs_window;
  double kv_tokens = full_share * b.kv_read_tokens + sliding_share * b.kv_read_tokens_window;
  // FlexGen: the CPU-attended sequences' KV layers kept on the GPU (kv_gpu_ratio of the layers) are attended here.
  const double gpu_layers_of_cpu = config_.cpu_attention ? config_.kv_gpu_ratio : 0.0;
  pairs += gpu_layers_of_cpu * b.cpu_attn_pairs;
  kv_tokens += gpu_layers_of_cpu * b.cpu_kv_read_tokens;
  // KIVI: the residual window's tokens are read in full precision in every layer; capped by each layer type's tokens
  // read (a sum of per-sequence minima would be exact; they agree while the residual fits in the sliding window).
  if (config_.kv_dtype != config_.dtype && b.residual_tokens > 0) {
    a.residual = full_share * std::min(b.residual_tokens, b.kv_read_tokens) +
                 sliding_share * std::min(b.residual_tokens, b.kv_read_tokens_window);
  }
  // Quest: the dense layers read the whole context; the batch's sums hold the budget, the rest comes here, averaged
  // over the layers. One decode query per token, so one query-key pair per extra token.
  if (config_.page_selection && b.dense_extra_tokens > 0) {
    a.dense_extra = b.dense_extra_tokens * std::min(static_cast<double>(config_.dense_layers), layers) / layers;
    pairs += a.dense_extra;
  }
  const double quant_tokens = kv_tokens - a.residual + a.dense_extra;
  // Sequences attended on the CPU (cpu_attention) move no q or output through the GPU's attention kernel.
  const double gpu_tokens = static_cast<double>(b.num_tokens) - (1.0 - gpu_layers_of_cpu) * b.cpu_attn_tokens;
  a.gpu_seqs = b.num_seqs - (gpu_layers_of_cpu > 0 ? 0 : b.cpu_num_seqs);
  const double q_heads = static_cast<double>(model_.num_attention_heads) / config_.tp;
  const double head_dim = static_cast<double>(model_.head_dim);
  a.flops = 4.0 * q_heads * head_dim * pairs;  // QK^T and PV, 2 FLOPs per MAC
  const double kv_bytes = quant_tokens * kv_quant_token_bytes_ + a.residual * kv_full_token_bytes_;
  const double qo_bytes = 2.0 * gpu_tokens * q_heads * head_dim * act_bytes_;
  a.bytes = kv_bytes + qo_bytes;
  // Integer KV: every quantised K and V element read is dequantised on the CUDA cores inside the kernel, which adds
  // to the compute term (and to the op's FLOPs). No term where the profile lacks an FP32 peak.
  const double fp32_flops = hardware_.gpu.fp32_flops;
  if (has_group_metadata(config_.kv_dtype) && fp32_flops > 0) {
    a.dequant_ops = quant_tokens * 2.0 * static_cast<double>(kv_heads_per_gpu(model_, config_.tp)) * head_dim *
                    kDequantOpsPerElement;
  }
  if (config_.eager_attention) a.bytes += 16.0 * q_heads * pairs;
  if (config_.kv_concat_growth && b.decode_only) a.bytes += 2.0 * kv_bytes;
  if (config_.score_accumulation) a.bytes += 12.0 * q_heads * kv_tokens;
  // Memory term: the measured paged decode kernel's KV read rate at this mean context, else the roofline.
  // Compute term: the measured prefill kernel's FLOP rate at this many new tokens per sequence, else the roofline.
  // The operator model: the decode kernel's read efficiency grows with the KV tokens in flight, the prefill kernel's
  // compute efficiency with the new tokens per prefilling sequence (models/operator_model.h).
  a.chunk = b.prefill_seqs > 0 ? static_cast<double>(b.prefill_tokens) / static_cast<double>(b.prefill_seqs) : 1.0;
  a.kv_read_bytes = quant_tokens * kv_quant_token_bytes_ + a.residual * kv_full_token_bytes_;
  a.read_rate = config_.decode_attention_scale * p.decode_memory * a.kv_read_bytes /
                (a.kv_read_bytes + p.decode_half_mb * 1e6) * rates_.memory_bytes_per_s;
  // A decode-only batch's few FLOPs ride on its memory-bound kernel: no prefill ramp applies to them.
  const double ramp = b.prefill_seqs > 0 ? a.chunk / (a.chunk + p.prefill_half_tokens) : 1.0;
  a.flop_rate = p.prefill_compute * ramp * rates_.peak_flops;
  if (const auto& measured = hardware_.measured; measured && a.gpu_seqs > 0) {
    // The decode kernel's rate at this batch's mean context and its number of sequences decoded together (the
    // kernel reads fewer bytes per second with fewer sequences in flight).
    a.mean_context = kv_tokens / static_cast<double>(a.gpu_seqs);
    const auto batch = static_cast<double>(a.gpu_seqs);
    if (auto r = measured->decode_attention_bytes_per_s(a.mean_context, config_.block_size, batch)) {
      a.read_rate = *r;
      a.memory_measured = true;
    }
    if (!measured->prefill_attention.empty()) {
      a.flop_rate = measured->prefill_attention.at(gpu_tokens / static_cast<double>(a.gpu_seqs));
      a.compute_measured = true;
    }
  }
  a.dequant_ns = a.dequant_ops > 0 ? work_time_ns(a.dequant_ops, fp32_flops) : 0;
  a.compute_ns = work_time_ns(a.flops, a.flop_rate) + a.dequant_ns;
  a.memory_ns = work_time_ns(a.bytes, a.read_rate);
  a.floor_us = b.prefill_seqs > 0 ? p.prefill_floor_us : p.decode_floor_us;
  a.time_ns = std::max(a.compute_ns, a.memory_ns) + static_cast<SimTime>(std::llround(a.floor_us * kNsPerUs));
  return a;
}

OpCost CostModel::attention(const OperatorParams& p, const BatchShape& b, bool explain) const {
  const AttentionTerms a = attention_terms(p, b);
  OpCost op;
  op.name = "attention";
  op.flops = a.flops + a.dequant_ops;
  op.bytes = a.bytes;
  op.time_ns = a.time_ns;
  const bool compute_bound = a.compute_ns >= a.memory_ns;
  op.bound = compute_bound ? "compute" : "memory";
  op.source = (compute_bound ? a.compute_measured : a.memory_measured) ? "measured" : "model";
  if (!explain) return op;
  std::string memory_from = "model", compute_from = "model";
  if (a.memory_measured) {
    memory_from = fmt::format("measured decode kernel at context {:.0f}, batch {}", a.mean_context, a.gpu_seqs);
  }
  if (a.compute_measured) {
    // PyTorch SDPA's flash kernel is a production kernel (as is a named import's, e.g. Vidur's FlashInfer, with
    // no note); kvsim's simple kernel, or any curve with a note saying why, is slower than a serving engine's.
    const std::string& kernel = hardware_.measured->prefill_attention_kernel;
    const std::string& note = hardware_.measured->prefill_attention_note;
    compute_from = fmt::format("measured {} prefill kernel", kernel.empty() ? "(unnamed)" : kernel);
    if (kernel != "sdpa-flash" && (!note.empty() || kernel == "kvsim-simple" || kernel.empty())) {
      const char* why = kernel == "kvsim-simple"
                            ? "curve from kvsim's simple kernel, slower than production flash kernels"
                            : "the profile does not name the kernel";
      compute_from += fmt::format(" (not a production kernel: {})", note.empty() ? why : note);
    }
  }
  op.explain = fmt::format(
      "{}-bound; compute: {} ({:.1f} % of peak at {:.0f} new tokens per prefill); memory: {} ({:.1f} % of HBM at {} "
      "of KV per layer); floor {:.1f} us ({})",
      op.bound, compute_from, a.flop_rate / rates_.peak_flops * 100, a.chunk, memory_from,
      a.read_rate / rates_.memory_bytes_per_s * 100, format_bytes(static_cast<uint64_t>(a.kv_read_bytes)), a.floor_us,
      p.origin);
  if (has_group_metadata(config_.kv_dtype)) {
    op.explain += hardware_.gpu.fp32_flops > 0
                      ? fmt::format("; {} KV dequantised at the FP32 peak ({:.1f} us)", dtype_name(config_.kv_dtype),
                                    static_cast<double>(a.dequant_ns) / 1e3)
                      : fmt::format("; {} KV dequantisation not charged: profile has no fp32_flops",
                                    dtype_name(config_.kv_dtype));
  }
  if (a.residual > 0)
    op.explain += fmt::format("; {:.0f} residual tokens in {}", a.residual, dtype_name(config_.dtype));
  if (a.dense_extra > 0) op.explain += fmt::format("; {:.0f} tokens read by Quest's dense layers", a.dense_extra);
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
      op.explain = fmt::format("vLLM custom all-reduce over NVLink: {} us + {} at {:.0f} GB/s",
                               detail::kCustomAllreduceLatencyUs, format_bytes(static_cast<uint64_t>(op.bytes)),
                               rates_.nvlink_bytes_per_s / 1e9);
    return op;
  }
  if (nvlink) {
    op.time_ns = static_cast<SimTime>(std::llround(allreduce_seconds(p, rates_, message, config_.tp) * 1e9));
    const double latency_us = config_.tp == 2 ? p.allreduce_latency_us : p.allreduce_latency_many_us;
    op.bound = latency_us * 1e3 >= 0.5 * static_cast<double>(op.time_ns) ? "latency" : "memory";
    op.source = "model";
    if (explain)
      op.explain =
          fmt::format("operator model, ring all-reduce over NVLink: {:.1f} us + {} at {:.0f} % of {:.0f} GB/s ({})",
                      latency_us, format_bytes(static_cast<uint64_t>(op.bytes)), p.allreduce_bandwidth * 100,
                      rates_.nvlink_bytes_per_s / 1e9, p.origin);
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
  // touches: E (1 - (1 - k/E)^T) in expectation under uniform routing. Shared experts run on every token and are
  // read whole. One MoE layer's cost; ops_into weights it by the share of MoE layers.
  const double e = static_cast<double>(model_.num_experts), k = static_cast<double>(model_.experts_per_token);
  const double hidden = static_cast<double>(model_.hidden_size);
  const double inter = static_cast<double>(model_.expert_intermediate_size()) / config_.tp;
  const double shared_inter = static_cast<double>(model_.shared_expert_intermediate_size) / config_.tp;
  // Gated experts (SwiGLU: gate, up, down) hold three matrices; plain ones (Nemotron-H's squared-ReLU up, down) two,
  // as the model's MLP kind says (model_shapes.h: the experts follow it).
  const double matrices = model_.mlp == MlpKind::kGated ? 3.0 : 2.0;
  const double params_per_expert = matrices * hidden * inter;
  const double shared_params = matrices * hidden * shared_inter;
  const double touched = e * (1.0 - std::pow(1.0 - k / e, tokens));
  const DType expert_storage =
      model_.has_expert_dtype && dtype_bits(model_.expert_dtype) < dtype_bits(config_.weight_dtype)
          ? model_.expert_dtype
          : config_.weight_dtype;
  OpCost op;
  op.name = "experts";
  op.flops = 2.0 * tokens * (k * params_per_expert + shared_params);
  op.bytes =
      touched * params_per_expert * dtype_bytes(expert_storage) + shared_params * dtype_bytes(config_.weight_dtype) +
      tokens * (k * (2 * hidden + matrices * inter) + (shared_inter > 0 ? 2 * hidden + matrices * shared_inter : 0)) *
          act_bytes_;
  op.time_ns = roofline_ns(op.flops, rates_.peak_flops * config_.efficiency.gemm, op.bytes,
                           hardware_.gpu.hbm_bytes_per_s * config_.efficiency.memory, &op.bound);
  if (explain) {
    op.explain = fmt::format(
        "roofline over the {:.1f} experts a batch of {:.0f} tokens touches (no measured MoE curve)", touched, tokens);
  }
  return op;
}

}  // namespace kvsim::models
