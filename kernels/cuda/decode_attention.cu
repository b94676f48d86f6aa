// The project's paged decode-attention kernel and its CPU reference check. One CTA per (split, kv_head, sequence):
// the GQA group of q_heads / kv_heads query heads shares each K/V row it loads, and long contexts are split over
// several CTAs whose partial results (output, log-sum-exp) a second kernel merges, as flash-decoding does (Dao et al.,
// "Flash-Decoding for long-context inference", 2023). DESIGN.md target: KV read at >= 80 % of the HBM copy bandwidth
// for context >= 4K and batch >= 32. Softmax is online (running max and sum) in fp32.
#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>
#include <vector>

#include "kernels/cuda/attention.cuh"
#include "kernels/cuda/checks.h"
#include "kernels/cuda/common.cuh"
#include "sim/core/error.h"

namespace kvsim::kernels {
namespace cuda {

namespace {

constexpr int kThreads = 128;
constexpr int kLanesPerToken = 16;                       // 16 lanes x 8 bf16 (one 16-byte load each) = 128 dims
constexpr int kTokenGroups = kThreads / kLanesPerToken;  // 8 tokens side by side
constexpr int kTokensPerGroup = 4;                       // 4 K and 4 V loads in flight per thread
constexpr int kTokensPerIter = kTokenGroups * kTokensPerGroup;
constexpr int kMinTokensPerSplit = 256;
constexpr int kMaxSplits = 64;

struct DecodeParams {
  const __nv_bfloat16* q;
  const __nv_bfloat16* kv;
  const int32_t* block_table;
  const int32_t* context_lens;
  float* out;          // [batch][q_heads][128], written when splits == 1
  float* partial_out;  // [batch][q_heads][splits][128]
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

template <int G>
__global__ void __launch_bounds__(kThreads) paged_decode_kernel(DecodeParams p) {
  const int split = blockIdx.x, kv_head = blockIdx.y, seq = blockIdx.z;
  const int lane = threadIdx.x % kLanesPerToken, group = threadIdx.x / kLanesPerToken;
  const int context = p.context_lens[seq];
  const int t_begin = split * p.tokens_per_split;
  const int t_end = min(context, t_begin + p.tokens_per_split);

  float q[G][8];
#pragma unroll
  for (int g = 0; g < G; ++g) {
    const __nv_bfloat16* qp = p.q + (static_cast<size_t>(seq) * p.q_heads + kv_head * G + g) * kHeadDim + lane * 8;
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
  const size_t head_elems = static_cast<size_t>(p.block_size) * kHeadDim;  // one (block, K|V, head) run
  const size_t v_offset = static_cast<size_t>(p.kv_heads) * head_elems;

  // Every thread runs the same iterations (the bound is uniform), so the shuffles below always have all lanes.
  for (int base = t_begin; base < t_end; base += kTokensPerIter) {
    uint4 k_raw[kTokensPerGroup], v_raw[kTokensPerGroup];
    bool valid[kTokensPerGroup];
#pragma unroll
    for (int t = 0; t < kTokensPerGroup; ++t) {
      // Adjacent groups take adjacent tokens, so a warp's two half-warps read 512 contiguous bytes per load.
      int token = base + t * kTokenGroups + group;
      valid[t] = token < t_end;
      k_raw[t] = v_raw[t] = make_uint4(0, 0, 0, 0);
      if (valid[t]) {
        int block = table[token >> p.block_shift];  // shifts: a runtime division costs ~20 instructions per token
        const __nv_bfloat16* kp = p.kv + (static_cast<size_t>(block) * 2 * p.kv_heads + kv_head) * head_elems +
                                  static_cast<size_t>(token & (p.block_size - 1)) * kHeadDim + lane * 8;
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
        float dot = 0.f;
#pragma unroll
        for (int j = 0; j < 8; ++j) dot = fmaf(q[g][j], k[j], dot);
#pragma unroll
        for (int off = kLanesPerToken / 2; off > 0; off /= 2) dot += __shfl_xor_sync(0xffffffffu, dot, off);
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

  // Merge the 8 token groups (each ran its own online softmax) through shared memory.
  __shared__ float sm_m[kTokenGroups][G], sm_l[kTokenGroups][G];
  __shared__ float sm_acc[kTokenGroups][G][kHeadDim];
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
  for (int idx = threadIdx.x; idx < G * kHeadDim; idx += kThreads) {
    int g = idx / kHeadDim, d = idx % kHeadDim;
    float mx = -INFINITY;
    for (int r = 0; r < kTokenGroups; ++r) mx = fmaxf(mx, sm_m[r][g]);
    float sum = 0.f, o = 0.f;
    if (mx != -INFINITY) {
      for (int r = 0; r < kTokenGroups; ++r) {
        float w = exp2f(sm_m[r][g] - mx);
        sum += sm_l[r][g] * w;
        o += sm_acc[r][g][d] * w;
      }
    }
    int head = kv_head * G + g;
    float value = sum > 0.f ? o / sum : 0.f;
    if (p.splits == 1) {
      p.out[(static_cast<size_t>(seq) * p.q_heads + head) * kHeadDim + d] = value;
    } else {
      size_t row = (static_cast<size_t>(seq) * p.q_heads + head) * p.splits + split;
      p.partial_out[row * kHeadDim + d] = value;
      if (d == 0) p.partial_lse[row] = sum > 0.f ? mx + log2f(sum) : -INFINITY;
    }
  }
}

// One CTA per (q_head, sequence), one thread per output dimension: weights 2^(lse_s - max lse) over the splits.
__global__ void __launch_bounds__(kHeadDim)
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
      o += w * partial_out[(row * splits + s) * kHeadDim + threadIdx.x];
    }
  }
  out[row * kHeadDim + threadIdx.x] = sum > 0.f ? o / sum : 0.f;
}

int round_up(int x, int to) { return (x + to - 1) / to * to; }

}  // namespace

int decode_splits(const DecodeShape& shape, int sm_count) {
  int per_sm = 0;
  auto occupancy = [&](auto kernel) {
    KVSIM_CUDA_CHECK(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm, kernel, kThreads, 0));
  };
  switch (shape.kv_heads > 0 ? shape.q_heads / shape.kv_heads : 0) {
    case 1:
      occupancy(paged_decode_kernel<1>);
      break;
    case 2:
      occupancy(paged_decode_kernel<2>);
      break;
    case 4:
      occupancy(paged_decode_kernel<4>);
      break;
    case 8:
      occupancy(paged_decode_kernel<8>);
      break;
    default:
      per_sm = 1;
  }
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
  return static_cast<size_t>(shape.batch) * shape.q_heads * splits * (kHeadDim + 1) * sizeof(float);
}

void launch_paged_decode(const DecodeShape& shape, int splits, const __nv_bfloat16* q, const __nv_bfloat16* kv_pool,
                         const int32_t* block_table, const int32_t* context_lens, float* out, void* workspace,
                         cudaStream_t stream) {
  DecodeParams p{};
  p.q = q;
  p.kv = kv_pool;
  p.block_table = block_table;
  p.context_lens = context_lens;
  p.out = out;
  size_t rows = static_cast<size_t>(shape.batch) * shape.q_heads * splits;
  p.partial_out = static_cast<float*>(workspace);
  p.partial_lse = p.partial_out ? p.partial_out + rows * kHeadDim : nullptr;
  p.q_heads = shape.q_heads;
  p.kv_heads = shape.kv_heads;
  p.block_size = shape.block_size;
  p.block_shift = 0;
  while ((1 << p.block_shift) < shape.block_size) ++p.block_shift;
  if (shape.block_size <= 0 || (1 << p.block_shift) != shape.block_size)
    throw Error("paged decode attention: block_size must be a power of two (vLLM uses 8, 16, 32), got " +
                std::to_string(shape.block_size));
  p.max_blocks = shape.max_blocks;
  p.splits = splits;
  // Split boundaries on multiples of the CTA's token stride keep the half-warp pairs on adjacent tokens.
  p.tokens_per_split = round_up((shape.max_context + splits - 1) / splits, kTokensPerIter);
  p.scale_log2 = static_cast<float>(1.4426950408889634 / std::sqrt(static_cast<double>(kHeadDim)));
  dim3 grid(splits, shape.kv_heads, shape.batch);
  switch (shape.q_heads / shape.kv_heads) {
    case 1:
      paged_decode_kernel<1><<<grid, kThreads, 0, stream>>>(p);
      break;
    case 2:
      paged_decode_kernel<2><<<grid, kThreads, 0, stream>>>(p);
      break;
    case 4:
      paged_decode_kernel<4><<<grid, kThreads, 0, stream>>>(p);
      break;
    case 8:
      paged_decode_kernel<8><<<grid, kThreads, 0, stream>>>(p);
      break;
    default:
      throw Error("paged decode attention: q_heads / kv_heads must be 1, 2, 4 or 8, got " +
                  std::to_string(shape.q_heads) + " / " + std::to_string(shape.kv_heads));
  }
  KVSIM_CUDA_CHECK_LAUNCH("paged_decode_kernel");
  if (splits > 1) {
    merge_splits_kernel<<<dim3(shape.q_heads, shape.batch), kHeadDim, 0, stream>>>(p.partial_out, p.partial_lse,
                                                                                   shape.q_heads, splits, out);
    KVSIM_CUDA_CHECK_LAUNCH("merge_splits_kernel");
  }
}

}  // namespace cuda

DecodeCheck check_decode_attention(int device, int64_t batch, int64_t context, int64_t block_size, int splits) {
  using namespace cuda;
  SuiteOptions options;
  options.device = device;
  DeviceInfo info = open_device(options, "decode attention check");
  DecodeShape shape;
  shape.batch = static_cast<int>(batch);
  shape.q_heads = 32;  // Llama-3.1-8B: 32 query heads, 8 KV heads
  shape.kv_heads = 8;
  shape.block_size = static_cast<int>(block_size);
  shape.max_context = static_cast<int>(context);
  shape.max_blocks = static_cast<int>((context + block_size - 1) / block_size);
  if (splits <= 0) splits = decode_splits(shape, info.sm_count);

  std::vector<int32_t> lens(batch);
  for (int64_t s = 0; s < batch; ++s) lens[s] = static_cast<int32_t>(std::max<int64_t>(1, context - 37 * s));
  int64_t num_blocks = batch * shape.max_blocks + 7;
  std::vector<int32_t> table(static_cast<size_t>(batch * shape.max_blocks));
  std::vector<int32_t> perm(static_cast<size_t>(num_blocks));
  std::iota(perm.begin(), perm.end(), 0);
  std::mt19937 rng(12345);  // fixed: the check must be reproducible
  std::shuffle(perm.begin(), perm.end(), rng);
  std::copy_n(perm.begin(), table.size(), table.begin());

  // Inputs on the host, rounded to bf16 once; the reference uses exactly those values in fp32. Q spans [-4, 4) so
  // the softmax is peaked enough that a misplaced row would show.
  std::uniform_real_distribution<float> unit(-1.f, 1.f);
  size_t q_elems = static_cast<size_t>(batch) * shape.q_heads * kHeadDim;
  size_t kv_elems = static_cast<size_t>(num_blocks) * 2 * shape.kv_heads * block_size * kHeadDim;
  std::vector<__nv_bfloat16> q_h(q_elems), kv_h(kv_elems);
  for (auto& x : q_h) x = __float2bfloat16(4.f * unit(rng));
  for (auto& x : kv_h) x = __float2bfloat16(unit(rng));

  Stream stream;
  DeviceBuffer q_d(q_elems * 2), kv_d(kv_elems * 2), table_d(table.size() * 4), lens_d(lens.size() * 4),
      out_d(q_elems * 4), ws_d(splits > 1 ? decode_workspace_bytes(shape, splits) : 0);
  KVSIM_CUDA_CHECK(cudaMemcpy(q_d.get(), q_h.data(), q_elems * 2, cudaMemcpyHostToDevice));
  KVSIM_CUDA_CHECK(cudaMemcpy(kv_d.get(), kv_h.data(), kv_elems * 2, cudaMemcpyHostToDevice));
  KVSIM_CUDA_CHECK(cudaMemcpy(table_d.get(), table.data(), table.size() * 4, cudaMemcpyHostToDevice));
  KVSIM_CUDA_CHECK(cudaMemcpy(lens_d.get(), lens.data(), lens.size() * 4, cudaMemcpyHostToDevice));
  launch_paged_decode(shape, splits, q_d.get<__nv_bfloat16>(), kv_d.get<__nv_bfloat16>(), table_d.get<int32_t>(),
                      lens_d.get<int32_t>(), out_d.get<float>(), ws_d.get(), stream.get());
  KVSIM_CUDA_CHECK(cudaStreamSynchronize(stream.get()));
  std::vector<float> out_h(q_elems);
  KVSIM_CUDA_CHECK(cudaMemcpy(out_h.data(), out_d.get(), q_elems * 4, cudaMemcpyDeviceToHost));

  DecodeCheck check;
  check.splits = splits;
  int group = shape.q_heads / shape.kv_heads;
  size_t head_elems = static_cast<size_t>(block_size) * kHeadDim;
  for (int64_t s = 0; s < batch; ++s) {
    for (int h = 0; h < shape.q_heads; ++h) {
      int kvh = h / group;
      const __nv_bfloat16* qv = &q_h[(static_cast<size_t>(s) * shape.q_heads + h) * kHeadDim];
      std::vector<double> score(static_cast<size_t>(lens[s]));
      std::vector<const __nv_bfloat16*> vrow(score.size());
      double mx = -INFINITY;
      for (int t = 0; t < lens[s]; ++t) {
        size_t blk = static_cast<size_t>(table[static_cast<size_t>(s) * shape.max_blocks + t / block_size]);
        const __nv_bfloat16* k =
            &kv_h[(blk * 2 * shape.kv_heads + kvh) * head_elems + static_cast<size_t>(t % block_size) * kHeadDim];
        vrow[t] = k + shape.kv_heads * head_elems;
        double dot = 0;
        for (int d = 0; d < kHeadDim; ++d) dot += double(__bfloat162float(qv[d])) * __bfloat162float(k[d]);
        score[t] = dot / std::sqrt(double(kHeadDim));
        mx = std::max(mx, score[t]);
      }
      double sum = 0;
      for (double& x : score) sum += (x = std::exp(x - mx));
      for (int d = 0; d < kHeadDim; ++d) {
        double ref = 0;
        for (int t = 0; t < lens[s]; ++t) ref += score[t] * __bfloat162float(vrow[t][d]);
        ref /= sum;
        double got = out_h[(static_cast<size_t>(s) * shape.q_heads + h) * kHeadDim + d];
        check.max_abs_error = std::max(check.max_abs_error, std::abs(got - ref));
        check.max_abs_reference = std::max(check.max_abs_reference, std::abs(ref));
        ++check.elements;
      }
    }
  }
  return check;
}

}  // namespace kvsim::kernels
