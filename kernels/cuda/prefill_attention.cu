// The project's simple causal prefill attention: one CTA per (32-query tile, head) walks the 16-key tiles up to the
// diagonal, with fp32 scores, online softmax and fp32 accumulation in shared memory. It is deliberately plain (no
// tensor cores): the calibrated prefill curve is labelled "kvsim-simple", and production flash kernels are timed by the
// validation harness instead (DESIGN.md "Kernels and calibration targets").
#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

#include "kernels/cuda/attention.cuh"
#include "kernels/cuda/checks.h"
#include "kernels/cuda/common.cuh"

namespace kvsim::kernels::cuda {

namespace {

constexpr int kQTile = 32, kKTile = 16, kThreads = 128;  // 4 threads per query row
constexpr int kPad = kHeadDim + 1;                       // row padding against shared-memory bank conflicts

__global__ void __launch_bounds__(kThreads)
    prefill_simple_kernel(const __nv_bfloat16* __restrict__ q, const __nv_bfloat16* __restrict__ k,
                          const __nv_bfloat16* __restrict__ v, float* __restrict__ out, int tokens, int heads,
                          float scale_log2) {
  __shared__ float sq[kQTile][kPad], sk[kKTile][kPad], sv[kKTile][kPad], sp[kQTile][kKTile];
  const int head = blockIdx.y, q0 = blockIdx.x * kQTile;
  // part: keys part*4..+3 of each tile, output dims part, part+4, ... (interleaved so the 4 parts hit 4 banks)
  const int row = threadIdx.x / 4, part = threadIdx.x % 4;
  const int qi = q0 + row;
  const size_t token_stride = static_cast<size_t>(heads) * kHeadDim;

  for (int idx = threadIdx.x; idx < kQTile * kHeadDim; idx += kThreads) {
    int r = idx / kHeadDim, d = idx % kHeadDim;
    sq[r][d] = q0 + r < tokens ? __bfloat162float(q[(q0 + r) * token_stride + head * kHeadDim + d]) * scale_log2 : 0.f;
  }
  float m = -INFINITY, l = 0.f, acc[32];
#pragma unroll
  for (int d = 0; d < 32; ++d) acc[d] = 0.f;

  const int k_end = min(tokens, q0 + kQTile);  // causal: keys up to the tile's last query
  for (int k0 = 0; k0 < k_end; k0 += kKTile) {
    __syncthreads();  // previous tile's sk/sv/sp fully used
    for (int idx = threadIdx.x; idx < kKTile * kHeadDim; idx += kThreads) {
      int r = idx / kHeadDim, d = idx % kHeadDim;
      bool in = k0 + r < tokens;
      size_t at = (k0 + r) * token_stride + head * kHeadDim + d;
      sk[r][d] = in ? __bfloat162float(k[at]) : 0.f;
      sv[r][d] = in ? __bfloat162float(v[at]) : 0.f;
    }
    __syncthreads();
    float s[4];
#pragma unroll
    for (int j = 0; j < 4; ++j) s[j] = 0.f;
    for (int d = 0; d < kHeadDim; ++d) {
      float qd = sq[row][d];
#pragma unroll
      for (int j = 0; j < 4; ++j) s[j] = fmaf(qd, sk[part * 4 + j][d], s[j]);
    }
    float tile_max = -INFINITY;
#pragma unroll
    for (int j = 0; j < 4; ++j) {
      int kj = k0 + part * 4 + j;
      if (kj > qi || kj >= tokens) s[j] = -INFINITY;
      tile_max = fmaxf(tile_max, s[j]);
    }
    // The 4 threads of a row are adjacent lanes of one warp.
    tile_max = fmaxf(tile_max, __shfl_xor_sync(0xffffffffu, tile_max, 1));
    tile_max = fmaxf(tile_max, __shfl_xor_sync(0xffffffffu, tile_max, 2));
    float m_new = fmaxf(m, tile_max);  // finite: key 0 is in the first tile for every row
    float corr = exp2f(m - m_new), sum = 0.f;
#pragma unroll
    for (int j = 0; j < 4; ++j) {
      float pr = exp2f(s[j] - m_new);
      sp[row][part * 4 + j] = pr;
      sum += pr;
    }
    sum += __shfl_xor_sync(0xffffffffu, sum, 1);
    sum += __shfl_xor_sync(0xffffffffu, sum, 2);
    l = l * corr + sum;
    m = m_new;
    __syncwarp();
#pragma unroll
    for (int d = 0; d < 32; ++d) acc[d] *= corr;
    for (int j = 0; j < kKTile; ++j) {
      float pr = sp[row][j];
#pragma unroll
      for (int d = 0; d < 32; ++d) acc[d] = fmaf(pr, sv[j][part + 4 * d], acc[d]);
    }
  }
  if (qi < tokens) {
    float* o = out + qi * token_stride + head * kHeadDim + part;
#pragma unroll
    for (int d = 0; d < 32; ++d) o[4 * d] = acc[d] / l;
  }
}

}  // namespace

void launch_prefill_simple(int tokens, int heads, const __nv_bfloat16* q, const __nv_bfloat16* k,
                           const __nv_bfloat16* v, float* out, cudaStream_t stream) {
  dim3 grid((tokens + kQTile - 1) / kQTile, heads);
  float scale_log2 = static_cast<float>(1.4426950408889634 / std::sqrt(static_cast<double>(kHeadDim)));
  prefill_simple_kernel<<<grid, kThreads, 0, stream>>>(q, k, v, out, tokens, heads, scale_log2);
  KVSIM_CUDA_CHECK_LAUNCH("prefill_simple_kernel");
}

}  // namespace kvsim::kernels::cuda

namespace kvsim::kernels {

DecodeCheck check_prefill_attention(int device, int64_t tokens, int64_t heads) {
  using namespace cuda;
  SuiteOptions options;
  options.device = device;
  open_device(options, "prefill attention check");
  size_t elems = static_cast<size_t>(tokens * heads) * kHeadDim;
  std::mt19937 rng(54321);  // fixed: the check must be reproducible
  std::uniform_real_distribution<float> unit(-2.f, 2.f);
  std::vector<__nv_bfloat16> qkv_h(3 * elems);
  for (auto& x : qkv_h) x = __float2bfloat16(unit(rng));
  DeviceBuffer qkv_d(3 * elems * 2), out_d(elems * 4);
  KVSIM_CUDA_CHECK(cudaMemcpy(qkv_d.get(), qkv_h.data(), 3 * elems * 2, cudaMemcpyHostToDevice));
  Stream stream;
  const __nv_bfloat16* base = qkv_d.get<__nv_bfloat16>();
  launch_prefill_simple(static_cast<int>(tokens), static_cast<int>(heads), base, base + elems, base + 2 * elems,
                        out_d.get<float>(), stream.get());
  KVSIM_CUDA_CHECK(cudaStreamSynchronize(stream.get()));
  std::vector<float> out_h(elems);
  KVSIM_CUDA_CHECK(cudaMemcpy(out_h.data(), out_d.get(), elems * 4, cudaMemcpyDeviceToHost));

  auto at = [&](int which, int64_t t, int64_t h, int d) {
    return static_cast<double>(__bfloat162float(qkv_h[which * elems + (t * heads + h) * kHeadDim + d]));
  };
  DecodeCheck check;
  std::vector<double> p(static_cast<size_t>(tokens));
  for (int64_t h = 0; h < heads; ++h) {
    for (int64_t i = 0; i < tokens; ++i) {
      double mx = -INFINITY, sum = 0;
      for (int64_t j = 0; j <= i; ++j) {
        double dot = 0;
        for (int d = 0; d < kHeadDim; ++d) dot += at(0, i, h, d) * at(1, j, h, d);
        p[j] = dot / std::sqrt(double(kHeadDim));
        mx = std::max(mx, p[j]);
      }
      for (int64_t j = 0; j <= i; ++j) sum += (p[j] = std::exp(p[j] - mx));
      for (int d = 0; d < kHeadDim; ++d) {
        double ref = 0;
        for (int64_t j = 0; j <= i; ++j) ref += p[j] * at(2, j, h, d);
        ref /= sum;
        double got = out_h[(i * heads + h) * kHeadDim + d];
        check.max_abs_error = std::max(check.max_abs_error, std::abs(got - ref));
        check.max_abs_reference = std::max(check.max_abs_reference, std::abs(ref));
        ++check.elements;
      }
    }
  }
  return check;
}

}  // namespace kvsim::kernels
