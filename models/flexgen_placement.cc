#include "models/flexgen_placement.h"

#include <algorithm>
#include <vector>

#include "models/model_shapes.h"

namespace kvsim::models {

namespace {

enum Tier { kDisk, kCpu, kGpu };

// get_choice: the first tier whose cumulative percentage (disk, then CPU, then GPU) exceeds the midpoint.
Tier tier_of(double midpoint, double gpu, double cpu, double disk) {
  (void)gpu;
  if (midpoint < disk) return kDisk;
  if (midpoint < disk + cpu) return kCpu;
  return kGpu;
}

// Elements per tier of one layer object whose tensors have the given element counts, in order.
struct TierElems {
  double gpu = 0, cpu = 0, disk = 0;
  double total() const { return gpu + cpu + disk; }
};
TierElems place(const std::vector<double>& sizes, double gpu, double cpu, double disk) {
  double total = 0;
  for (double s : sizes) total += s;
  TierElems out;
  double cum = 0;
  for (double s : sizes) {
    if (s <= 0) continue;
    cum += s;
    const Tier t = tier_of((cum - s / 2) / total, gpu, cpu, disk);
    (t == kGpu ? out.gpu : t == kCpu ? out.cpu : out.disk) += s;
  }
  return out;
}

}  // namespace

FlexGenWeightPlacement flexgen_weight_placement(const ModelSpec& m, double gpu, double cpu, double disk, int tp) {
  FlexGenWeightPlacement p;
  const double t = tp, h = static_cast<double>(m.hidden_size), d = static_cast<double>(m.head_dim);
  const double q = static_cast<double>(m.num_attention_heads) * d / t;
  const double kv = static_cast<double>(kv_heads_per_gpu(m, tp)) * d;
  const double norm = m.norm == NormKind::kLayerNorm ? 2 : 1;  // weight (+ bias)
  const double vocab = static_cast<double>(m.vocab_size) * h / t;
  if (m.is_moe()) {
    p.layer_gpu = gpu;
    p.layer_disk = disk;
  } else {
    // SelfAttention.init_weight (flex_opt.py 284-305): w_q, b_q, w_k, b_k, w_v, b_v, w_out, b_out, w_ln, b_ln.
    const double qkv_bias = m.qkv_bias ? 1 : 0;
    std::vector<double> attention = {h * q,   q * qkv_bias,  h * kv, kv * qkv_bias,
                                     h * kv,  kv * qkv_bias, q * h,  m.attention_out_bias ? h : 0,
                                     h * norm};
    if (m.is_mla()) {
      // MLA has no per-head k and v projections: q_b_proj (or q_proj) with kv_b_proj split by heads, q_a_proj with
      // kv_a_proj_with_mqa whole on every rank, o_proj split (models/model_shapes.h), then the norms.
      const detail::AttentionShapes a = detail::attention_shapes(m, 0);
      attention = {static_cast<double>(a.q_weight) / t, static_cast<double>(a.kv_weight),
                   static_cast<double>(a.o_weight) / t, static_cast<double>(a.extra_norms) + h * norm};
    }
    // MLP.init_weight (480-493): wi, bi, wo, bo, w_ln, b_ln (gated: gate, up, down, then the norm).
    const double inter = static_cast<double>(m.intermediate_size) / t;
    const double bias = m.mlp_bias ? 1 : 0;
    std::vector<double> mlp;
    if (m.mlp == MlpKind::kGated) {
      mlp = {h * inter, inter * bias, h * inter, inter * bias, inter * h, h * bias, h * norm};
    } else {
      mlp = {h * inter, inter * bias, inter * h, h * bias, h * norm};
    }
    const TierElems a = place(attention, gpu, cpu, disk), f = place(mlp, gpu, cpu, disk);
    const double layer = a.total() + f.total();
    p.layer_gpu = (a.gpu + f.gpu) / layer;
    p.layer_disk = (a.disk + f.disk) / layer;
  }
  // InputEmbed (152-157): w_token, w_pos. OutputEmbed (216-223): w_ln, b_ln, w_token.
  const double positions =
      m.position == PositionKind::kLearned ? static_cast<double>(m.max_position_embeddings + 2) * h : 0.0;
  const TierElems in = place({vocab, positions}, gpu, cpu, disk);
  const TierElems out = place({h * norm, vocab}, gpu, cpu, disk);
  p.embed_gpu_elems = in.gpu + out.gpu;
  p.embed_off_gpu_elems = in.cpu + in.disk + out.cpu + out.disk;
  p.largest_embed_off_gpu_elems = std::max(in.cpu + in.disk, out.cpu + out.disk);
  return p;
}

FlexGenWeightBytes flexgen_weight_bytes(const ModelSpec& m, DType weight_dtype, double gpu, double cpu, double disk,
                                        int tp) {
  FlexGenWeightBytes b;
  b.placement = flexgen_weight_placement(m, gpu, cpu, disk, tp);
  const FlexGenWeightPlacement& fp = b.placement;
  const double layers = layer_weight_bytes_per_gpu(m, weight_dtype, tp);
  const double element = dtype_bytes(unquantized_dtype(m, weight_dtype));
  const double layer_streamed = (1.0 - fp.layer_gpu) * layers / static_cast<double>(m.num_layers);
  const double buffer = std::max(2.0 * layer_streamed, layer_streamed + fp.largest_embed_off_gpu_elems * element);
  b.gpu_bytes = fp.layer_gpu * layers + fp.embed_gpu_elems * element + buffer;
  b.embed_streamed_bytes = fp.embed_off_gpu_elems * element;
  b.streamed_bytes = (1.0 - fp.layer_gpu) * layers + b.embed_streamed_bytes;
  b.disk_bytes = fp.layer_disk * layers;
  return b;
}

}  // namespace kvsim::models
