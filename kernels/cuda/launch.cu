// Launch overheads, three figures for an empty kernel: `launch_host` the host's time per launch call when launches
// are issued back to back without waiting (the CPU cost the cost model's launch term stands for: the host issues a
// forward pass's kernels asynchronously ahead of the GPU, CostModel::launch_ns); `empty_kernel` the GPU-side interval
// between back-to-back empty kernels (CUDA events); `launch_latency` one launch waited for by the host (launch +
// cudaStreamSynchronize). And a CUDA graph of 100 empty kernels replayed back to back (per-graph and per-kernel
// cost). DESIGN.md "Hardware and performance models": launch and CPU overhead.
#include <chrono>
#include <vector>

#include "kernels/cuda/common.cuh"

namespace kvsim::kernels {

namespace {

using namespace cuda;

constexpr int kKernelsPerGraph = 100;  // about one decoder step's kernels for a small model under CUDA graphs

__global__ void empty_kernel() {}

}  // namespace

std::vector<hw::RawSample> run_launch_suite(const SuiteOptions& options) {
  open_device(options, "launch");
  TimingPlan plan = timing_plan(options);
  plan.min_run_s = options.quick ? 2e-3 : 10e-3;  // thousands of launches per timed run
  plan.max_inner = 20000;
  Stream stream;
  std::vector<hw::RawSample> out;

  report(options, "launch: empty kernel");
  double launch_s = time_per_call_s(stream.get(), plan, [&](int64_t) {
    empty_kernel<<<1, 32, 0, stream.get()>>>();
    KVSIM_CUDA_CHECK_LAUNCH("empty_kernel");
  });
  keep_sample(options, out, make_sample("launch", "empty_kernel", {}, launch_s * 1e9, "ns"));

  report(options, "launch: host time per launch call");
  {
    // Batches of 256 launches, well under the launch queue's depth (1024 pending launches), so the host never waits
    // for the GPU inside the timed region; each batch is drained before the next.
    constexpr int kBatch = 256;
    std::vector<double> per_launch;
    for (int r = 0; r < plan.warmup + plan.repeats * 4; ++r) {
      const auto t0 = std::chrono::steady_clock::now();
      for (int i = 0; i < kBatch; ++i) empty_kernel<<<1, 32, 0, stream.get()>>>();
      const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      KVSIM_CUDA_CHECK_LAUNCH("empty_kernel");
      KVSIM_CUDA_CHECK(cudaStreamSynchronize(stream.get()));
      if (r >= plan.warmup) per_launch.push_back(s / kBatch);
    }
    keep_sample(options, out, make_sample("launch", "launch_host", {}, median(per_launch) * 1e9, "ns"));
  }

  report(options, "launch: latency of one launch waited for");
  const double latency_s = time_per_call_host_s(plan, [&](int64_t) {
    empty_kernel<<<1, 32, 0, stream.get()>>>();
    KVSIM_CUDA_CHECK_LAUNCH("empty_kernel");
    KVSIM_CUDA_CHECK(cudaStreamSynchronize(stream.get()));
  });
  keep_sample(options, out, make_sample("launch", "launch_latency", {}, latency_s * 1e9, "ns"));

  report(options, "launch: graph of " + std::to_string(kKernelsPerGraph) + " empty kernels");
  cudaGraph_t graph = nullptr;
  KVSIM_CUDA_CHECK(cudaStreamBeginCapture(stream.get(), cudaStreamCaptureModeThreadLocal));
  for (int i = 0; i < kKernelsPerGraph; ++i) empty_kernel<<<1, 32, 0, stream.get()>>>();
  cudaError_t launch_err = cudaGetLastError();
  cudaError_t capture_err = cudaStreamEndCapture(stream.get(), &graph);
  struct GraphOwner {
    cudaGraph_t graph;
    cudaGraphExec_t exec = nullptr;
    ~GraphOwner() {
      if (exec) cudaGraphExecDestroy(exec);
      if (graph) cudaGraphDestroy(graph);
    }
  } owner{graph};
  KVSIM_CUDA_CHECK(launch_err);
  KVSIM_CUDA_CHECK(capture_err);
  KVSIM_CUDA_CHECK(cudaGraphInstantiate(&owner.exec, graph, 0));
  plan.max_inner = 2000;
  double graph_s = time_per_call_s(stream.get(), plan,
                                   [&](int64_t) { KVSIM_CUDA_CHECK(cudaGraphLaunch(owner.exec, stream.get())); });
  std::map<std::string, double> params = {{"kernels", kKernelsPerGraph}};
  keep_sample(options, out, make_sample("launch", "graph_replay", params, graph_s * 1e9, "ns"));
  keep_sample(options, out, make_sample("launch", "graph_per_kernel", params, graph_s * 1e9 / kKernelsPerGraph, "ns"));
  return out;
}

}  // namespace kvsim::kernels
