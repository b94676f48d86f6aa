// Launch overheads: the per-launch time of an empty kernel launched back to back, and of a CUDA graph of 100 empty
// kernels replayed back to back (the cost model's per-kernel and per-graph CPU/launch overhead, DESIGN.md "Hardware
// and performance models": launch and CPU overhead).
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
  out.push_back(make_sample("launch", "empty_kernel", {}, launch_s * 1e9, "ns"));

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
  out.push_back(make_sample("launch", "graph_replay", params, graph_s * 1e9, "ns"));
  out.push_back(make_sample("launch", "graph_per_kernel", params, graph_s * 1e9 / kKernelsPerGraph, "ns"));
  return out;
}

}  // namespace kvsim::kernels
