// GEMM throughput through cuBLASLt (DESIGN.md: "GEMMs go through cuBLASLt, never a hand-written GEMM"): for every
// model projection shape (n, k) the catalog gives and every token count m, the achieved 2mnk / time of the heuristic's
// first algorithm, bf16/fp16 inputs with fp32 compute, and fp8 (E4M3) inputs on GPUs with compute capability >= 8.9.
//
// Layout: the "TN" form cuBLASLt's FP8 kernels require (cuBLASLt docs, "cublasLtMatmul" FP8 notes): column-major
// D[n x m] = W^T[n x k] X[k x m], i.e. row-major Y[m x n] = X[m x k] W[k x n] with W stored as n rows of k.
#include <cublasLt.h>

#include <algorithm>
#include <vector>

#include "kernels/cuda/common.cuh"

namespace kvsim::kernels {

namespace {

using namespace cuda;

constexpr size_t kWorkspaceBytes = 32 * kMiB;  // cuBLAS docs recommend >= 32 MiB of workspace on Hopper

struct DtypeSetup {
  cudaDataType_t ab, cd;
  ElementType fill;
  size_t ab_bytes, cd_bytes;
};

template <typename T>
struct LtHandle {  // owns one cuBLASLt object
  T handle = nullptr;
  cublasStatus_t (*destroy)(T) = nullptr;
  ~LtHandle() {
    if (handle) destroy(handle);
  }
};

struct GemmBuffers {
  std::vector<DeviceBuffer> a, b, c;  // a: weights [n x k], b: activations [m x k], c: output [m x n]
};

}  // namespace

std::vector<hw::RawSample> run_gemm_suite(const SuiteOptions& options) {
  DeviceInfo info = open_device(options, "gemm");
  TimingPlan plan = timing_plan(options);
  std::vector<hw::RawSample> out;
  if (options.gemm_shapes.empty() || options.gemm_tokens.empty()) return out;
  std::vector<std::string> dtypes =
      options.gemm_dtypes.empty() ? std::vector<std::string>{"bf16"} : options.gemm_dtypes;

  Stream stream;
  LtHandle<cublasLtHandle_t> lt{nullptr, cublasLtDestroy};
  KVSIM_CUBLAS_CHECK(cublasLtCreate(&lt.handle));
  DeviceBuffer workspace(kWorkspaceBytes), scales(4 * sizeof(float));
  std::vector<float> ones(4, 1.0f);
  KVSIM_CUDA_CHECK(cudaMemcpy(scales.get(), ones.data(), sizeof(float) * 4, cudaMemcpyHostToDevice));
  int64_t max_m = *std::max_element(options.gemm_tokens.begin(), options.gemm_tokens.end());

  for (const std::string& dtype : dtypes) {
    DtypeSetup ds;
    if (dtype == "bf16") {
      ds = {CUDA_R_16BF, CUDA_R_16BF, ElementType::kBf16, 2, 2};
    } else if (dtype == "fp16") {
      ds = {CUDA_R_16F, CUDA_R_16F, ElementType::kFp16, 2, 2};
    } else if (dtype == "fp8") {
      if (info.cc_major * 10 + info.cc_minor < 89) {  // FP8 tensor cores: Ada (8.9) and Hopper (9.0) onwards
        report(options, "gemm: fp8 skipped: compute capability " + std::to_string(info.cc_major) + "." +
                            std::to_string(info.cc_minor) + " < 8.9");
        continue;
      }
      ds = {CUDA_R_8F_E4M3, CUDA_R_16BF, ElementType::kFp8E4M3, 1, 2};  // E4M3 x E4M3 -> bf16 output
    } else {
      report(options, "gemm: unknown dtype '" + dtype + "' skipped (bf16, fp16, fp8)");
      continue;
    }
    for (const GemmShape& shape : options.gemm_shapes) {
      int64_t n = shape.n, k = shape.k;
      size_t a_bytes = static_cast<size_t>(n * k) * ds.ab_bytes;
      size_t b_bytes = static_cast<size_t>(max_m * k) * ds.ab_bytes;
      size_t c_bytes = static_cast<size_t>(max_m * n) * ds.cd_bytes;
      // Weight copies rotated call by call until their footprint is 4x L2 (50 MB on H100), so a small-m GEMM streams
      // W from HBM as in decoding, never from L2; activations and outputs (small at small m, and at large m the GEMM is
      // compute-bound) rotate over two sets. Everything within half the free memory.
      const size_t l2 = std::max<size_t>(info.l2_bytes, 1);
      size_t weight_sets = std::max<size_t>(2, (4 * l2 + a_bytes - 1) / std::max<size_t>(a_bytes, 1));
      const size_t io_sets = 2, io_bytes = b_bytes + c_bytes;
      const size_t budget = device_free_bytes() / 2;
      if (io_sets * io_bytes + 2 * a_bytes > budget) {
        const std::string why = bytes_str(io_sets * io_bytes + 2 * a_bytes) + " does not fit in " + bytes_str(budget);
        report(options, "gemm: " + shape.name + " skipped: " + why);
        if (options.failed) options.failed("gemm " + dtype + "/" + shape.name + ": " + why);
        continue;
      }
      weight_sets = std::min(weight_sets, (budget - io_sets * io_bytes) / std::max<size_t>(a_bytes, 1));
      if (weight_sets * a_bytes < 2 * l2) {
        report(options, "gemm: " + shape.name + ": only " + std::to_string(weight_sets) +
                            " weight copies fit; small-m points may read weights from L2");
      }
      GemmBuffers bufs;
      const bool allocated = measure_shape(options, "gemm " + dtype + "/" + shape.name + " buffers", [&] {
        for (size_t s = 0; s < weight_sets; ++s) {
          bufs.a.emplace_back(a_bytes);
          fill_values(bufs.a.back().get(), a_bytes / ds.ab_bytes, ds.fill, static_cast<uint32_t>(3 * s + 1),
                      stream.get());
        }
        for (size_t s = 0; s < io_sets; ++s) {
          bufs.b.emplace_back(b_bytes);
          bufs.c.emplace_back(c_bytes);
          fill_values(bufs.b.back().get(), b_bytes / ds.ab_bytes, ds.fill, static_cast<uint32_t>(3 * s + 2),
                      stream.get());
          fill_values(bufs.c.back().get(), c_bytes / ds.cd_bytes,
                      ds.cd == CUDA_R_16BF ? ElementType::kBf16 : ElementType::kFp16, static_cast<uint32_t>(3 * s + 3),
                      stream.get());
        }
        KVSIM_CUDA_CHECK(cudaStreamSynchronize(stream.get()));
      });
      if (!allocated) continue;

      for (int64_t m : options.gemm_tokens) {
        if (m <= 0) continue;
        LtHandle<cublasLtMatmulDesc_t> op{nullptr, cublasLtMatmulDescDestroy};
        LtHandle<cublasLtMatrixLayout_t> la{nullptr, cublasLtMatrixLayoutDestroy},
            lb{nullptr, cublasLtMatrixLayoutDestroy}, lc{nullptr, cublasLtMatrixLayoutDestroy};
        LtHandle<cublasLtMatmulPreference_t> pref{nullptr, cublasLtMatmulPreferenceDestroy};
        KVSIM_CUBLAS_CHECK(cublasLtMatmulDescCreate(&op.handle, CUBLAS_COMPUTE_32F, CUDA_R_32F));
        cublasOperation_t trans_a = CUBLAS_OP_T, trans_b = CUBLAS_OP_N;
        KVSIM_CUBLAS_CHECK(
            cublasLtMatmulDescSetAttribute(op.handle, CUBLASLT_MATMUL_DESC_TRANSA, &trans_a, sizeof trans_a));
        KVSIM_CUBLAS_CHECK(
            cublasLtMatmulDescSetAttribute(op.handle, CUBLASLT_MATMUL_DESC_TRANSB, &trans_b, sizeof trans_b));
        if (ds.ab == CUDA_R_8F_E4M3) {
          // Fast accumulation, as serving engines run FP8 GEMMs (vLLM's cutlass_scaled_mm and TensorRT-LLM's FP8
          // GEMMs keep partial sums in the tensor core's accumulator without periodic promotion to fp32).
          const int8_t fast_accum = 1;
          KVSIM_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(op.handle, CUBLASLT_MATMUL_DESC_FAST_ACCUM, &fast_accum,
                                                            sizeof fast_accum));
          // Per-tensor dequantisation scales (1.0: the inputs are already in range).
          const float* scale_a = scales.get<float>();
          const float* scale_b = scales.get<float>() + 1;
          KVSIM_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(op.handle, CUBLASLT_MATMUL_DESC_A_SCALE_POINTER, &scale_a,
                                                            sizeof scale_a));
          KVSIM_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(op.handle, CUBLASLT_MATMUL_DESC_B_SCALE_POINTER, &scale_b,
                                                            sizeof scale_b));
        }
        // Column-major: A is k x n (ld k, transposed to n x k), B is k x m (ld k), C/D are n x m (ld n).
        KVSIM_CUBLAS_CHECK(
            cublasLtMatrixLayoutCreate(&la.handle, ds.ab, static_cast<uint64_t>(k), static_cast<uint64_t>(n), k));
        KVSIM_CUBLAS_CHECK(
            cublasLtMatrixLayoutCreate(&lb.handle, ds.ab, static_cast<uint64_t>(k), static_cast<uint64_t>(m), k));
        KVSIM_CUBLAS_CHECK(
            cublasLtMatrixLayoutCreate(&lc.handle, ds.cd, static_cast<uint64_t>(n), static_cast<uint64_t>(m), n));
        KVSIM_CUBLAS_CHECK(cublasLtMatmulPreferenceCreate(&pref.handle));
        uint64_t ws = kWorkspaceBytes;
        KVSIM_CUBLAS_CHECK(cublasLtMatmulPreferenceSetAttribute(pref.handle, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES,
                                                                &ws, sizeof ws));
        cublasLtMatmulHeuristicResult_t heuristic{};
        int found = 0;
        cublasStatus_t st = cublasLtMatmulAlgoGetHeuristic(lt.handle, op.handle, la.handle, lb.handle, lc.handle,
                                                           lc.handle, pref.handle, 1, &heuristic, &found);
        std::string what = dtype + "/" + shape.name + " m=" + std::to_string(m);
        if (st != CUBLAS_STATUS_SUCCESS || found == 0) {
          const std::string why = std::string("cuBLASLt has no algorithm (") + cublasLtGetStatusString(st) + ")";
          report(options, "gemm: " + what + " skipped: " + why);
          if (options.failed) options.failed("gemm " + what + ": " + why);
          continue;
        }
        report(options, "gemm: " + what);
        measure_shape(options, "gemm " + what, [&] {
          float alpha = 1.0f, beta = 0.0f;
          double seconds = time_per_call_graph_s(
              stream.get(), plan,
              [&](int64_t call) {
                const size_t w = static_cast<size_t>(call) % bufs.a.size(),
                             io = static_cast<size_t>(call) % bufs.b.size();
                KVSIM_CUBLAS_CHECK(cublasLtMatmul(lt.handle, op.handle, &alpha, bufs.a[w].get(), la.handle,
                                                  bufs.b[io].get(), lb.handle, &beta, bufs.c[io].get(), lc.handle,
                                                  bufs.c[io].get(), lc.handle, &heuristic.algo, workspace.get(),
                                                  kWorkspaceBytes, stream.get()));
              },
              static_cast<int64_t>(bufs.a.size()));
          double flops = 2.0 * static_cast<double>(m) * static_cast<double>(n) * static_cast<double>(k);
          keep_sample(options, out,
                      make_sample("gemm", dtype + "/" + shape.name,
                                  {{"m", static_cast<double>(m)},
                                   {"n", static_cast<double>(n)},
                                   {"k", static_cast<double>(k)},
                                   {"weight_copies", static_cast<double>(bufs.a.size())}},
                                  flops / seconds, "flops_per_s"));
        });
      }
    }
  }
  return out;
}

}  // namespace kvsim::kernels
