// The cost model's operators for KV and weights kept off the GPU or read sparsely: InfiniGen's speculation
// (partial_qk) and fetch (kv_fetch),
// Quest's page selection, FlexGen's CPU attention, weight streaming, disk and activation transfers (cost_model.h).
#include <algorithm>
#include <cmath>

#include <fmt/format.h>

#include "hw/transfer.h"
#include "models/cost_internal.h"
#include "models/cost_model.h"
#include "sim/core/units.h"

namespace kvsim::models {

using detail::kHostFlopsPerCore;
using detail::kPageScoreOpsPerChannel;
using detail::kTopKBytesPerScore;
using detail::roofline_ns;

OpCost CostModel::partial_qk(const BatchShape& b, bool explain) const {
  // Score every token's partial key (memory-bound: reads ratio x head_dim of each key). Under MLA the key is the
  // cached latent itself (kv_bytes_per_token_layer), scored by every query head against ratio of its width.
  const double head_dim = static_cast<double>(model_.head_dim);
  const double q_dim = static_cast<double>(model_.num_attention_heads) * head_dim / config_.tp;
  const double kv_dim = static_cast<double>(kv_heads_per_gpu(model_, config_.tp)) * head_dim;
  const double key_dim =
      model_.is_mla() ? static_cast<double>(model_.kv_lora_rank + model_.qk_rope_head_dim) : head_dim;
  const double partial_dim = key_dim * config_.partial_weight_ratio;
  OpCost op;
  op.name = "partial_qk";
  op.bytes = model_.is_mla() ? b.partial_key_tokens * kv_quant_token_bytes_ * config_.partial_weight_ratio
                             : b.partial_key_tokens * kv_dim * config_.partial_weight_ratio *
                                   kv_element_bits(config_.kv_dtype) / 8.0;
  op.flops = 2.0 * q_dim / head_dim * partial_dim * b.partial_key_tokens;
  op.time_ns = roofline_ns(op.flops, rates_.peak_flops * config_.efficiency.gemm, op.bytes,
                           hardware_.gpu.hbm_bytes_per_s * config_.efficiency.memory, &op.bound);
  if (explain) op.explain = "roofline over the partial keys of every cached token (InfiniGen speculation)";
  return op;
}

OpCost CostModel::kv_fetch(const BatchShape& b, bool explain) const {
  // Per layer: the selected K and V rows of every fetched token, gathered per (token, head) on the CPU and sent in
  // one copy, beside the new tokens' KV going to the host on the other copy engine.
  OpCost op;
  op.name = "kv_fetch";
  op.overlapped = true;
  op.channel = OpCost::Channel::kH2d;
  // A token's K and V are 2 x kv_heads rows of head_dim; under MLA its one cached latent (kv_lora_rank +
  // qk_rope_head_dim elements, whole on every TP rank) is one row of kv_bytes_per_token_layer.
  const int64_t rows_per_token = model_.is_mla() ? 1 : kv_heads_per_gpu(model_, config_.tp) * 2;
  const auto row_bytes =
      model_.is_mla()
          ? static_cast<uint64_t>(kv_quant_token_bytes_)
          : static_cast<uint64_t>(static_cast<double>(model_.head_dim) * kv_element_bits(config_.kv_dtype) / 8.0);
  const auto rows = static_cast<int64_t>(b.fetch_tokens) * rows_per_token;
  const hw::TransferCost in = hw::gather_time(hardware_, hw::GatherMethod::kCpuStaged, row_bytes, rows);
  // FlexGen sends only its host- and disk-resident layers' share; InfiniGen all of it.
  const double host_share = config_.cpu_attention ? 1.0 - config_.kv_gpu_ratio : 1.0;
  const auto out_bytes = static_cast<uint64_t>(b.offload_tokens * kv_quant_token_bytes_ * host_share);
  const hw::TransferCost out =
      hw::pcie_copy_time(hardware_, hw::CopyDirection::kDeviceToHost, out_bytes, 1, config_.host_kv_pinned);
  op.bytes = static_cast<double>(row_bytes * static_cast<uint64_t>(rows) + out_bytes);
  op.pcie_bytes = op.bytes;
  op.time_ns = std::max(in.time_ns, out.time_ns);
  op.bound = "pcie";
  op.source = in.source == "measured" ? "measured" : "roofline";
  if (explain) {
    op.explain = fmt::format("CPU-staged gather of {} rows ({}) + {} to host, overlapped with the layer's compute",
                             rows, in.source, format_bytes(out_bytes));
  }
  return op;
}

OpCost CostModel::page_select(const BatchShape& b, bool explain) const {
  // Quest: read the min and max key of every page of every decode sequence's context and score them, in the layers
  // past the dense ones (averaged over layers), then pick the top pages per query head: the fp32 scores are written
  // and read back by the top-k (kTopKBytesPerScore per page and head).
  const double layers = static_cast<double>(model_.num_layers);
  const double sparse_share = (layers - std::min(static_cast<double>(config_.dense_layers), layers)) / layers;
  const double pages = b.page_scan_tokens / static_cast<double>(config_.page_size);
  const double head_dim = static_cast<double>(model_.head_dim);
  const double kv_heads = static_cast<double>(kv_heads_per_gpu(model_, config_.tp));
  const double q_heads = static_cast<double>(model_.num_attention_heads) / config_.tp;
  // The bounds are stored in the KV's format (2 = min and max) over the keys: kv_heads x head_dim channels, or under
  // MLA the cached latent's (kv_bytes_per_token_layer: the latent is the key), scored by each query head.
  const double key_channels =
      model_.is_mla() ? static_cast<double>(model_.kv_lora_rank + model_.qk_rope_head_dim) : head_dim;
  OpCost op;
  op.name = "page_select";
  op.bytes =
      (model_.is_mla() ? sparse_share * pages * 2.0 * kv_quant_token_bytes_
                       : sparse_share * pages * 2.0 * kv_heads * head_dim * kv_element_bits(config_.kv_dtype) / 8.0) +
      sparse_share * pages * q_heads * kTopKBytesPerScore;
  op.flops = sparse_share * pages * q_heads * key_channels * kPageScoreOpsPerChannel;
  // Element-wise scoring runs on the CUDA cores; the tensor peak stands in where a profile lacks the FP32 one.
  const double flop_rate = hardware_.gpu.fp32_flops > 0 ? hardware_.gpu.fp32_flops : compute_flops_;
  op.time_ns =
      roofline_ns(op.flops, flop_rate, op.bytes, hardware_.gpu.hbm_bytes_per_s * config_.efficiency.memory, &op.bound);
  if (explain) {
    op.explain = fmt::format(
        "roofline over the min/max keys of {:.0f} pages of {} tokens in {:.0f} % of the layers and the top-k over "
        "their fp32 scores (Quest page scoring)",
        pages, config_.page_size, sparse_share * 100);
  }
  return op;
}

OpCost CostModel::cpu_attention(const BatchShape& b, bool explain) const {
  // FlexGen sec. 4: the KV stays in host memory and the CPU computes the attention over it; the new tokens' q, k
  // and v go down in one copy, the output comes back in one. The tp ranks of a group run the same layer at once and
  // share the host, so each gets 1 / tp of its cores and DRAM bandwidth (other replicas on the host not counted).
  const double tp = config_.tp;
  const double q_heads = static_cast<double>(model_.num_attention_heads) / tp;
  const double head_dim = static_cast<double>(model_.head_dim);
  const double q_dim = q_heads * head_dim;
  // The new tokens' k and v elements sent down: 2 x kv_heads x head_dim, or under MLA the latent (its bytes in the
  // activation dtype, kv_bytes_per_token_layer, over the activation bytes).
  const double kv_dim = model_.is_mla() ? kv_full_token_bytes_ / act_bytes_
                                        : static_cast<double>(kv_heads_per_gpu(model_, config_.tp)) * head_dim * 2.0;
  // Only the layers whose KV is off the GPU (host memory, or disk after disk_io read it) are attended here.
  const double share = 1.0 - config_.kv_gpu_ratio;
  OpCost op;
  op.name = "cpu_attention";
  op.flops = 4.0 * q_dim * b.cpu_attn_pairs * share;
  const double kv_bytes = b.cpu_kv_read_tokens * kv_quant_token_bytes_ * share;
  const SimTime c_ns = work_time_ns(op.flops, host_flops_ / tp);
  const SimTime m_ns = work_time_ns(kv_bytes, hardware_.host.dram_bytes_per_s * config_.efficiency.host_memory / tp);
  const auto down_bytes = static_cast<uint64_t>(b.cpu_attn_tokens * (q_dim + kv_dim) * act_bytes_ * share);
  const auto up_bytes = static_cast<uint64_t>(b.cpu_attn_tokens * q_dim * act_bytes_ * share);
  const hw::TransferCost down = hw::pcie_copy_time(hardware_, hw::CopyDirection::kDeviceToHost, down_bytes, 1);
  const hw::TransferCost up = hw::pcie_copy_time(hardware_, hw::CopyDirection::kHostToDevice, up_bytes, 1);
  op.pcie_bytes = static_cast<double>(down_bytes + up_bytes);
  op.bytes = kv_bytes + op.pcie_bytes;
  op.time_ns = std::max(c_ns, m_ns) + down.time_ns + up.time_ns;
  op.bound = c_ns >= m_ns ? "host_compute" : "host_memory";
  if (explain) {
    const std::string flops =
        hardware_.host.attention_flops_per_s > 0
            ? fmt::format("{:.1f} GFLOP/s (the profile's host.attention_flops_per_s)", host_flops_ / 1e9)
            : fmt::format("{:.0f} GFLOP/s ({} cores x {:.0f} GFLOP/s, assumed)", host_flops_ / 1e9,
                          hardware_.host.cpu_cores, kHostFlopsPerCore / 1e9);
    op.explain = fmt::format(
        "host roofline: {}, {:.0f} % of {:.0f} GB/s DRAM, per tp rank 1/{}; plus q/k/v down ({}) and output up ({}) "
        "over PCIe",
        flops, config_.efficiency.host_memory * 100, hardware_.host.dram_bytes_per_s / 1e9, config_.tp,
        format_bytes(down_bytes), format_bytes(up_bytes));
  }
  return op;
}

OpCost CostModel::weight_fetch(bool explain) const {
  // FlexGen's weight placement: the host-resident tensors of one layer (layer_weight_bytes_per_gpu) and a layer's
  // part of the host-resident embeddings are copied to the GPU for every layer while the previous layer computes.
  OpCost op;
  op.name = "weight_fetch";
  op.overlapped = true;
  op.channel = OpCost::Channel::kH2d;
  const auto bytes = static_cast<uint64_t>((1.0 - config_.weight_gpu_ratio) * layer_weight_bytes_ +
                                           config_.embed_stream_bytes / static_cast<double>(model_.num_layers));
  const hw::TransferCost in = hw::pcie_copy_time(hardware_, hw::CopyDirection::kHostToDevice, bytes, 1);
  op.bytes = op.pcie_bytes = static_cast<double>(bytes);
  op.time_ns = in.time_ns;
  op.bound = "pcie";
  op.source = in.source == "measured" ? "measured" : "roofline";
  if (explain) {
    op.explain = fmt::format(
        "{:.1f} % of a layer's {} (whole tensors, as FlexGen homes them) and 1/{} of the off-GPU embeddings' {} from "
        "host memory ({}), overlapped with the layer's compute",
        (1.0 - config_.weight_gpu_ratio) * 100, format_bytes(static_cast<uint64_t>(layer_weight_bytes_)),
        model_.num_layers, format_bytes(static_cast<uint64_t>(config_.embed_stream_bytes)), in.source);
  }
  return op;
}

OpCost CostModel::disk_io(const BatchShape& b, bool explain) const {
  // FlexGen with a disk tier: the disk-resident share of a layer's weights is read for every layer; disk-resident
  // KV layers are read for every decode step and their new tokens written; disk-resident activations written and
  // read back. One device serves reads and writes at disk_bytes_per_s.
  OpCost op;
  op.name = "disk_io";
  op.overlapped = true;
  op.channel = OpCost::Channel::kDisk;
  op.bound = "disk";
  const double kv_read = config_.kv_disk_ratio * b.cpu_kv_read_tokens * kv_quant_token_bytes_;
  const double kv_write = config_.kv_disk_ratio * (b.cpu_attn_tokens + b.offload_tokens) * kv_quant_token_bytes_;
  const double act = 2.0 * config_.act_disk_ratio * static_cast<double>(b.num_tokens) *
                     static_cast<double>(model_.hidden_size) * act_bytes_;
  const double weights = config_.weight_disk_ratio * layer_weight_bytes_;
  op.bytes = weights + kv_read + kv_write + act;
  op.time_ns = work_time_ns(op.bytes, config_.disk_bytes_per_s);
  if (explain) {
    op.explain = fmt::format("disk at {:.1f} GB/s: {} of weights, {} of KV read, {} of KV written, {} of activations",
                             config_.disk_bytes_per_s / 1e9, format_bytes(static_cast<uint64_t>(weights)),
                             format_bytes(static_cast<uint64_t>(kv_read)),
                             format_bytes(static_cast<uint64_t>(kv_write)), format_bytes(static_cast<uint64_t>(act)));
  }
  return op;
}

uint64_t CostModel::act_offload_layer_bytes(const BatchShape& b) const {
  return static_cast<uint64_t>(config_.act_offload_ratio * static_cast<double>(b.num_tokens) *
                               static_cast<double>(model_.hidden_size) * act_bytes_);
}

OpCost CostModel::act_transfer(const BatchShape& b, bool load, bool explain) const {
  // FlexGen's activation placement: a layer's input hidden states are loaded from host memory before it runs and its
  // output stored back, for the off-GPU share of them.
  OpCost op;
  op.name = load ? "act_load" : "act_store";
  op.overlapped = true;
  op.channel = load ? OpCost::Channel::kH2d : OpCost::Channel::kD2h;
  op.bound = "pcie";
  const uint64_t bytes = act_offload_layer_bytes(b);
  const hw::TransferCost t = hw::pcie_copy_time(
      hardware_, load ? hw::CopyDirection::kHostToDevice : hw::CopyDirection::kDeviceToHost, bytes, 1);
  op.bytes = op.pcie_bytes = static_cast<double>(bytes);
  op.time_ns = bytes > 0 ? t.time_ns : 0;
  op.source = t.source == "measured" ? "measured" : "roofline";
  if (explain) {
    op.explain = fmt::format("{:.0f} % of the hidden states ({}) {} host memory ({})", config_.act_offload_ratio * 100,
                             format_bytes(bytes), load ? "from" : "to", t.source);
  }
  return op;
}

}  // namespace kvsim::models
