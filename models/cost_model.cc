// The cost model's set-up (checks of its configuration, operator parameters, the time cache), batch shapes and the
// launch mode of a batch (cost_model.h).
#include "models/cost_model.h"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>

#include "models/cost_internal.h"
#include "sim/core/error.h"
#include "sim/core/units.h"

namespace kvsim::models {

using detail::kHostFlopsPerCore;

namespace {
constexpr int kCacheSlots = 15;
int cache_slot(const std::string& name) {
  // By first letter and length, without comparing strings: this runs for every op of every iteration.
  const size_t n = name.size();
  switch (name.empty() ? '\0' : name[0]) {
    case 'q':
      return n == 8 ? 0 : -1;  // qkv_proj
    case 'o':
      return n == 6 ? 1 : n == 8 ? 12 : -1;  // o_proj, out_proj
    case 'r':
      return n == 6 ? 2 : n == 4 ? 7 : -1;  // router, rope
    case 'g':
      return n == 12 ? 3 : -1;  // gate_up_proj
    case 'd':
      return n == 9 ? 4 : n == 7 ? 14 : -1;  // down_proj, dt_proj
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
    case 'i':
      return n == 7 ? 11 : -1;  // in_proj
    case 'x':
      return n == 6 ? 13 : -1;  // x_proj
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
  attn_share_ = static_cast<double>(model_.num_attention_layers()) / static_cast<double>(model_.num_layers);
  attention_context_ = !config_.offload && !config_.cpu_attention && !config_.page_selection &&
                       config_.weight_gpu_ratio >= 1.0 && !config_.uses_disk() && config_.act_offload_ratio == 0 &&
                       model_.num_state_layers() == 0 && attn_share_ > 0;
  plain_ = attention_context_ && config_.gpu_batch_size == 0;
  if (model_.num_state_layers() == 0) {
    const size_t cells = 2 * 3 * (kCacheTokens + 1);
    forward_memo_.reset(new std::atomic<SimTime>[cells]);
    for (size_t i = 0; i < cells; ++i) forward_memo_[i].store(-1, std::memory_order_relaxed);
  }
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

}  // namespace kvsim::models
