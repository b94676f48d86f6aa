// The cost model's step times: one layer's compute and copy channels, the forward pass, the FlexGen family's
// eager PyTorch iteration, the engine's CPU work per iteration and the launch of its kernels (cost_model.h).
#include <algorithm>
#include <cmath>

#include "models/cost_model.h"
#include "sim/core/units.h"

namespace kvsim::models {

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
  const auto channel = [&t](const OpCost& op) {
    if (op.channel == OpCost::Channel::kD2h) {
      t.d2h += op.time_ns;
    } else if (op.channel == OpCost::Channel::kDisk) {
      t.disk += op.time_ns;
    } else {
      t.h2d += op.time_ns;
      if (op.name == "weight_fetch") t.weights += op.time_ns;
    }
  };
  const auto compute = [&t](const OpCost& op) {
    (op.name == "embedding" || op.name == "lm_head" ? t.once : t.compute) += op.time_ns * t.parts;
  };
  // The copies (overlapped ops) of the whole batch; the compute of one GPU batch, once per GPU batch. The token ops
  // come from the memo where it reaches (none is a copy) and the context ops are listed; else every op is listed.
  // One buffer per thread (sweeps run points on threads sharing a cost model), reused every iteration.
  thread_local std::vector<OpCost> scratch;
  const BatchShape part = t.parts > 1 ? b.split(t.parts) : b;
  SimTime rest = 0, once = 0;
  const Launch part_mode = launch_mode(part);
  const bool memo = memo_sums(part, part_mode, rest, once);
  t.compute = rest * t.parts;
  t.once = once * t.parts;
  if (memo && attention_context_) {  // no copy; attention's numbers alone
    t.compute += plain_attention_ns(part_mode, part) * t.parts;
    return t;
  }
  const auto list = [&](const BatchShape& x) {
    if (!memo) return ops_into(x, false, scratch);
    scratch.clear();
    context_ops_into(attention_params(launch_mode(x)), x, false, scratch);
  };
  list(b);
  for (const OpCost& op : scratch) {
    if (op.overlapped) {
      channel(op);
    } else if (t.parts == 1) {
      compute(op);
    }
  }
  if (t.parts > 1) {
    list(part);
    for (const OpCost& op : scratch) {
      if (!op.overlapped) compute(op);
    }
  }
  return t;
}

SimTime CostModel::forward_ns(const BatchShape& b) const {
  if (plain_ && b.num_tokens > 0) {
    if (const SimTime ns = plain_forward_ns(b); ns >= 0) return ns;
  }
  const LayerTimes t = layer_times(b);
  return std::max({t.compute, t.h2d, t.d2h, t.disk}) * model_.num_layers + t.once;
}

bool CostModel::memo_sums(const BatchShape& b, Launch mode, SimTime& rest, SimTime& once) const {
  const int64_t tokens = padded_tokens(b);
  if (!forward_memo_ || tokens > kCacheTokens || b.num_sampled > kCacheTokens) return false;
  // Cells [parameters: eager, graph][sum: per-layer token ops, embedding, lm_head][tokens or rows].
  const size_t graph = mode == Launch::kEager ? 0 : 1;
  const auto cell = [&](size_t sum, int64_t index) -> std::atomic<SimTime>& {
    return forward_memo_[(graph * 3 + sum) * (kCacheTokens + 1) + static_cast<size_t>(index)];
  };
  rest = cell(0, tokens).load(std::memory_order_relaxed);
  SimTime embedding = cell(1, tokens).load(std::memory_order_relaxed);
  SimTime head = cell(2, b.num_sampled).load(std::memory_order_relaxed);
  if (rest < 0 || embedding < 0 || head < 0) {
    thread_local std::vector<OpCost> scratch;
    ops_into(b, false, scratch, OpSet::kTokens);
    rest = embedding = head = 0;
    for (const OpCost& op : scratch) {
      (op.name == "embedding" ? embedding : op.name == "lm_head" ? head : rest) += op.time_ns;
    }
    cell(0, tokens).store(rest, std::memory_order_relaxed);
    cell(1, tokens).store(embedding, std::memory_order_relaxed);
    cell(2, b.num_sampled).store(head, std::memory_order_relaxed);
  }
  once = embedding + head;
  return true;
}

SimTime CostModel::plain_forward_ns(const BatchShape& b) const {
  const Launch mode = launch_mode(b);
  SimTime rest = 0, once = 0;
  if (!memo_sums(b, mode, rest, once)) return -1;
  return (rest + plain_attention_ns(mode, b)) * model_.num_layers + once;
}

SimTime CostModel::plain_attention_ns(Launch mode, const BatchShape& b) const {
  // Attention as ops_into prices it: eager between piecewise graphs, in the graph when the whole pass is one.
  const SimTime ns = attention_terms(attention_params(mode), b).time_ns;
  return attn_share_ < 1.0 ? static_cast<SimTime>(std::llround(static_cast<double>(ns) * attn_share_)) : ns;
}

CostModel::FixedBatch CostModel::fixed_batch(const BatchShape& b) const {
  FixedBatch f;
  f.cost_ = this;
  if (config_.pytorch_host || !plain_ || b.num_tokens == 0) return f;
  f.mode_ = launch_mode(b);
  if (!memo_sums(b, f.mode_, f.rest_ns_, f.once_ns_)) return f;
  f.cpu_ns_ = cpu_overhead_ns(b);
  f.launch_ns_ = launch_ns(b);
  f.fixed_ = true;
  return f;
}

SimTime CostModel::FixedBatch::ns(const BatchShape& b) const {
  if (!fixed_) return cost_->iteration_ns(b);
  const SimTime forward = (rest_ns_ + cost_->plain_attention_ns(mode_, b)) * cost_->model_.num_layers + once_ns_;
  return cpu_ns_ + std::max(forward, launch_ns_);
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
    gpu = std::max({one_batch, t.weights + h2d, d2h, disk}) + (t.parts - 1) * std::max({one_batch, h2d, d2h, disk});
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
