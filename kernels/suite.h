// The microbenchmark suites behind `kvsim calibrate`: what a suite is asked to do and what it reports. GPU suites
// (pcie, hbm, gather, gemm, attention, launch) live in kernels/cuda/*.cu and exist only in CUDA builds; the host
// suite runs everywhere. Every suite reports hw::RawSample values; fitting them into curves is calibrate's job.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "hw/measured.h"

namespace kvsim::kernels {

// A GEMM shape to time: C[m x n] = A[m x k] B[k x n], for each m in SuiteOptions::gemm_tokens.
struct GemmShape {
  std::string name;  // "llama-3.1-8b/qkv_proj/tp1"
  int64_t n = 0, k = 0;
};

struct SuiteOptions {
  int device = 0;
  bool quick = false;                    // fewer sizes and repeats: the whole calibration in < 2 min on an H100
  uint64_t max_bytes = 8ull << 30;       // largest buffer (bounded further by free memory)
  std::vector<GemmShape> gemm_shapes;    // from the model catalog, split for tp 1/2/4/8 (apps/ builds the list)
  std::vector<int64_t> gemm_tokens;      // m values, 1 .. 16384
  std::vector<std::string> gemm_dtypes;  // "bf16", "fp16", "fp8" (fp8 only where the GPU has it)
  int64_t host_max_threads = 0;          // 0 = usable_cpu_count()
  std::function<void(const std::string&)> progress;  // one line per step, for stderr; may be empty
  // A shape whose measurement failed (out of memory, refused by a library): "what: why". The suite goes on with the
  // next shape unless the CUDA context is broken (a kernel fault), which ends the suite. May be empty.
  std::function<void(const std::string&)> failed;
  // Every sample as soon as it is measured (the suite also returns them all), so that a run stopped mid-suite can
  // write what it has. May be empty.
  std::function<void(const hw::RawSample&)> sample;
  // Host suite only (added by the calibration side): buffer bytes per copy; 0 = 256 MiB quick / 1 GiB, far above any
  // last-level cache. Tests set a few MiB.
  uint64_t host_bytes = 0;
};

struct DeviceInfo {
  std::string name;
  std::string driver_version;
  std::string cuda_version;
  uint64_t total_bytes = 0, free_bytes = 0;
  int sm_count = 0, cc_major = 0, cc_minor = 0;
  uint64_t l2_bytes = 0;
};

// The GPU at `device`, or nullopt with `why` set ("built without CUDA", "no CUDA device: <driver message>").
std::optional<DeviceInfo> probe_device(int device, std::string* why);

// CPUs this process may run threads on: the affinity mask, bounded by the container's CPU quota (cgroup v2 cpu.max,
// or v1 cpu.cfs_quota_us / cpu.cfs_period_us, rounded up); std::thread::hardware_concurrency counts the host's.
int usable_cpu_count();
// CPUs' worth of quota in a cgroup v2 cpu.max line ("200000 100000" -> 2.0); 0 for "max ..." or anything unreadable.
double cpu_quota_from_cgroup(const std::string& cpu_max);

// Whether this build has the GPU suites (KVSIM_HAVE_CUDA).
bool built_with_cuda();

// GPU suites; each throws kvsim::Error when the build has no CUDA or a CUDA call fails (naming the call).
std::vector<hw::RawSample> run_pcie_suite(const SuiteOptions& options);
std::vector<hw::RawSample> run_hbm_suite(const SuiteOptions& options);
std::vector<hw::RawSample> run_gather_suite(const SuiteOptions& options);
std::vector<hw::RawSample> run_gemm_suite(const SuiteOptions& options);
std::vector<hw::RawSample> run_attention_suite(const SuiteOptions& options);
std::vector<hw::RawSample> run_launch_suite(const SuiteOptions& options);
// Host suite: DRAM memcpy bandwidth with 1..N threads (and pinned-allocation cost when a GPU is present).
std::vector<hw::RawSample> run_host_suite(const SuiteOptions& options);

}  // namespace kvsim::kernels
