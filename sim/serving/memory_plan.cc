#include "sim/serving/memory_plan.h"

#include <cmath>
#include <limits>
#include <numeric>

#include <fmt/format.h>

#include "models/flexgen_placement.h"
#include "models/memory_footprint.h"
#include "models/state_space.h"
#include "sim/core/error.h"
#include "sim/core/units.h"

namespace kvsim::sim {

namespace {
int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }
}  // namespace

int64_t hybrid_block_size(int64_t block_size, double attention_token_layer_bytes, double state_layer_bytes) {
  // FlashAttention's kernels take any multiple of 16 tokens per block (FlashAttentionBackend
  // .get_supported_kernel_block_sizes: MultipleOf(16)); the scenario's block size is kept as a factor.
  constexpr int64_t kKernelBlockAlignment = 16;
  const int64_t align = std::lcm(kKernelBlockAlignment, block_size);
  const auto pages = static_cast<int64_t>(
      std::ceil(state_layer_bytes / (static_cast<double>(align) * attention_token_layer_bytes)));
  return std::max(block_size, align * std::max<int64_t>(1, pages));
}

int64_t MemoryPlan::kv_capacity_tokens() const { return num_gpu_blocks / (full_groups + sliding_groups) * block_size; }

MemoryPlan plan_memory(const Scenario& s) {
  const models::ModelSpec& m = s.model;
  const int tp = static_cast<int>(s.cluster.tensor_parallel);
  MemoryPlan p;
  p.hbm_bytes = s.hardware.gpu.hbm_bytes;
  p.usable_bytes =
      static_cast<uint64_t>(std::floor(s.engine.gpu_memory_utilization * static_cast<double>(p.hbm_bytes)));
  p.weights_bytes = static_cast<uint64_t>(std::ceil(models::weight_bytes_per_gpu(m, s.weight_dtype, tp)));
  const sim::TierShares& w = s.cache.weights_share;
  if (w.gpu < 1.0) {
    // FlexGen homes whole tensors by its placement rule and streams the off-GPU ones through a double buffer
    // (models/flexgen_placement.h). Weights on disk are read from the checkpoint's own files, which need no room
    // beside them.
    const models::FlexGenWeightBytes b = models::flexgen_weight_bytes(m, s.weight_dtype, w.gpu, w.cpu, w.disk, tp);
    p.streamed_weights_bytes = static_cast<uint64_t>(std::ceil(b.streamed_bytes));
    p.disk_weights_bytes = static_cast<uint64_t>(std::ceil(b.disk_bytes));
    p.weights_bytes = static_cast<uint64_t>(std::ceil(b.gpu_bytes));
  }
  // The pytorch static engine (FlexGen family) runs no profiling pass: what a batch's prefill holds at once is checked
  // when the batch is formed (models::prefill_transient_bytes against the memory its KV leaves).
  const bool pytorch = s.engine.framework == "pytorch";
  p.activation_bytes =
      pytorch ? 0 : models::activation_peak_bytes(m, activation_tokens(s), activation_seqs(s), s.dtype, tp);
  if (s.cache.retention == "h2o" && !pytorch) {
    // Eager attention keeps a whole prefill's fp32 scores and one layer's full KV (models::eager_attention_bytes).
    p.activation_bytes += models::eager_attention_bytes(m, s.engine.max_num_batched_tokens, s.cache.precision, tp);
  }
  p.non_torch_bytes = models::non_torch_bytes(tp);
  p.block_size = s.cache.block_size;
  const double layer_token_bytes = models::kv_bytes_per_token_layer(m, s.cache.precision, tp);
  if (m.num_state_layers() > 0) p.block_size = hybrid_block_size(s.cache.block_size, layer_token_bytes,
                                                                 models::state_bytes_per_layer(m, s.dtype, tp));

  // Layer groups of equal size, one per attention type and run of layers (vLLM V1's hybrid KV cache manager,
  // vllm/v1/core/kv_cache_utils.py: every group's page has the same bytes). gcd(0, n) = n.
  const int64_t sliding = m.num_sliding_layers(), full = m.num_full_layers(), state = m.num_state_layers();
  p.layers_per_group = std::gcd(std::gcd(full, sliding), state);
  p.full_groups = full / p.layers_per_group;
  p.sliding_groups = sliding / p.layers_per_group;
  p.state_groups = state / p.layers_per_group;
  p.window_blocks = m.sliding_window > 0 ? ceil_div(m.sliding_window, p.block_size) + 1 : 0;
  p.block_bytes =
      static_cast<uint64_t>(std::ceil(layer_token_bytes * static_cast<double>(p.block_size * p.layers_per_group)));
  if (state > 0) {
    // The block size was raised so that one layer's page holds one layer's state (hybrid_block_size): each state
    // group takes one block per running request, its state padded to the page, as vLLM's MambaManager holds it.
    const double group_state_bytes = models::state_bytes_per_layer(m, s.dtype, tp) * static_cast<double>(p.layers_per_group);
    p.state_blocks = p.state_groups *
                     static_cast<int64_t>(std::ceil(group_state_bytes / static_cast<double>(p.block_bytes)));
  }
  p.token_layer_bytes = static_cast<uint64_t>(std::ceil(layer_token_bytes));
  if (s.cache.compute_attention_on == "cpu") {
    // FlexGen: the KV layers in host memory or on disk are attended by the CPU; those on the GPU by the GPU.
    p.kv_on_host = true;
    p.kv_share = s.cache.kv_share;
  } else if (s.cache.placement == "offload") {
    // The GPU keeps partial_weight_ratio of the key columns of every token (InfiniGen sec. 4.3); K is half of K+V.
    p.offload = true;
    p.block_bytes =
        static_cast<uint64_t>(std::ceil(static_cast<double>(p.block_bytes) * s.cache.partial_weight_ratio / 2.0));
    const double full_token_bytes = models::kv_bytes_per_token(m, s.cache.precision, tp);
    p.host_capacity_tokens = static_cast<int64_t>(static_cast<double>(s.cache.host_kv_bytes) / full_token_bytes);
  }

  if (p.weights_bytes >= p.usable_bytes) {
    int fit_tp = 0;
    for (int t : {2, 4, 8, 16, 32, 64}) {
      if (m.num_attention_heads % t == 0 && models::weight_bytes_per_gpu(m, s.weight_dtype, t) < 0.9 * p.usable_bytes) {
        fit_tp = t;
        break;
      }
    }
    const std::string way_out =
        fit_tp > tp ? fmt::format(
                          "set cluster.tensor_parallel >= {} or stream weights from host memory (policy: "
                          "flexgen, or cache.weights_percent with less than 100 on the GPU)",
                          fit_tp)
                    : "use a GPU with more memory or stream weights from host memory (policy: "
                      "flexgen, or cache.weights_percent with less than 100 on the GPU)";
    throw Error(fmt::format("{} needs {:.1f} GiB for weights{} but {} has {:.1f} GiB usable ({:.2f} x {:.1f} GiB): {}",
                            m.name, bytes_to_gib(p.weights_bytes), tp > 1 ? fmt::format(" per GPU at tp={}", tp) : "",
                            s.hardware.name, bytes_to_gib(p.usable_bytes), s.engine.gpu_memory_utilization,
                            bytes_to_gib(p.hbm_bytes), way_out));
  }

  if (p.static_bytes() > p.usable_bytes) {
    // The pool itself may live elsewhere (FlexGen), but the GPU must still hold what every forward pass needs.
    throw Error(
        fmt::format("{} on {}: weights {} + activations {} + non-torch {} = {} exceed the {} usable ({:.2f} x "
                    "{}): lower engine.max_num_batched_tokens{}, keep fewer weights on the GPU or raise "
                    "engine.gpu_memory_utilization",
                    m.name, s.hardware.name, format_bytes(p.weights_bytes), format_bytes(p.activation_bytes),
                    format_bytes(p.non_torch_bytes), format_bytes(p.static_bytes()), format_bytes(p.usable_bytes),
                    s.engine.gpu_memory_utilization, format_bytes(p.hbm_bytes),
                    s.cache.gpu_batch_size > 0 ? " or cache.gpu_batch_size" : ""));
  }
  if (s.engine.num_gpu_blocks) {
    p.num_gpu_blocks = *s.engine.num_gpu_blocks;
  } else {
    uint64_t kv_bytes = 0;
    const uint64_t gpu_free = p.usable_bytes > p.static_bytes() ? p.usable_bytes - p.static_bytes() : 0;
    if (p.kv_on_host) {
      // FlexGen: the pool holds as many blocks as the tightest tier allows for its share of each block.
      double blocks = std::numeric_limits<double>::infinity();
      const double block = static_cast<double>(p.block_bytes);
      const auto tier = [&](double share, uint64_t capacity) {
        if (share > 0) blocks = std::min(blocks, std::floor(static_cast<double>(capacity) / (share * block)));
      };
      tier(p.kv_share.gpu, s.engine.kv_cache_bytes.value_or(gpu_free));
      tier(p.kv_share.cpu, s.cache.host_kv_bytes);
      tier(p.kv_share.disk, s.cache.disk_kv_bytes);
      kv_bytes = static_cast<uint64_t>(std::min(blocks, 9.0e15 / block)) * p.block_bytes;
    } else if (s.engine.kv_cache_bytes) {
      kv_bytes = *s.engine.kv_cache_bytes;
    } else if (p.usable_bytes > p.static_bytes()) {
      kv_bytes = p.usable_bytes - p.static_bytes();
    }
    p.num_gpu_blocks = static_cast<int64_t>(kv_bytes / p.block_bytes);
  }
  p.kv_cache_bytes = checked_mul(static_cast<uint64_t>(p.num_gpu_blocks), p.block_bytes, "kv cache bytes");
  {
    const uint64_t taken = p.static_bytes() + p.gpu_kv_bytes(p.num_gpu_blocks);
    p.spare_gpu_bytes = p.usable_bytes > taken ? p.usable_bytes - taken : 0;
    // A KV size given outright must still fit the GPU (vLLM would fail allocating it).
    if ((s.engine.kv_cache_bytes || s.engine.num_gpu_blocks) && taken > p.hbm_bytes) {
      throw Error(fmt::format("{}: {} of KV per GPU plus {} of weights and activations exceed {}'s {} of HBM",
                              s.engine.kv_cache_bytes ? "engine.kv_cache_bytes" : "engine.num_gpu_blocks",
                              format_bytes(p.gpu_kv_bytes(p.num_gpu_blocks)), format_bytes(p.static_bytes()),
                              s.hardware.name, format_bytes(p.hbm_bytes)));
    }
  }
  if (s.cache.residual_tokens > 0) {
    // The residual window's tokens take full-precision bytes instead of quantised ones, in every layer.
    const double extra = static_cast<double>(s.cache.residual_tokens) * static_cast<double>(m.num_layers) *
                         (models::kv_bytes_per_token_layer(m, s.dtype, tp) - layer_token_bytes);
    p.residual_extra_blocks = static_cast<int64_t>(std::ceil(extra / static_cast<double>(p.block_bytes)));
  }

  // Host memory is a tier too: the swap space of every GPU of a server lives in that server's DRAM.
  if (s.cache.preemption == "swap") {
    const int64_t gpus = std::min(s.hardware.gpus_per_node, s.cluster.replicas * s.cluster.tensor_parallel);
    const uint64_t host_bytes = checked_mul(s.cache.swap_space_bytes, static_cast<uint64_t>(gpus), "swap space");
    if (host_bytes > s.hardware.host.dram_bytes) {
      throw Error(fmt::format("cache.swap_space_bytes {} x {} GPUs per server = {} exceeds the {} of host memory of {}",
                              format_bytes(s.cache.swap_space_bytes), gpus, format_bytes(host_bytes),
                              format_bytes(s.hardware.host.dram_bytes), s.hardware.name));
    }
  }

  const uint64_t host_weights = p.streamed_weights_bytes - p.disk_weights_bytes;
  const uint64_t host_kv = p.host_kv_bytes(p.num_gpu_blocks);
  if (host_weights + host_kv > s.hardware.host.dram_bytes) {
    throw Error(fmt::format(
        "{} of streamed weights and {} of KV pool exceed the {} of host memory of {}: lower "
        "cache.host_kv_bytes, or move weights or KV to the GPU or disk (cache.weights_percent, "
        "cache.kv_percent)",
        format_bytes(host_weights), format_bytes(host_kv), format_bytes(s.hardware.host.dram_bytes), s.hardware.name));
  }
  // Everything a server's GPUs keep in its DRAM together: per GPU, the swap space, an offloaded or tiered host pool,
  // FlexGen's host share of the KV and its host-resident weights.
  {
    const int64_t gpus = std::min(s.hardware.gpus_per_node, s.cluster.replicas * s.cluster.tensor_parallel);
    const uint64_t swap = s.cache.preemption == "swap" ? s.cache.swap_space_bytes : 0;
    const uint64_t pool = p.offload || s.cache.placement == "tiered" ? s.cache.host_kv_bytes : 0;
    const uint64_t per_gpu = checked_add(checked_add(swap, pool, "host memory"), host_weights + host_kv, "host memory");
    const uint64_t total = checked_mul(per_gpu, static_cast<uint64_t>(gpus), "host memory");
    if (total > s.hardware.host.dram_bytes) {
      throw Error(fmt::format(
          "host memory: {} GPUs per server x ({} swap space + {} host KV pool + {} of KV and {} of weights kept "
          "on the host) = {} exceeds the {} of {}: lower cache.swap_space_bytes or cache.host_kv_bytes",
          gpus, format_bytes(swap), format_bytes(pool), format_bytes(host_kv), format_bytes(host_weights),
          format_bytes(total), format_bytes(s.hardware.host.dram_bytes), s.hardware.name));
    }
  }
  if (p.offload && p.host_capacity_tokens < s.engine.max_model_len) {
    throw Error(fmt::format("cache.host_kv_bytes {} holds {} tokens of KV, fewer than engine.max_model_len {}",
                            format_bytes(s.cache.host_kv_bytes), p.host_capacity_tokens, s.engine.max_model_len));
  }
  const int64_t needed = p.blocks_for_tokens(s.engine.max_model_len);
  if (p.num_gpu_blocks == 0 && s.engine.kv_cache_bytes && !p.kv_on_host) {
    throw Error(fmt::format("engine.kv_cache_bytes {} holds no KV block of {} ({} tokens of {}): raise it",
                            format_bytes(*s.engine.kv_cache_bytes), format_bytes(p.block_bytes), p.block_size,
                            m.name));
  }
  if (p.num_gpu_blocks == 0) {
    throw Error(fmt::format(
        "no KV block fits on {}: {} of weights and {} of activations leave no room of the usable {} (HBM x "
        "engine.gpu_memory_utilization); raise engine.gpu_memory_utilization, add tensor parallelism, or choose a "
        "larger GPU",
        s.hardware.name, format_bytes(p.weights_bytes), format_bytes(p.activation_bytes),
        format_bytes(p.usable_bytes)));
  }
  if (p.num_gpu_blocks < needed) {
    throw Error(fmt::format(
        "engine.max_model_len {} needs {} KV blocks but only {} fit on {} ({} tokens, {} of KV after {} weights and "
        "{} activations): lower engine.max_model_len to <= {}, raise engine.gpu_memory_utilization, or add "
        "tensor parallelism",
        s.engine.max_model_len, needed, p.num_gpu_blocks, s.hardware.name, p.kv_capacity_tokens(),
        format_bytes(p.kv_cache_bytes), format_bytes(p.weights_bytes), format_bytes(p.activation_bytes),
        p.kv_capacity_tokens()));
  }
  return p;
}

}  // namespace kvsim::sim
