// HBM bandwidth: a vectorised grid-stride copy kernel (bytes copied / s), a read-only reduction, a fill, and
// cudaMemcpyAsync device-to-device as the reference. DESIGN.md "Kernels and calibration targets": the copy kernel
// must come within 5 % of cudaMemcpy D2D, or every calibrated HBM curve inherits the kernel's slowness.
#include <algorithm>
#include <vector>

#include "kernels/cuda/common.cuh"

namespace kvsim::kernels {

namespace {

using namespace cuda;

constexpr int kThreads = 512;
constexpr int kUnroll = 4;  // 4 x 16-byte loads in flight per thread before the first store

// Grid-stride over 16-byte vectors; each thread issues kUnroll loads, then kUnroll stores, to keep enough bytes in
// flight (Little's law: ~3.3 TB/s x ~0.6 us latency on H100 is ~2 MB across the GPU).
__global__ void copy_kernel(const uint4* __restrict__ src, uint4* __restrict__ dst, size_t n_vec) {
  size_t tid = blockIdx.x * static_cast<size_t>(blockDim.x) + threadIdx.x;
  size_t stride = static_cast<size_t>(gridDim.x) * blockDim.x;
  size_t i = tid;
  for (; i + (kUnroll - 1) * stride < n_vec; i += kUnroll * stride) {
    uint4 v[kUnroll];
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) v[u] = __ldcs(src + i + u * stride);  // streaming: no reuse
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) __stcs(dst + i + u * stride, v[u]);
  }
  for (; i < n_vec; i += stride) __stcs(dst + i, __ldcs(src + i));
}

__global__ void read_kernel(const uint4* __restrict__ src, size_t n_vec, uint32_t* __restrict__ out) {
  size_t tid = blockIdx.x * static_cast<size_t>(blockDim.x) + threadIdx.x;
  size_t stride = static_cast<size_t>(gridDim.x) * blockDim.x;
  uint32_t acc = 0;
  size_t i = tid;
  for (; i + (kUnroll - 1) * stride < n_vec; i += kUnroll * stride) {
    uint4 v[kUnroll];
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) v[u] = __ldcs(src + i + u * stride);
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) acc += v[u].x ^ v[u].y ^ v[u].z ^ v[u].w;
  }
  for (; i < n_vec; i += stride) {
    uint4 v = __ldcs(src + i);
    acc += v.x ^ v.y ^ v.z ^ v.w;
  }
  // The per-block result is stored, so the loads cannot be optimised away.
  for (int off = 16; off > 0; off /= 2) acc += __shfl_xor_sync(0xffffffffu, acc, off);
  __shared__ uint32_t warp_sums[kThreads / 32];
  if (threadIdx.x % 32 == 0) warp_sums[threadIdx.x / 32] = acc;
  __syncthreads();
  if (threadIdx.x == 0) {
    uint32_t total = 0;
    for (int w = 0; w < kThreads / 32; ++w) total += warp_sums[w];
    out[blockIdx.x] = total;
  }
}

__global__ void write_kernel(uint4* __restrict__ dst, size_t n_vec, uint32_t pattern) {
  size_t tid = blockIdx.x * static_cast<size_t>(blockDim.x) + threadIdx.x;
  size_t stride = static_cast<size_t>(gridDim.x) * blockDim.x;
  uint4 v = make_uint4(pattern, pattern ^ 0x11111111u, pattern ^ 0x22222222u, pattern ^ 0x33333333u);
  for (size_t i = tid; i < n_vec; i += stride) __stcs(dst + i, v);
}

// Exactly one wave of resident blocks (occupancy x SMs), so the grid-stride loop has no half-empty second wave; never
// more blocks than 512-vector chunks to move.
template <typename Kernel>
int grid_for(Kernel kernel, size_t n_vec, int sm_count) {
  int per_sm = 0;
  KVSIM_CUDA_CHECK(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm, kernel, kThreads, 0));
  size_t wanted = (n_vec + kThreads - 1) / kThreads;
  size_t wave = static_cast<size_t>(sm_count) * static_cast<size_t>(std::max(per_sm, 1));
  return static_cast<int>(std::max<size_t>(1, std::min(wanted, wave)));
}

}  // namespace

std::vector<hw::RawSample> run_hbm_suite(const SuiteOptions& options) {
  DeviceInfo info = open_device(options, "hbm");
  TimingPlan plan = timing_plan(options);
  // 1 MiB .. 8 GiB, bounded by free memory / 3 (source and destination, with room left for the driver).
  uint64_t max_bytes = std::min<uint64_t>(options.max_bytes, device_free_bytes() / 3);
  std::vector<uint64_t> sizes = geometric_sizes(kMiB, std::min<uint64_t>(max_bytes, 8 * kGiB), options.quick ? 4 : 2);
  std::vector<hw::RawSample> out;
  if (sizes.empty()) return out;
  uint64_t cap = sizes.back();
  Stream stream;
  // One partial sum per block: at most 2048 threads per SM on sm_80/sm_90.
  DeviceBuffer src(cap), dst(cap), partial(static_cast<size_t>(info.sm_count) * 2048 / kThreads * sizeof(uint32_t));
  fill_bytes(src.get(), cap, 1, stream.get());
  fill_bytes(dst.get(), cap, 2, stream.get());
  KVSIM_CUDA_CHECK(cudaStreamSynchronize(stream.get()));

  for (uint64_t bytes : sizes) {
    // Rotate through the whole buffer so consecutive calls never hit a working set L2 (50 MiB on H100) still holds.
    uint64_t slots = std::max<uint64_t>(1, cap / bytes);
    auto at = [&](const DeviceBuffer& b, int64_t call) { return b.bytes_ptr() + (call % slots) * bytes; };
    size_t n_vec = bytes / 16;  // sizes are powers of two >= 1 MiB, so whole 16-byte vectors
    int copy_grid = grid_for(copy_kernel, n_vec, info.sm_count);
    int read_grid = grid_for(read_kernel, n_vec, info.sm_count);
    int write_grid = grid_for(write_kernel, n_vec, info.sm_count);
    report(options, "hbm: " + bytes_str(bytes));
    // Calls until the rotation has moved 4 x L2 (a graph replay reruns them, common.cuh).
    const int64_t period = static_cast<int64_t>(std::min<uint64_t>(slots, (4 * info.l2_bytes + bytes - 1) / bytes));
    measure_shape(options, "hbm " + bytes_str(bytes), [&] {
      double copy_s = time_per_call_graph_s(
          stream.get(), plan,
          [&](int64_t call) {
            copy_kernel<<<copy_grid, kThreads, 0, stream.get()>>>(reinterpret_cast<const uint4*>(at(src, call)),
                                                                  reinterpret_cast<uint4*>(at(dst, call)), n_vec);
            KVSIM_CUDA_CHECK_LAUNCH("copy_kernel");
          },
          period);
      double read_s = time_per_call_graph_s(
          stream.get(), plan,
          [&](int64_t call) {
            read_kernel<<<read_grid, kThreads, 0, stream.get()>>>(reinterpret_cast<const uint4*>(at(src, call)), n_vec,
                                                                  partial.get<uint32_t>());
            KVSIM_CUDA_CHECK_LAUNCH("read_kernel");
          },
          period);
      double write_s = time_per_call_graph_s(
          stream.get(), plan,
          [&](int64_t call) {
            write_kernel<<<write_grid, kThreads, 0, stream.get()>>>(reinterpret_cast<uint4*>(at(dst, call)), n_vec,
                                                                    0x9e3779b9u + static_cast<uint32_t>(call));
            KVSIM_CUDA_CHECK_LAUNCH("write_kernel");
          },
          period);
      double memcpy_s = time_per_call_graph_s(
          stream.get(), plan,
          [&](int64_t call) {
            KVSIM_CUDA_CHECK(
                cudaMemcpyAsync(at(dst, call), at(src, call), bytes, cudaMemcpyDeviceToDevice, stream.get()));
          },
          period);
      double b = static_cast<double>(bytes);
      // copy and memcpy_d2d count bytes copied (each byte is read once and written once), not read + write.
      keep_sample(options, out, make_sample("hbm", "copy", {{"bytes", b}}, b / copy_s, "bytes_per_s"));
      keep_sample(options, out, make_sample("hbm", "read", {{"bytes", b}}, b / read_s, "bytes_per_s"));
      keep_sample(options, out, make_sample("hbm", "write", {{"bytes", b}}, b / write_s, "bytes_per_s"));
      keep_sample(options, out, make_sample("hbm", "memcpy_d2d", {{"bytes", b}}, b / memcpy_s, "bytes_per_s"));
    });
  }
  return out;
}

}  // namespace kvsim::kernels
