// The CPU-reference check of the paged decode-attention kernel (kernels/cuda/checks.h): the kernel on a shuffled block
// table of bf16 Q/K/V against a naive fp32 attention over the same values; and the split-K scratch a shape needs.
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

namespace {

// A check-shape count as an int in [lo, hi], or a kvsim::Error naming it.
int checked_int(const char* name, int64_t value, int64_t lo, int64_t hi) {
  if (value < lo || value > hi)
    throw Error("decode attention check: " + std::string(name) + " must be in " + std::to_string(lo) + ".." +
                std::to_string(hi) + ", got " + std::to_string(value));
  return static_cast<int>(value);
}

// The kernel's shape for a check's request, refused (kvsim::Error naming the value) before any CUDA call.
cuda::DecodeShape checked_shape(const DecodeCheckShape& request) {
  cuda::DecodeShape shape;
  shape.batch = checked_int("batch", request.batch, 1, 65535);
  shape.q_heads = request.q_heads;
  shape.kv_heads = request.kv_heads;
  shape.head_dim = request.head_dim;
  shape.block_size = checked_int("block_size", request.block_size, 1, 1 << 20);
  shape.max_context = checked_int("context", request.context, 1, INT_MAX / 2);
  shape.max_blocks = (shape.max_context + shape.block_size - 1) / shape.block_size;
  cuda::check_decode_shape(shape);
  return shape;
}

}  // namespace

size_t decode_scratch_bytes(int device, const DecodeCheckShape& request) {
  using namespace cuda;
  const DecodeShape shape = checked_shape(request);
  SuiteOptions options;
  options.device = device;
  const DeviceInfo info = open_device(options, "decode scratch size");
  return decode_workspace_bytes(shape, decode_splits(shape, info.sm_count));
}

DecodeCheck check_decode_attention(int device, const DecodeCheckShape& request) {
  using namespace cuda;
  // The shape is refused here, before any CUDA call, so that a host without a GPU can test the refusals.
  const DecodeShape shape = checked_shape(request);
  int splits = checked_int("splits", request.splits, 0, 1 << 16);

  SuiteOptions options;
  options.device = device;
  DeviceInfo info = open_device(options, "decode attention check");
  if (splits == 0) splits = decode_splits(shape, info.sm_count);

  const int64_t batch = shape.batch, block_size = shape.block_size, head_dim = shape.head_dim;
  std::vector<int32_t> lens(static_cast<size_t>(batch));
  for (int64_t s = 0; s < batch; ++s) lens[s] = static_cast<int32_t>(std::max<int64_t>(1, shape.max_context - 37 * s));
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
  size_t q_elems = static_cast<size_t>(batch) * shape.q_heads * head_dim;
  size_t kv_elems = static_cast<size_t>(num_blocks) * 2 * shape.kv_heads * block_size * head_dim;
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
  // NaN bytes, so an output element the kernel never writes cannot pass as a match.
  KVSIM_CUDA_CHECK(cudaMemset(out_d.get(), 0xff, q_elems * 4));
  launch_paged_decode(shape, splits, q_d.get<__nv_bfloat16>(), kv_d.get<__nv_bfloat16>(), table_d.get<int32_t>(),
                      lens_d.get<int32_t>(), out_d.get<float>(), ws_d.get(), stream.get());
  KVSIM_CUDA_CHECK(cudaStreamSynchronize(stream.get()));
  std::vector<float> out_h(q_elems);
  KVSIM_CUDA_CHECK(cudaMemcpy(out_h.data(), out_d.get(), q_elems * 4, cudaMemcpyDeviceToHost));

  DecodeCheck check;
  check.splits = splits;
  int group = shape.q_heads / shape.kv_heads;
  size_t head_elems = static_cast<size_t>(block_size) * head_dim;
  for (int64_t s = 0; s < batch; ++s) {
    for (int h = 0; h < shape.q_heads; ++h) {
      int kvh = h / group;
      const __nv_bfloat16* qv = &q_h[(static_cast<size_t>(s) * shape.q_heads + h) * head_dim];
      std::vector<double> score(static_cast<size_t>(lens[s]));
      std::vector<const __nv_bfloat16*> vrow(score.size());
      double mx = -INFINITY;
      for (int t = 0; t < lens[s]; ++t) {
        size_t blk = static_cast<size_t>(table[static_cast<size_t>(s) * shape.max_blocks + t / block_size]);
        const __nv_bfloat16* k =
            &kv_h[(blk * 2 * shape.kv_heads + kvh) * head_elems + static_cast<size_t>(t % block_size) * head_dim];
        vrow[t] = k + shape.kv_heads * head_elems;
        double dot = 0;
        for (int d = 0; d < head_dim; ++d) dot += double(__bfloat162float(qv[d])) * __bfloat162float(k[d]);
        score[t] = dot / std::sqrt(double(head_dim));
        mx = std::max(mx, score[t]);
      }
      double sum = 0;
      for (double& x : score) sum += (x = std::exp(x - mx));
      for (int d = 0; d < head_dim; ++d) {
        double ref = 0;
        for (int t = 0; t < lens[s]; ++t) ref += score[t] * __bfloat162float(vrow[t][d]);
        ref /= sum;
        double got = out_h[(static_cast<size_t>(s) * shape.q_heads + h) * head_dim + d];
        // NaN compares false with everything: count it as an infinite error rather than let std::max drop it.
        double err = std::isfinite(got) ? std::abs(got - ref) : INFINITY;
        check.max_abs_error = std::max(check.max_abs_error, err);
        check.max_abs_reference = std::max(check.max_abs_reference, std::abs(ref));
        ++check.elements;
      }
    }
  }
  return check;
}

}  // namespace kvsim::kernels
