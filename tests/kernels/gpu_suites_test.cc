// GPU-only checks of the microbenchmarks against DESIGN.md "Kernels and calibration targets": the decode-attention
// kernel is correct, the HBM copy kernel is within 5 % of cudaMemcpy D2D, pinned H2D is within 5 % of a plain
// cudaMemcpyAsync, and duplex lies between one and two directions. Labelled gpu; each test skips with the probe's
// reason when there is no device.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <set>
#include <string>
#include <vector>

#if defined(KVSIM_HAVE_CUDA)
#include <cuda_runtime.h>
#endif

#include "kernels/cuda/checks.h"
#include "kernels/suite.h"

namespace kvsim::kernels {
namespace {

#define SKIP_WITHOUT_GPU()                             \
  do {                                                 \
    std::string why_;                                  \
    if (!probe_device(0, &why_)) GTEST_SKIP() << why_; \
  } while (0)

const hw::RawSample* find(const std::vector<hw::RawSample>& samples, const std::string& series, double bytes) {
  for (const auto& s : samples)
    if (s.series == series && s.params.count("bytes") && s.params.at("bytes") == bytes) return &s;
  return nullptr;
}

TEST(GpuDecodeAttention, MatchesCpuReferenceWithSplitK) {
  SKIP_WITHOUT_GPU();
  DecodeCheck c = check_decode_attention(0, 3, 1000, 16, 4);  // 1000, 963, 926 tokens: partial last blocks
  EXPECT_EQ(c.splits, 4);
  EXPECT_GT(c.max_abs_reference, 0.05) << "the comparison would be vacuous";
  EXPECT_LT(c.max_abs_error, 1e-2);
}

TEST(GpuDecodeAttention, MatchesCpuReferenceWithoutSplit) {
  SKIP_WITHOUT_GPU();
  DecodeCheck c = check_decode_attention(0, 2, 45, 8, 1);
  EXPECT_EQ(c.splits, 1);
  EXPECT_LT(c.max_abs_error, 1e-2);
}

TEST(GpuDecodeAttention, MatchesCpuReferenceWithChosenSplits) {
  SKIP_WITHOUT_GPU();
  DecodeCheck c = check_decode_attention(0, 1, 5000, 32, 0);
  EXPECT_GT(c.splits, 1);
  EXPECT_LT(c.max_abs_error, 1e-2);
}

TEST(GpuPrefillAttention, SimpleKernelMatchesCpuCausalReference) {
  SKIP_WITHOUT_GPU();
  DecodeCheck c = check_prefill_attention(0, 77, 3);  // 77 tokens: a partial query tile and a partial key tile
  EXPECT_GT(c.max_abs_reference, 0.05);
  EXPECT_LT(c.max_abs_error, 1e-3);
}

TEST(GpuHbm, CopyKernelWithin5PercentOfMemcpyD2DAt1GiB) {
  SKIP_WITHOUT_GPU();
  SuiteOptions o;
  o.quick = true;
  o.max_bytes = 1ull << 30;
  auto samples = run_hbm_suite(o);
  const auto* copy = find(samples, "copy", 1ull << 30);
  const auto* ref = find(samples, "memcpy_d2d", 1ull << 30);
  if (!copy || !ref) GTEST_SKIP() << "not enough free GPU memory for 1 GiB buffers";
  EXPECT_GT(copy->value, 0.95 * ref->value) << copy->value << " vs memcpy " << ref->value;
  for (const char* series : {"read", "write"}) EXPECT_NE(find(samples, series, 1ull << 30), nullptr) << series;
}

#if defined(KVSIM_HAVE_CUDA)
// A plain pinned cudaMemcpyAsync of `bytes`, timed with events: median of 5 after one warm-up.
double plain_h2d_bytes_per_s(size_t bytes) {
  void *host = nullptr, *dev = nullptr;
  cudaStream_t stream = nullptr;
  cudaEvent_t start = nullptr, stop = nullptr;
  EXPECT_EQ(cudaHostAlloc(&host, bytes, cudaHostAllocDefault), cudaSuccess);
  EXPECT_EQ(cudaMalloc(&dev, bytes), cudaSuccess);
  std::fill_n(static_cast<unsigned char*>(host), bytes, 0x5a);
  cudaStreamCreate(&stream);
  cudaEventCreate(&start);
  cudaEventCreate(&stop);
  std::vector<double> rates;
  for (int i = 0; i < 6; ++i) {
    cudaEventRecord(start, stream);
    cudaMemcpyAsync(dev, host, bytes, cudaMemcpyHostToDevice, stream);
    cudaEventRecord(stop, stream);
    cudaEventSynchronize(stop);
    float ms = 0;
    cudaEventElapsedTime(&ms, start, stop);
    if (i > 0) rates.push_back(static_cast<double>(bytes) / (ms * 1e-3));
  }
  cudaEventDestroy(start);
  cudaEventDestroy(stop);
  cudaStreamDestroy(stream);
  cudaFree(dev);
  cudaFreeHost(host);
  std::sort(rates.begin(), rates.end());
  return rates[rates.size() / 2];
}
#endif

TEST(GpuPcie, PinnedH2DWithin5PercentOfPlainMemcpyAsync) {
  SKIP_WITHOUT_GPU();
#if defined(KVSIM_HAVE_CUDA)
  SuiteOptions o;
  o.quick = true;
  o.max_bytes = 256ull << 20;
  auto samples = run_pcie_suite(o);
  const auto* h2d = find(samples, "h2d_pinned", 256ull << 20);
  ASSERT_NE(h2d, nullptr);
  double plain = plain_h2d_bytes_per_s(256ull << 20);
  EXPECT_NEAR(h2d->value / plain, 1.0, 0.05) << h2d->value << " vs plain " << plain;
#endif
}

TEST(GpuPcie, DuplexExceedsOneDirectionAndStaysBelowTwo) {
  SKIP_WITHOUT_GPU();
  SuiteOptions o;
  o.quick = true;
  o.max_bytes = 256ull << 20;
  auto samples = run_pcie_suite(o);
  double bytes = 256ull << 20;
  const auto *h2d = find(samples, "h2d_pinned", bytes), *d2h = find(samples, "d2h_pinned", bytes),
             *duplex = find(samples, "duplex_pinned", bytes);
  ASSERT_TRUE(h2d && d2h && duplex);
  double one = std::max(h2d->value, d2h->value);
  EXPECT_GT(duplex->value, one);
  EXPECT_LT(duplex->value, 2 * one);
  for (const char* series : {"h2d_pageable", "d2h_pageable"}) EXPECT_NE(find(samples, series, bytes), nullptr);
  std::set<std::string> names;
  for (const auto& s : samples) names.insert(s.series);
  for (const char* series : {"latency_h2d", "latency_d2h", "streams_h2d"}) EXPECT_TRUE(names.count(series)) << series;
}

TEST(GpuLaunch, ReportsPositiveLaunchAndGraphTimes) {
  SKIP_WITHOUT_GPU();
  SuiteOptions o;
  o.quick = true;
  auto samples = run_launch_suite(o);
  std::set<std::string> names;
  for (const auto& s : samples) {
    names.insert(s.series);
    EXPECT_EQ(s.unit, "ns");
    EXPECT_GT(s.value, 0);
    EXPECT_LT(s.value, 1e6) << s.series;  // far below a millisecond per launch
  }
  EXPECT_EQ(names, (std::set<std::string>{"empty_kernel", "graph_replay", "graph_per_kernel"}));
}

TEST(GpuGemm, ReportsFlopsForEachDtypeShapeAndM) {
  SKIP_WITHOUT_GPU();
  SuiteOptions o;
  o.quick = true;
  o.gemm_shapes = {{"llama-3.1-8b/qkv_proj/tp1", 6144, 4096}};
  o.gemm_tokens = {1, 256};
  o.gemm_dtypes = {"bf16", "fp16"};
  auto samples = run_gemm_suite(o);
  ASSERT_EQ(samples.size(), 4u);
  for (const auto& s : samples) {
    EXPECT_EQ(s.unit, "flops_per_s");
    EXPECT_GT(s.value, 1e9) << s.series;
    EXPECT_EQ(s.params.at("n"), 6144);
  }
}

TEST(GpuGatherAndAttention, QuickRunsReportTheirSeries) {
  SKIP_WITHOUT_GPU();
  SuiteOptions o;
  o.quick = true;
  std::set<std::string> names;
  for (const auto& s : run_gather_suite(o)) {
    names.insert(s.series);
    EXPECT_GT(s.value, 0) << s.series;
  }
  for (const char* series : {"per_row/token_head", "memcpy2d/token_layer", "cpu_staged/block", "zero_copy/block"})
    EXPECT_TRUE(names.count(series)) << series;
  names.clear();
  for (const auto& s : run_attention_suite(o)) names.insert(s.series);
  for (const char* series : {"decode/bs8", "decode/bs16", "decode/bs32", "prefill/kvsim-simple"})
    EXPECT_TRUE(names.count(series)) << series;
}

}  // namespace
}  // namespace kvsim::kernels
