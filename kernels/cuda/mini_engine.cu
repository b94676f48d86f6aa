// The mini decode engine of kernels/mini_engine.h: a batch schedule run with the calibration kernels, timed per
// iteration.
#include <cublasLt.h>
#include <cuda_bf16.h>

#include <algorithm>
#include <map>
#include <memory>
#include <numeric>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "kernels/cuda/attention.cuh"
#include "kernels/cuda/common.cuh"
#include "kernels/cuda/cpu_gather.h"
#include "kernels/mini_engine.h"
#include "sim/core/error.h"

namespace kvsim::kernels {

namespace {

using namespace cuda;

constexpr size_t kWorkspaceBytes = 32 * kMiB;

// Y[m x n] = X[m x k] W[n x k]^T in bf16 with fp32 compute through cuBLASLt, the heuristic's first algorithm; the
// descriptors of each (m, n, k) are built once.
class LtGemm {
 public:
  LtGemm() : workspace_(kWorkspaceBytes) { KVSIM_CUBLAS_CHECK(cublasLtCreate(&handle_)); }
  ~LtGemm() {
    for (auto& [key, p] : plans_) {
      cublasLtMatrixLayoutDestroy(p.a);
      cublasLtMatrixLayoutDestroy(p.b);
      cublasLtMatrixLayoutDestroy(p.c);
      cublasLtMatmulDescDestroy(p.op);
    }
    cublasLtDestroy(handle_);
  }
  LtGemm(const LtGemm&) = delete;
  LtGemm& operator=(const LtGemm&) = delete;

  void run(int64_t m, int64_t n, int64_t k, const void* w, const void* x, void* y, cudaStream_t stream) {
    if (m <= 0) return;
    Plan& p = plan(m, n, k);
    const float alpha = 1.0f, beta = 0.0f;
    KVSIM_CUBLAS_CHECK(cublasLtMatmul(handle_, p.op, &alpha, w, p.a, x, p.b, &beta, y, p.c, y, p.c, &p.algo,
                                      workspace_.get(), kWorkspaceBytes, stream));
  }

 private:
  struct Plan {
    cublasLtMatmulDesc_t op = nullptr;
    cublasLtMatrixLayout_t a = nullptr, b = nullptr, c = nullptr;
    cublasLtMatmulAlgo_t algo{};
  };

  Plan& plan(int64_t m, int64_t n, int64_t k) {
    const auto key = std::make_tuple(m, n, k);
    if (auto it = plans_.find(key); it != plans_.end()) return it->second;
    Plan p;
    KVSIM_CUBLAS_CHECK(cublasLtMatmulDescCreate(&p.op, CUBLAS_COMPUTE_32F, CUDA_R_32F));
    cublasOperation_t ta = CUBLAS_OP_T, tb = CUBLAS_OP_N;
    KVSIM_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(p.op, CUBLASLT_MATMUL_DESC_TRANSA, &ta, sizeof ta));
    KVSIM_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(p.op, CUBLASLT_MATMUL_DESC_TRANSB, &tb, sizeof tb));
    // Column-major, as the GEMM suite: A (weights) k x n transposed, B (activations) k x m, C n x m.
    KVSIM_CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&p.a, CUDA_R_16BF, static_cast<uint64_t>(k), static_cast<uint64_t>(n), k));
    KVSIM_CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&p.b, CUDA_R_16BF, static_cast<uint64_t>(k), static_cast<uint64_t>(m), k));
    KVSIM_CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&p.c, CUDA_R_16BF, static_cast<uint64_t>(n), static_cast<uint64_t>(m), n));
    cublasLtMatmulPreference_t pref = nullptr;
    KVSIM_CUBLAS_CHECK(cublasLtMatmulPreferenceCreate(&pref));
    uint64_t ws = kWorkspaceBytes;
    KVSIM_CUBLAS_CHECK(
        cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &ws, sizeof ws));
    cublasLtMatmulHeuristicResult_t h{};
    int found = 0;
    const cublasStatus_t st = cublasLtMatmulAlgoGetHeuristic(handle_, p.op, p.a, p.b, p.c, p.c, pref, 1, &h, &found);
    cublasLtMatmulPreferenceDestroy(pref);
    if (st != CUBLAS_STATUS_SUCCESS || found == 0) {
      throw Error("mini engine: cuBLASLt has no bf16 algorithm for m=" + std::to_string(m) + " n=" + std::to_string(n) +
                  " k=" + std::to_string(k));
    }
    p.algo = h.algo;
    return plans_.emplace(key, p).first->second;
  }

  cublasLtHandle_t handle_ = nullptr;
  DeviceBuffer workspace_;
  std::map<std::tuple<int64_t, int64_t, int64_t>, Plan> plans_;
};

// H2O's per-step bookkeeping: every kept token's accumulated score per head gains this step's attention weight, and
// the least-scored is searched to evict (a read and a write of the fp32 accumulator plus a read for the min).
__global__ void accumulate_and_min(float* scores, const float* step, int64_t n, float* block_min) {
  __shared__ float best[256];
  float m = 3.4e38f;
  for (int64_t i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const float v = scores[i] + step[i];
    scores[i] = v;
    m = fminf(m, v);
  }
  best[threadIdx.x] = m;
  __syncthreads();
  for (int s = blockDim.x / 2; s > 0; s /= 2) {
    if (threadIdx.x < s) best[threadIdx.x] = fminf(best[threadIdx.x], best[threadIdx.x + s]);
    __syncthreads();
  }
  if (threadIdx.x == 0) block_min[blockIdx.x] = best[0];
}

// x = silu(gate) * up, the gated MLP's activation, in place over the first half.
__global__ void silu_mul(__nv_bfloat16* gate_up, int64_t tokens, int64_t inter) {
  for (int64_t i = blockIdx.x * blockDim.x + threadIdx.x; i < tokens * inter;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t t = i / inter, j = i % inter;
    const float g = __bfloat162float(gate_up[t * 2 * inter + j]);
    const float u = __bfloat162float(gate_up[t * 2 * inter + inter + j]);
    gate_up[t * 2 * inter + j] = __float2bfloat16(g / (1.0f + __expf(-g)) * u);
  }
}

int grid_for(int64_t n) { return static_cast<int>(std::clamp<int64_t>((n + 255) / 256, 1, 4096)); }

}  // namespace

std::vector<double> run_mini_engine(const MiniEngineModel& m, const std::vector<MiniIteration>& schedule,
                                    const MiniEngineOptions& options) {
  SuiteOptions so;
  so.device = options.device;
  const DeviceInfo info = open_device(so, "mini engine");
  // The simple prefill kernel is head_dim 128 only; the decode kernel takes any GQA group of 1..8.
  if (m.head_dim != kHeadDim) {
    throw Error("mini engine: head_dim must be " + std::to_string(kHeadDim) + " (the prefill kernel's), found " +
                std::to_string(m.head_dim));
  }
  const int64_t group = m.q_heads / std::max<int64_t>(1, m.kv_heads);
  if (m.kv_heads < 1 || m.q_heads % m.kv_heads != 0 || group < 1 || group > 8) {
    throw Error("mini engine: q_heads / kv_heads must be an integer in 1..8, found " + std::to_string(m.q_heads) +
                " / " + std::to_string(m.kv_heads));
  }
  const int bs = options.block_size;
  const int64_t hd = m.head_dim, q_dim = m.q_heads * hd, kv_dim = m.kv_heads * hd;
  // Each iteration's split-K factor, as the loop below computes it, sizes the scratch (mini_engine_sizes).
  auto decode_shape = [&](int64_t batch, int64_t max_context, int64_t max_blocks) {
    DecodeShape shape;
    shape.batch = static_cast<int>(batch);
    shape.q_heads = static_cast<int>(m.q_heads);
    shape.kv_heads = static_cast<int>(m.kv_heads);
    shape.block_size = bs;
    shape.max_blocks = static_cast<int>(max_blocks);
    shape.max_context = static_cast<int>(max_context);
    shape.head_dim = static_cast<int>(m.head_dim);
    return shape;
  };
  const MiniEngineSizes z = mini_engine_sizes(m, schedule, bs, [&](int64_t batch, int64_t max_context) {
    const DecodeShape shape = decode_shape(batch, max_context, 0);
    return decode_workspace_bytes(shape, decode_splits(shape, info.sm_count));
  });
  const int64_t max_tokens = z.max_tokens, max_decode = z.max_decode, max_blocks_per_seq = z.max_blocks_per_seq,
                total_blocks = z.total_blocks, max_swap = z.max_swap, max_evict = z.max_evict, max_gather = z.max_gather;
  Stream stream;
  LtGemm gemm;
  // One layer's weights, reused by every layer: larger than L2 for the models this runs, so each layer still
  // streams them from HBM.
  const int64_t mlp_out = m.gated_mlp ? 2 * m.intermediate : m.intermediate;
  DeviceBuffer w_qkv(static_cast<size_t>((q_dim + 2 * kv_dim) * m.hidden) * 2), w_o(static_cast<size_t>(m.hidden * q_dim) * 2),
      w_up(static_cast<size_t>(mlp_out * m.hidden) * 2), w_down(static_cast<size_t>(m.hidden * m.intermediate) * 2),
      w_lm(static_cast<size_t>(m.vocab * m.hidden) * 2);
  DeviceBuffer x(static_cast<size_t>(max_tokens * m.hidden) * 2), qkv(static_cast<size_t>(max_tokens * (q_dim + 2 * kv_dim)) * 2),
      attn(static_cast<size_t>(max_tokens * q_dim) * 4), y(static_cast<size_t>(max_tokens * std::max(mlp_out, m.hidden)) * 2),
      logits(static_cast<size_t>(max_tokens * m.vocab) * 2);
  for (auto* b : {&w_qkv, &w_o, &w_up, &w_down, &w_lm, &x, &qkv, &y}) {
    fill_values(b->get(), b->size_bytes() / 2, ElementType::kBf16, 7, stream.get());
  }
  // The paged KV pool: the schedule's largest decode batch, blocks scattered by a fixed permutation.
  const size_t block_bytes = static_cast<size_t>(2 * m.kv_heads * bs * hd) * 2;
  const int64_t pool_blocks = total_blocks + max_swap;
  DeviceBuffer pool(static_cast<size_t>(pool_blocks) * block_bytes);
  fill_values(pool.get(), pool.size_bytes() / 2, ElementType::kBf16, 11, stream.get());
  DeviceBuffer table(static_cast<size_t>(max_decode * max_blocks_per_seq) * 4), lens(static_cast<size_t>(max_decode) * 4);
  DeviceBuffer workspace(z.decode_workspace_bytes);
  // Swap space and staging: pinned host memory.
  PinnedBuffer host_swap(static_cast<size_t>(max_swap) * block_bytes, cudaHostAllocDefault);
  const size_t row_bytes = static_cast<size_t>(hd) * 2;
  const size_t host_rows = static_cast<size_t>(std::max<int64_t>(max_gather * 4, 1024));
  std::vector<uint8_t> host_kv(host_rows * row_bytes, 1);
  PinnedBuffer staging(static_cast<size_t>(max_gather) * 2 * row_bytes, cudaHostAllocDefault);
  DeviceBuffer fetched(static_cast<size_t>(max_gather) * 2 * row_bytes);
  std::vector<uint64_t> row_index(static_cast<size_t>(max_gather) * 2);
  for (size_t i = 0; i < row_index.size(); ++i) row_index[i] = (i * 2654435761ull) % host_rows;
  GatherPool gather(std::max(1, usable_cpu_count() / 2));  // the container's quota, not the host's cores
  DeviceBuffer scores(static_cast<size_t>(max_evict) * 4), step(static_cast<size_t>(max_evict) * 4),
      mins(4096 * sizeof(float));
  fill_values(scores.get(), static_cast<size_t>(max_evict), ElementType::kF32, 13, stream.get());
  fill_values(step.get(), static_cast<size_t>(max_evict), ElementType::kF32, 17, stream.get());
  KVSIM_CUDA_CHECK(cudaStreamSynchronize(stream.get()));

  std::vector<double> out;
  Event start, stop;
  for (const MiniIteration& it : schedule) {
    // This iteration's block table: sequence i takes ceil(c_i / bs) blocks of the permuted pool.
    const int batch = static_cast<int>(it.decode_context.size());
    std::vector<int32_t> t(static_cast<size_t>(std::max(1, batch)) * static_cast<size_t>(max_blocks_per_seq), 0);
    std::vector<int32_t> c(static_cast<size_t>(std::max(1, batch)), 0);
    int64_t next = 0, max_ctx = 1;
    for (int i = 0; i < batch; ++i) {
      const int64_t blocks = (it.decode_context[static_cast<size_t>(i)] + bs - 1) / bs;
      for (int64_t b = 0; b < blocks; ++b) {
        t[static_cast<size_t>(i * max_blocks_per_seq + b)] = static_cast<int32_t>((next++ * 7919) % total_blocks);
      }
      c[static_cast<size_t>(i)] = static_cast<int32_t>(it.decode_context[static_cast<size_t>(i)]);
      max_ctx = std::max(max_ctx, it.decode_context[static_cast<size_t>(i)]);
    }
    KVSIM_CUDA_CHECK(cudaMemcpy(table.get(), t.data(), t.size() * 4, cudaMemcpyHostToDevice));
    KVSIM_CUDA_CHECK(cudaMemcpy(lens.get(), c.data(), c.size() * 4, cudaMemcpyHostToDevice));
    const DecodeShape shape = decode_shape(batch, max_ctx, max_blocks_per_seq);
    const int splits = batch > 0 ? decode_splits(shape, info.sm_count) : 1;
    if (batch > 0 && decode_workspace_bytes(shape, splits) > workspace.size_bytes()) {
      throw Error("mini engine: split-K scratch of " + std::to_string(workspace.size_bytes()) + " bytes is too small for " +
                  std::to_string(batch) + " sequences in " + std::to_string(splits) + " splits");
    }
    int64_t tokens = batch;
    for (int64_t p : it.prefill_tokens) tokens += p;
    const int64_t sampled = batch + static_cast<int64_t>(it.prefill_tokens.size());

    auto iteration = [&] {
      const cudaStream_t s = stream.get();
      // Swaps before the forward pass (vLLM V0): one copy per block per layer for K and for V.
      const size_t copy_bytes = block_bytes / 2;  // one (block, layer) of K or of V
      for (int64_t b = 0; b < it.swap_out_blocks * 2 * m.layers; ++b) {
        KVSIM_CUDA_CHECK(cudaMemcpyAsync(host_swap.bytes_ptr() + (static_cast<size_t>(b) * copy_bytes) % host_swap.size_bytes(),
                                         pool.bytes_ptr() + static_cast<size_t>(b % pool_blocks) * block_bytes, copy_bytes,
                                         cudaMemcpyDeviceToHost, s));
      }
      for (int64_t b = 0; b < it.swap_in_blocks * 2 * m.layers; ++b) {
        KVSIM_CUDA_CHECK(cudaMemcpyAsync(pool.bytes_ptr() + static_cast<size_t>(b % pool_blocks) * block_bytes,
                                         host_swap.bytes_ptr() + (static_cast<size_t>(b) * copy_bytes) % host_swap.size_bytes(),
                                         copy_bytes, cudaMemcpyHostToDevice, s));
      }
      for (int64_t layer = 0; layer < m.layers; ++layer) {
        if (it.gather_rows > 0) {
          // InfiniGen: the CPU gathers the selected K and V rows, then one bulk copy.
          gather.gather(host_kv.data(), row_index.data(), static_cast<size_t>(it.gather_rows) * 2, row_bytes,
                        staging.bytes_ptr());
          KVSIM_CUDA_CHECK(cudaMemcpyAsync(fetched.get(), staging.bytes_ptr(), static_cast<size_t>(it.gather_rows) * 2 * row_bytes,
                                           cudaMemcpyHostToDevice, s));
        }
        gemm.run(tokens, q_dim + 2 * kv_dim, m.hidden, w_qkv.get(), x.get(), qkv.get(), s);
        if (batch > 0) {
          launch_paged_decode(shape, splits, qkv.get<__nv_bfloat16>(), pool.get<__nv_bfloat16>(), table.get<int32_t>(),
                              lens.get<int32_t>(), attn.get<float>(), workspace.get(), s);
        }
        for (int64_t p : it.prefill_tokens) {
          launch_prefill_simple(static_cast<int>(p), static_cast<int>(m.q_heads), qkv.get<__nv_bfloat16>(),
                                qkv.get<__nv_bfloat16>(), qkv.get<__nv_bfloat16>(), attn.get<float>(), s);
        }
        if (it.evict_tokens > 0) {
          const int64_t n = it.evict_tokens * m.q_heads;
          accumulate_and_min<<<std::min(grid_for(n), 4096), 256, 0, s>>>(scores.get<float>(), step.get<float>(), n,
                                                                       mins.get<float>());
          KVSIM_CUDA_CHECK_LAUNCH("accumulate_and_min");
        }
        gemm.run(tokens, m.hidden, q_dim, w_o.get(), qkv.get(), x.get(), s);
        gemm.run(tokens, mlp_out, m.hidden, w_up.get(), x.get(), y.get(), s);
        if (m.gated_mlp) {
          silu_mul<<<grid_for(tokens * m.intermediate), 256, 0, s>>>(y.get<__nv_bfloat16>(), tokens, m.intermediate);
          KVSIM_CUDA_CHECK_LAUNCH("silu_mul");
        }
        gemm.run(tokens, m.hidden, m.intermediate, w_down.get(), y.get(), x.get(), s);
      }
      gemm.run(sampled, m.vocab, m.hidden, w_lm.get(), x.get(), logits.get(), s);
    };
    std::vector<double> ms;
    for (int r = 0; r < options.warmup + options.repeats; ++r) {
      KVSIM_CUDA_CHECK(cudaEventRecord(start.get(), stream.get()));
      iteration();
      KVSIM_CUDA_CHECK(cudaEventRecord(stop.get(), stream.get()));
      KVSIM_CUDA_CHECK(cudaEventSynchronize(stop.get()));
      float elapsed = 0;
      KVSIM_CUDA_CHECK(cudaEventElapsedTime(&elapsed, start.get(), stop.get()));
      if (r >= options.warmup) ms.push_back(elapsed);
    }
    out.push_back(median(ms));
  }
  return out;
}

}  // namespace kvsim::kernels
