// Gathering scattered KV rows from pinned host memory into one contiguous GPU buffer, the transfer behind KV offload
// and sparse KV fetch, by five methods at three granularities. Granularities use Llama-3.1-8B's KV geometry (8 KV heads
// x head_dim 128, bf16; its config.json): `token_head` rows of head_dim x 2 B = 256 B (InfiniGen, OSDI'24, selects
// per head), `token_layer` rows of kv_heads x head_dim x 2 (K,V) x 2 B = 4 KiB, and `block` rows of 16 tokens x 8 x 128
// x 2 B = 32 KiB (vLLM swaps one block of one layer's K or V per copy; 16 is vLLM's default block size).
//
// Row selection: `rows` distinct rows drawn uniformly from a pinned pool of at least twice as many rows, then sorted
// (ascending, as a top-k selection or a block list is usually walked). Such a selection has no equal stride, so a
// 2-D copy cannot express it: `memcpy2d` is therefore measured on the strided selection of the same row count (every
// (pool_rows / rows)-th row: e.g. one head's rows across tokens in a [token][head] layout), the only case in which a
// real system could use cudaMemcpy2DAsync. Every other method uses the random sorted selection. Every method shifts
// its selection from one timed call to the next, so small gathers are not served from the CPU's caches.
//
// cpu_staged runs twice, with one thread and with every CPU the process may use (usable_cpu_count: the container's
// quota, not the host's cores); the samples carry `threads`, and the fit keeps one curve per thread count.
#include <algorithm>
#include <random>
#include <thread>
#include <vector>

#include "kernels/cuda/common.cuh"
#include "kernels/cuda/cpu_gather.h"

namespace kvsim::kernels {

namespace {

using namespace cuda;

struct Granularity {
  const char* name;
  uint64_t row_bytes;
};
// Llama-3.1-8B (8 KV heads, head_dim 128, bf16), vLLM block of 16 tokens: see the header comment.
constexpr Granularity kGranularities[] = {
    {"token_head", 128 * 2}, {"token_layer", 8 * 128 * 2 * 2}, {"block", 16 * 8 * 128 * 2}};

// Fixed so every calibration run gathers the same rows; the value itself has no meaning.
constexpr uint64_t kSelectionSeed = 0x6b7673696d676174ull;
// Rows the selection shifts by from one timed call to the next (a prime, so the shifts do not cycle with the pool),
// for every method that reads host memory: no call finds its rows in the CPU's caches (or GPU L2) from the last.
constexpr uint64_t kShiftRowsPerCall = 7919;

// One warp per row (grid-stride over rows); lanes move 16-byte vectors, 4 in flight each, read through the mapped
// device pointer of pinned host memory. `shift` rotates the selection between calls so no row comes from GPU L2.
__global__ void zero_copy_gather_kernel(const uint4* __restrict__ pool, const uint64_t* __restrict__ row_index,
                                        size_t rows, size_t row_vec, uint64_t pool_rows, uint64_t shift,
                                        uint4* __restrict__ dst) {
  size_t warp = (blockIdx.x * static_cast<size_t>(blockDim.x) + threadIdx.x) / 32;
  size_t n_warps = static_cast<size_t>(gridDim.x) * blockDim.x / 32;
  unsigned lane = threadIdx.x % 32;
  for (size_t r = warp; r < rows; r += n_warps) {
    const uint4* s = pool + ((row_index[r] + shift) % pool_rows) * row_vec;
    uint4* d = dst + r * row_vec;
    size_t v = lane;
    for (; v + 96 < row_vec; v += 128) {
      uint4 x0 = s[v], x1 = s[v + 32], x2 = s[v + 64], x3 = s[v + 96];
      d[v] = x0;
      d[v + 32] = x1;
      d[v + 64] = x2;
      d[v + 96] = x3;
    }
    for (; v < row_vec; v += 32) d[v] = s[v];
  }
}

std::vector<uint64_t> random_sorted_rows(uint64_t rows, uint64_t pool_rows, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<uint64_t> all(pool_rows);
  for (uint64_t i = 0; i < pool_rows; ++i) all[i] = i;
  for (uint64_t i = 0; i < rows; ++i) {  // partial Fisher-Yates: the first `rows` entries are a uniform sample
    std::uniform_int_distribution<uint64_t> pick(i, pool_rows - 1);
    std::swap(all[i], all[pick(rng)]);
  }
  all.resize(rows);
  std::sort(all.begin(), all.end());
  return all;
}

}  // namespace

std::vector<hw::RawSample> run_gather_suite(const SuiteOptions& options) {
  DeviceInfo info = open_device(options, "gather");
  TimingPlan plan = timing_plan(options);
  // The host pool is 4 GiB (1 GiB quick), at most an eighth of host memory; a gather takes at most half of it, so the
  // selected rows are always a sparse subset. Row counts 64 .. 64K (quick: 64, 1K, 16K).
  uint64_t pool_bytes = std::min({options.quick ? kGiB : 4 * kGiB, host_physical_bytes() / 8,
                                  std::max<uint64_t>(options.max_bytes, 64 * kMiB), device_free_bytes() / 4});
  std::vector<uint64_t> row_counts = geometric_sizes(64, 64 * 1024, options.quick ? 16 : 4);
  int hw_threads = options.host_max_threads > 0 ? static_cast<int>(options.host_max_threads) : usable_cpu_count();

  report(options, "gather: allocating " + bytes_str(pool_bytes) + " mapped pinned pool");
  Stream stream;
  PinnedBuffer pool(pool_bytes, cudaHostAllocMapped), staging(pool_bytes / 2, cudaHostAllocDefault);
  DeviceBuffer dst(pool_bytes / 2), dev_rows(64 * 1024 * sizeof(uint64_t));
  fill_host_bytes(pool.bytes_ptr(), pool_bytes, 21);
  fill_host_bytes(staging.bytes_ptr(), pool_bytes / 2, 22);
  void* pool_dev = nullptr;
  KVSIM_CUDA_CHECK(cudaHostGetDevicePointer(&pool_dev, pool.bytes_ptr(), 0));
  GatherPool one_thread(1), all_threads(hw_threads);
  bool batched_ok = true;

  std::vector<hw::RawSample> out;
  for (const Granularity& g : kGranularities) {
    uint64_t rb = g.row_bytes, pool_rows = pool_bytes / rb;
    for (uint64_t rows : row_counts) {
      if (rows * 2 > pool_rows) continue;
      uint64_t bytes = rows * rb;
      double b = static_cast<double>(bytes);
      std::map<std::string, double> params = {
          {"rows", static_cast<double>(rows)}, {"row_bytes", static_cast<double>(rb)}, {"bytes", b}};
      auto emit = [&](const char* method, double seconds, std::map<std::string, double> p) {
        keep_sample(
            options, out,
            make_sample("gather", std::string(method) + "/" + g.name, std::move(p), b / seconds, "bytes_per_s"));
      };
      report(options, std::string("gather: ") + g.name + " " + std::to_string(rows) + " rows of " + bytes_str(rb));
      measure_shape(options, std::string("gather ") + g.name + " " + std::to_string(rows) + " rows", [&] {
        std::vector<uint64_t> sel = random_sorted_rows(rows, pool_rows, kSelectionSeed ^ (rows * 131 + rb));
        const uint8_t* src = pool.bytes_ptr();
        uint8_t* d = dst.bytes_ptr();

        emit("per_row",
             time_per_call_s(stream.get(), plan,
                             [&](int64_t call) {
                               const uint64_t shift = static_cast<uint64_t>(call) * kShiftRowsPerCall;
                               for (uint64_t i = 0; i < rows; ++i)
                                 KVSIM_CUDA_CHECK(cudaMemcpyAsync(d + i * rb, src + (sel[i] + shift) % pool_rows * rb,
                                                                  rb, cudaMemcpyHostToDevice, stream.get()));
                             }),
             params);

        // The strided selection (see the header comment), starting at a row that shifts call by call within one stride.
        const uint64_t stride_rows = pool_rows / rows, stride_bytes = stride_rows * rb;
        emit("memcpy2d",
             time_per_call_s(stream.get(), plan,
                             [&](int64_t call) {
                               const uint64_t first = static_cast<uint64_t>(call) * kShiftRowsPerCall % stride_rows;
                               KVSIM_CUDA_CHECK(cudaMemcpy2DAsync(d, rb, src + first * rb, stride_bytes, rb, rows,
                                                                  cudaMemcpyHostToDevice, stream.get()));
                             }),
             params);

#if CUDART_VERSION >= 12080
        if (batched_ok) {
          // Eight shifted copies of the selection, used in turn (the batch's source list is fixed per call).
          constexpr uint64_t kVariants = 8;
          std::vector<void*> dsts(rows);
          std::vector<const void*> srcs(rows * kVariants);
          std::vector<size_t> sizes(rows, rb);
          for (uint64_t i = 0; i < rows; ++i) dsts[i] = d + i * rb;
          for (uint64_t v = 0; v < kVariants; ++v) {
            for (uint64_t i = 0; i < rows; ++i)
              srcs[v * rows + i] = src + (sel[i] + v * kShiftRowsPerCall) % pool_rows * rb;
          }
          int64_t variant = 0;
          cudaMemcpyAttributes attr{};
          attr.srcAccessOrder = cudaMemcpySrcAccessOrderStream;
          size_t attr_index = 0;
          auto batch = [&]() {
#if CUDART_VERSION >= 13000
            return cudaMemcpyBatchAsync(dsts.data(), srcs.data() + (variant % kVariants) * rows, sizes.data(), rows,
                                        &attr, &attr_index, 1, stream.get());
#else  // 12.8 / 12.9: non-const arrays and a failIdx out-parameter
          size_t fail_index = 0;
          return cudaMemcpyBatchAsync(dsts.data(), const_cast<void**>(srcs.data() + (variant % kVariants) * rows),
                                      sizes.data(), rows, &attr, &attr_index, 1, &fail_index, stream.get());
#endif
          };
          // A driver older than the runtime may refuse the batch API: skip the method, say why, keep the rest.
          cudaError_t err = batch();
          if (err != cudaSuccess) {
            cudaGetLastError();
            batched_ok = false;
            report(options, std::string("gather: batched skipped: cudaMemcpyBatchAsync: ") + cudaGetErrorString(err));
          } else {
            KVSIM_CUDA_CHECK(cudaStreamSynchronize(stream.get()));
            emit("batched",
                 time_per_call_s(stream.get(), plan,
                                 [&](int64_t call) {
                                   variant = call;
                                   KVSIM_CUDA_CHECK(batch());
                                 }),
                 params);
          }
        }
#endif

        for (GatherPool* cpu : {&one_thread, &all_threads}) {
          std::map<std::string, double> p = params;
          p["threads"] = cpu->threads();
          emit("cpu_staged",
               time_per_call_host_s(plan,
                                    [&](int64_t call) {
                                      cpu->gather(src, sel.data(), rows, rb, staging.bytes_ptr(),
                                                  static_cast<uint64_t>(call) * kShiftRowsPerCall, pool_rows);
                                      KVSIM_CUDA_CHECK(cudaMemcpyAsync(d, staging.bytes_ptr(), bytes,
                                                                       cudaMemcpyHostToDevice, stream.get()));
                                      KVSIM_CUDA_CHECK(cudaStreamSynchronize(stream.get()));
                                    }),
               p);
          if (hw_threads == 1) break;
        }

        KVSIM_CUDA_CHECK(
            cudaMemcpyAsync(dev_rows.get(), sel.data(), rows * sizeof(uint64_t), cudaMemcpyHostToDevice, stream.get()));
        int blocks = static_cast<int>(std::min<uint64_t>(static_cast<uint64_t>(info.sm_count) * 8, (rows + 7) / 8));
        emit("zero_copy",
             time_per_call_s(stream.get(), plan,
                             [&](int64_t call) {
                               zero_copy_gather_kernel<<<blocks, 256, 0, stream.get()>>>(
                                   static_cast<const uint4*>(pool_dev), dev_rows.get<uint64_t>(), rows, rb / 16,
                                   pool_rows, static_cast<uint64_t>(call) * kShiftRowsPerCall, dst.get<uint4>());
                               KVSIM_CUDA_CHECK_LAUNCH("zero_copy_gather_kernel");
                             }),
             params);
      });
    }
  }
  return out;
}

}  // namespace kvsim::kernels
