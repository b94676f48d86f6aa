// The project's paged decode-attention kernel (its CPU reference check: decode_check.cu). One CTA per (split, kv_head,
// sequence): the GQA group of G = q_heads / kv_heads query heads (1..8) shares each K/V row it loads, and long contexts
// are split over several CTAs whose partial results (output, log-sum-exp) a second kernel merges, as flash-decoding
// does (Dao et al., "Flash-Decoding for long-context inference", 2023). Head dims 64 (gpt-oss) and 128 (Llama-3.x,
// Qwen2.5). DESIGN.md target: KV read at >= 80 % of the measured HBM read bandwidth (hbm/read) for context >= 4K and
// batch >= 32; decode reads K and V once and writes almost nothing, so the read kernel, not the copy (which counts each
// byte once for two transfers), is the ceiling. Softmax is online (running max and sum) in fp32.
#include <algorithm>
#include <climits>
#include <cmath>
#include <cstdio>
#include <numeric>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "kernels/cuda/attention.cuh"
#include "kernels/cuda/checks.h"
#include "kernels/cuda/common.cuh"
#include "sim/core/error.h"

namespace kvsim::kernels {
namespace cuda {

namespace {

constexpr int kThreads = 128;
constexpr int kTokensPerGroup = 4;  // 4 K and 4 V loads in flight per thread
constexpr int kMinTokensPerSplit = 256;
constexpr int kMaxSplits = 64;
// q_heads / kv_heads up to 8 (Llama-3.1-70B, gpt-oss): q[G][8] and acc[G][8] live in registers, 254 of them at G = 8.
constexpr int kMaxGroup = 8;

// One token's head_dim is read by HD / 8 adjacent lanes, each one 16-byte load of 8 bf16: 16 lanes for 128 dims,
// 8 for 64, so a warp covers 2 or 4 adjacent tokens, 512 contiguous bytes of K (or V) per load either way.
template <int HD>
struct Tile {
  static constexpr int kLanesPerToken = HD / 8;
  static constexpr int kTokenGroups = kThreads / kLanesPerToken;  // tokens side by side: 8 (HD 128), 16 (HD 64)
  static constexpr int kTokensPerIter = kTokenGroups * kTokensPerGroup;
  // The shuffle reduction stays within one token's lanes: a power of two dividing the warp.
  static_assert(HD % 8 == 0 && kLanesPerToken <= 32 && 32 % kLanesPerToken == 0, "lanes per token must divide a warp");
};

struct DecodeParams {
  const __nv_bfloat16* q;
  const __nv_bfloat16* kv;
  const int32_t* block_table;
  const int32_t* context_lens;
  float* out;          // [batch][q_heads][head_dim], written when splits == 1
  float* partial_out;  // [batch][q_heads][splits][head_dim]
  float* partial_lse;  // [batch][q_heads][splits], log2 domain
  int q_heads, kv_heads, block_size, block_shift, max_blocks, splits,
      tokens_per_split;  // block_size = 1 << block_shift
  float scale_log2;      // log2(e) / sqrt(head_dim): scores live in the log2 domain so exp2f does the softmax
};

__device__ inline void bf16x8_to_float(uint4 raw, float (&f)[8]) {
  const __nv_bfloat162* h = reinterpret_cast<const __nv_bfloat162*>(&raw);
#pragma unroll
  for (int i = 0; i < 4; ++i) {
    float2 x = __bfloat1622float2(h[i]);
    f[2 * i] = x.x;
    f[2 * i + 1] = x.y;
  }
}

template <int G, int HD>
__global__ void __launch_bounds__(kThreads) paged_decode_kernel(DecodeParams p) {
  constexpr int kLanes = Tile<HD>::kLanesPerToken, kGroups = Tile<HD>::kTokenGroups;
  constexpr int kTokensPerIter = Tile<HD>::kTokensPerIter;
  const int split = blockIdx.x, kv_head = blockIdx.y, seq = blockIdx.z;
  const int lane = threadIdx.x % kLanes, group = threadIdx.x / kLanes;
  const int context = p.context_lens[seq];
  const int t_begin = split * p.tokens_per_split;
  const int t_end = min(context, t_begin + p.tokens_per_split);

  float q[G][8];
#pragma unroll
  for (int g = 0; g < G; ++g) {
    const __nv_bfloat16* qp = p.q + (static_cast<size_t>(seq) * p.q_heads + kv_head * G + g) * HD + lane * 8;
    bf16x8_to_float(*reinterpret_cast<const uint4*>(qp), q[g]);
#pragma unroll
    for (int j = 0; j < 8; ++j) q[g][j] *= p.scale_log2;
  }
  float m[G], l[G], acc[G][8];
#pragma unroll
  for (int g = 0; g < G; ++g) {
    m[g] = -INFINITY;
    l[g] = 0.f;
#pragma unroll
    for (int j = 0; j < 8; ++j) acc[g][j] = 0.f;
  }

  const int32_t* table = p.block_table + static_cast<size_t>(seq) * p.max_blocks;
  const size_t head_elems = static_cast<size_t>(p.block_size) * HD;  // one (block, K|V, head) run
  const size_t v_offset = static_cast<size_t>(p.kv_heads) * head_elems;

  // Every thread runs the same iterations (the bound is uniform), so the shuffles below always have all lanes.
  for (int base = t_begin; base < t_end; base += kTokensPerIter) {
    uint4 k_raw[kTokensPerGroup], v_raw[kTokensPerGroup];
    bool valid[kTokensPerGroup];
#pragma unroll
    for (int t = 0; t < kTokensPerGroup; ++t) {
      // Adjacent groups take adjacent tokens, so a warp's 2 (HD 128) or 4 (HD 64) token groups read 512 contiguous
      // bytes per load.
      int token = base + t * kGroups + group;
      valid[t] = token < t_end;
      k_raw[t] = v_raw[t] = make_uint4(0, 0, 0, 0);
      if (valid[t]) {
        int block = table[token >> p.block_shift];  // shifts: a runtime division costs ~20 instructions per token
        const __nv_bfloat16* kp = p.kv + (static_cast<size_t>(block) * 2 * p.kv_heads + kv_head) * head_elems +
                                  static_cast<size_t>(token & (p.block_size - 1)) * HD + lane * 8;
        k_raw[t] = __ldcs(reinterpret_cast<const uint4*>(kp));  // streamed once: evict-first
        v_raw[t] = __ldcs(reinterpret_cast<const uint4*>(kp + v_offset));
      }
    }
    float s[kTokensPerGroup][G];
#pragma unroll
    for (int t = 0; t < kTokensPerGroup; ++t) {
      float k[8];
      bf16x8_to_float(k_raw[t], k);
#pragma unroll
      for (int g = 0; g < G; ++g) {
        // Partial dot over this lane's 8 dims, then a butterfly over the token's kLanes lanes (aligned, a power of
        // two): offsets < kLanes never leave them.
        float dot = 0.f;
#pragma unroll
        for (int j = 0; j < 8; ++j) dot = fmaf(q[g][j], k[j], dot);
#pragma unroll
        for (int off = kLanes / 2; off > 0; off /= 2) dot += __shfl_xor_sync(0xffffffffu, dot, off);
        s[t][g] = valid[t] ? dot : -INFINITY;
      }
    }
#pragma unroll
    for (int g = 0; g < G; ++g) {
      float tile_max = s[0][g];
#pragma unroll
      for (int t = 1; t < kTokensPerGroup; ++t) tile_max = fmaxf(tile_max, s[t][g]);
      float m_new = fmaxf(m[g], tile_max);
      if (m_new == -INFINITY) continue;  // no valid token seen yet by this group
      float corr = exp2f(m[g] - m_new);  // 0 on the first valid tile (m = -inf)
      l[g] *= corr;
#pragma unroll
      for (int j = 0; j < 8; ++j) acc[g][j] *= corr;
      m[g] = m_new;
#pragma unroll
      for (int t = 0; t < kTokensPerGroup; ++t) {
        float pr = exp2f(s[t][g] - m_new);  // 0 for invalid tokens
        l[g] += pr;
        float v[8];
        bf16x8_to_float(v_raw[t], v);
#pragma unroll
        for (int j = 0; j < 8; ++j) acc[g][j] = fmaf(pr, v[j], acc[g][j]);
      }
    }
  }

  // Merge the token groups (each ran its own online softmax) through shared memory: kGroups x HD = 1024 floats per
  // query head for either head dim, 32 KiB at G = 8, under the 48 KiB of static shared memory.
  __shared__ float sm_m[kGroups][G], sm_l[kGroups][G];
  __shared__ float sm_acc[kGroups][G][HD];
  static_assert(sizeof(float) * kGroups * G * (HD + 2) <= 48 * 1024, "static shared memory is limited to 48 KiB");
#pragma unroll
  for (int g = 0; g < G; ++g) {
    if (lane == 0) {
      sm_m[group][g] = m[g];
      sm_l[group][g] = l[g];
    }
#pragma unroll
    for (int j = 0; j < 8; ++j) sm_acc[group][g][lane * 8 + j] = acc[g][j];
  }
  __syncthreads();
  for (int idx = threadIdx.x; idx < G * HD; idx += kThreads) {
    int g = idx / HD, d = idx % HD;
    float mx = -INFINITY;
    for (int r = 0; r < kGroups; ++r) mx = fmaxf(mx, sm_m[r][g]);
    float sum = 0.f, o = 0.f;
    if (mx != -INFINITY) {
      for (int r = 0; r < kGroups; ++r) {
        float w = exp2f(sm_m[r][g] - mx);
        sum += sm_l[r][g] * w;
        o += sm_acc[r][g][d] * w;
      }
    }
    int head = kv_head * G + g;
    float value = sum > 0.f ? o / sum : 0.f;
    if (p.splits == 1) {
      p.out[(static_cast<size_t>(seq) * p.q_heads + head) * HD + d] = value;
    } else {
      size_t row = (static_cast<size_t>(seq) * p.q_heads + head) * p.splits + split;
      p.partial_out[row * HD + d] = value;
      if (d == 0) p.partial_lse[row] = sum > 0.f ? mx + log2f(sum) : -INFINITY;
    }
  }
}

// One CTA per (q_head, sequence), one thread per output dimension (blockDim = HD): weights 2^(lse_s - max lse) over
// the splits.
template <int HD>
__global__ void __launch_bounds__(HD)
    merge_splits_kernel(const float* partial_out, const float* partial_lse, int q_heads, int splits, float* out) {
  size_t row = static_cast<size_t>(blockIdx.y) * q_heads + blockIdx.x;
  const float* lse = partial_lse + row * splits;
  float mx = -INFINITY;
  for (int s = 0; s < splits; ++s) mx = fmaxf(mx, lse[s]);
  float sum = 0.f, o = 0.f;
  if (mx != -INFINITY) {
    for (int s = 0; s < splits; ++s) {
      float w = exp2f(lse[s] - mx);
      sum += w;
      o += w * partial_out[(row * splits + s) * HD + threadIdx.x];
    }
  }
  out[row * HD + threadIdx.x] = sum > 0.f ? o / sum : 0.f;
}

using DecodeKernel = void (*)(DecodeParams);
using MergeKernel = void (*)(const float*, const float*, int, int, float*);

// "28 / 4 = 7", "30 / 4 = 7.5"
std::string ratio_str(int q_heads, int kv_heads) {
  std::string s = std::to_string(q_heads) + " / " + std::to_string(kv_heads);
  if (kv_heads == 0) return s;
  if (q_heads % kv_heads == 0) return s + " = " + std::to_string(q_heads / kv_heads);
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", static_cast<double>(q_heads) / kv_heads);
  return s + " = " + buf;
}

// The GQA group size G, refusing what no instantiation covers.
int checked_group(const DecodeShape& shape) {
  if (shape.q_heads < 1 || shape.kv_heads < 1 || shape.q_heads % shape.kv_heads != 0 ||
      shape.q_heads / shape.kv_heads > kMaxGroup)
    throw Error("paged decode attention: q_heads / kv_heads must be an integer in 1.." + std::to_string(kMaxGroup) +
                ", got " + ratio_str(shape.q_heads, shape.kv_heads));
  return shape.q_heads / shape.kv_heads;
}

void check_head_dim(const DecodeShape& shape) {
  if (shape.head_dim != 64 && shape.head_dim != 128)
    throw Error("paged decode attention: head_dim must be 64 or 128, got " + std::to_string(shape.head_dim));
}

// Everything launch_paged_decode needs of the shape, checked on the host before any CUDA call.
void check_shape(const DecodeShape& shape) {
  checked_group(shape);
  check_head_dim(shape);
  if (shape.block_size <= 0 || (shape.block_size & (shape.block_size - 1)) != 0)
    throw Error("paged decode attention: block_size must be a power of two (vLLM uses 8, 16, 32), got " +
                std::to_string(shape.block_size));
  if (shape.batch < 1 || shape.batch > 65535)  // gridDim.z of the decode kernel, gridDim.y of the merge
    throw Error("paged decode attention: batch must be in 1..65535, got " + std::to_string(shape.batch));
  if (shape.max_context < 0 || static_cast<int64_t>(shape.max_blocks) * shape.block_size < shape.max_context)
    throw Error("paged decode attention: max_blocks x block_size must cover max_context, got " +
                std::to_string(shape.max_blocks) + " x " + std::to_string(shape.block_size) + " < " +
                std::to_string(shape.max_context));
}

template <int HD, int... Gm1>
DecodeKernel kernel_for(int group, std::integer_sequence<int, Gm1...>) {
  const DecodeKernel kernels[] = {paged_decode_kernel<Gm1 + 1, HD>...};
  return kernels[group - 1];
}

// The instantiation for the shape's (G, head_dim); throws kvsim::Error for an unsupported one.
DecodeKernel decode_kernel_for(const DecodeShape& shape) {
  int group = checked_group(shape);
  check_head_dim(shape);
  auto groups = std::make_integer_sequence<int, kMaxGroup>();
  return shape.head_dim == 64 ? kernel_for<64>(group, groups) : kernel_for<128>(group, groups);
}

int tokens_per_iter(int head_dim) { return head_dim == 64 ? Tile<64>::kTokensPerIter : Tile<128>::kTokensPerIter; }

int round_up(int x, int to) { return (x + to - 1) / to * to; }

}  // namespace

void check_decode_shape(const DecodeShape& shape) { check_shape(shape); }

int decode_splits(const DecodeShape& shape, int sm_count) {
  int per_sm = 0;
  KVSIM_CUDA_CHECK(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm, decode_kernel_for(shape), kThreads, 0));
  // Fill the GPU in whole waves: among split factors that keep >= kMinTokensPerSplit tokens per split, take the
  // smallest whose wave efficiency (CTAs / (waves x CTAs per wave)) is within 10 % of the best, since every extra split
  // costs a partial write and a merge.
  int64_t wave = static_cast<int64_t>(std::max(per_sm, 1)) * std::max(sm_count, 1);
  int64_t ctas = std::max(1, shape.batch * shape.kv_heads);
  int by_length = std::max(1, (shape.max_context + kMinTokensPerSplit - 1) / kMinTokensPerSplit);
  int limit = std::clamp(by_length, 1, kMaxSplits);
  auto efficiency = [&](int splits) {
    int64_t n = ctas * splits, waves = (n + wave - 1) / wave;
    return static_cast<double>(n) / static_cast<double>(waves * wave);
  };
  double best = 0;
  for (int s = 1; s <= limit; ++s) best = std::max(best, efficiency(s));
  for (int s = 1; s <= limit; ++s)
    if (efficiency(s) >= 0.9 * best) return s;
  return 1;
}

size_t decode_workspace_bytes(const DecodeShape& shape, int splits) {
  check_head_dim(shape);
  return static_cast<size_t>(shape.batch) * shape.q_heads * splits * (shape.head_dim + 1) * sizeof(float);
}

void launch_paged_decode(const DecodeShape& shape, int splits, const __nv_bfloat16* q, const __nv_bfloat16* kv_pool,
                         const int32_t* block_table, const int32_t* context_lens, float* out, void* workspace,
                         cudaStream_t stream) {
  check_shape(shape);
  if (splits < 1) throw Error("paged decode attention: splits must be >= 1, got " + std::to_string(splits));
  if (splits > 1 && workspace == nullptr)
    throw Error("paged decode attention: " + std::to_string(splits) + " splits need a workspace of " +
                std::to_string(decode_workspace_bytes(shape, splits)) + " bytes, got none");
  const DecodeKernel kernel = decode_kernel_for(shape);
  const MergeKernel merge = shape.head_dim == 64 ? merge_splits_kernel<64> : merge_splits_kernel<128>;
  DecodeParams p{};
  p.q = q;
  p.kv = kv_pool;
  p.block_table = block_table;
  p.context_lens = context_lens;
  p.out = out;
  // Workspace: partial_out (rows x head_dim floats), then partial_lse (rows floats).
  size_t rows = static_cast<size_t>(shape.batch) * shape.q_heads * splits;
  p.partial_out = static_cast<float*>(workspace);
  p.partial_lse = p.partial_out ? p.partial_out + rows * shape.head_dim : nullptr;
  p.q_heads = shape.q_heads;
  p.kv_heads = shape.kv_heads;
  p.block_size = shape.block_size;
  p.block_shift = 0;
  while ((1 << p.block_shift) < shape.block_size) ++p.block_shift;
  p.max_blocks = shape.max_blocks;
  p.splits = splits;
  // Split boundaries on multiples of the CTA's token stride keep adjacent token groups on adjacent tokens.
  p.tokens_per_split = round_up((shape.max_context + splits - 1) / splits, tokens_per_iter(shape.head_dim));
  p.scale_log2 = static_cast<float>(1.4426950408889634 / std::sqrt(static_cast<double>(shape.head_dim)));
  dim3 grid(splits, shape.kv_heads, shape.batch);
  kernel<<<grid, kThreads, 0, stream>>>(p);
  KVSIM_CUDA_CHECK_LAUNCH("paged_decode_kernel");
  if (splits > 1) {
    merge<<<dim3(shape.q_heads, shape.batch), shape.head_dim, 0, stream>>>(p.partial_out, p.partial_lse, shape.q_heads,
                                                                           splits, out);
    KVSIM_CUDA_CHECK_LAUNCH("merge_splits_kernel");
  }
}

}  // namespace cuda
}  // namespace kvsim::kernels
