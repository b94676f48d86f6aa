// Shared plumbing of the CUDA microbenchmark suites: the CHECK macros that turn every failed CUDA or cuBLASLt call into
// a kvsim::Error naming the call, file and line; RAII owners of device/pinned memory, streams and events; and the
// timing rules of DESIGN.md "Kernels and calibration targets" (CUDA events, warm-up, median of repeats, rotating
// buffers larger than L2, inputs never all zeros).
#pragma once

#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "kernels/suite.h"

namespace kvsim::kernels::cuda {

[[noreturn]] void throw_cuda_error(const char* call, cudaError_t err, const char* file, int line);
[[noreturn]] void throw_cublas_error(const char* call, int status, const char* file, int line);

}  // namespace kvsim::kernels::cuda

// Every CUDA runtime call goes through this: a failure throws kvsim::Error("cudaMalloc(&ptr_, bytes):
// cudaErrorMemoryAllocation: out of memory
// (.../kernels/cuda/common.cu:93)").
#define KVSIM_CUDA_CHECK(call)                                                              \
  do {                                                                                      \
    cudaError_t kvsim_cuda_err_ = (call);                                                   \
    if (kvsim_cuda_err_ != cudaSuccess)                                                     \
      ::kvsim::kernels::cuda::throw_cuda_error(#call, kvsim_cuda_err_, __FILE__, __LINE__); \
  } while (0)

// After a <<<...>>> launch: launch-configuration errors surface here, execution errors at the next synchronisation.
#define KVSIM_CUDA_CHECK_LAUNCH(kernel_name)                                                                   \
  do {                                                                                                         \
    cudaError_t kvsim_cuda_err_ = cudaGetLastError();                                                          \
    if (kvsim_cuda_err_ != cudaSuccess)                                                                        \
      ::kvsim::kernels::cuda::throw_cuda_error("launch of " kernel_name, kvsim_cuda_err_, __FILE__, __LINE__); \
  } while (0)

#define KVSIM_CUBLAS_CHECK(call)                                                                   \
  do {                                                                                             \
    int kvsim_cublas_status_ = static_cast<int>(call);                                             \
    if (kvsim_cublas_status_ != 0)                                                                 \
      ::kvsim::kernels::cuda::throw_cublas_error(#call, kvsim_cublas_status_, __FILE__, __LINE__); \
  } while (0)

namespace kvsim::kernels::cuda {

// Device memory; freed on scope exit (errors at free are ignored: the suite is already unwinding or done).
class DeviceBuffer {
 public:
  DeviceBuffer() = default;
  explicit DeviceBuffer(size_t bytes);
  ~DeviceBuffer();
  DeviceBuffer(DeviceBuffer&& other) noexcept;
  DeviceBuffer& operator=(DeviceBuffer&& other) noexcept;
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;

  template <typename T = void>
  T* get() const {
    return static_cast<T*>(ptr_);
  }
  uint8_t* bytes_ptr() const { return static_cast<uint8_t*>(ptr_); }
  size_t size_bytes() const { return bytes_; }

 private:
  void* ptr_ = nullptr;
  size_t bytes_ = 0;
};

// Page-locked host memory from cudaHostAlloc (flags: cudaHostAllocDefault, or cudaHostAllocMapped for zero-copy).
class PinnedBuffer {
 public:
  PinnedBuffer() = default;
  PinnedBuffer(size_t bytes, unsigned flags);
  ~PinnedBuffer();
  PinnedBuffer(PinnedBuffer&& other) noexcept;
  PinnedBuffer& operator=(PinnedBuffer&& other) noexcept;
  PinnedBuffer(const PinnedBuffer&) = delete;
  PinnedBuffer& operator=(const PinnedBuffer&) = delete;

  uint8_t* bytes_ptr() const { return static_cast<uint8_t*>(ptr_); }
  size_t size_bytes() const { return bytes_; }

 private:
  void* ptr_ = nullptr;
  size_t bytes_ = 0;
};

class Stream {
 public:
  Stream();
  ~Stream();
  Stream(const Stream&) = delete;
  Stream& operator=(const Stream&) = delete;
  cudaStream_t get() const { return stream_; }

 private:
  cudaStream_t stream_ = nullptr;
};

class Event {
 public:
  explicit Event(unsigned flags = cudaEventDefault);
  ~Event();
  Event(const Event&) = delete;
  Event& operator=(const Event&) = delete;
  cudaEvent_t get() const { return event_; }

 private:
  cudaEvent_t event_ = nullptr;
};

// Selects options.device and returns what it is; throws kvsim::Error("<suite> suite: no CUDA device: ...") when
// there is none, so every suite fails the same clear way on a machine without a GPU.
DeviceInfo open_device(const SuiteOptions& options, const char* suite);

// How hard to time: warm-up calls, timed repeats (the median is reported), and the shortest timed run, reached by
// timing several back-to-back calls per repeat when one call is shorter than the CUDA event resolution allows.
struct TimingPlan {
  int warmup = 2;
  int repeats = 9;
  double min_run_s = 2e-3;
  int max_inner = 1000;
};
// quick: 1 warm-up, 5 repeats, 0.5 ms runs (the whole calibration in < 2 min on an H100, suite.h). Five, not three:
// the median of three is one noisy sample away from its maximum, and the fits take medians per size.
TimingPlan timing_plan(const SuiteOptions& options);

// Median seconds per call of body(i), which enqueues its work on `stream`; i counts every call made (warm-up
// included) so the body can rotate buffers. Timed with CUDA events around `inner` back-to-back calls.
double time_per_call_s(cudaStream_t stream, const TimingPlan& plan, const std::function<void(int64_t)>& body);
// The same, with the `inner` calls captured once in a CUDA graph and the graph replayed per repeat: a short kernel's
// time is then the GPU's, not the host's launch rate (the cost model adds launch costs itself, CostModel::launch_ns).
// For bodies that only enqueue device work (kernels, cuBLASLt, device copies); a body that cannot be captured falls
// back to time_per_call_s.
// `period`: calls before the body's inputs repeat (its rotation); a graph holds at least that many calls (at most
// kMaxCapturedCalls), since every replay reruns the same ones.
inline constexpr int64_t kMaxCapturedCalls = 4096;
double time_per_call_graph_s(cudaStream_t stream, const TimingPlan& plan, const std::function<void(int64_t)>& body,
                             int64_t period = 1);
// The same for a body whose work involves the host (CPU gathers): steady clock; body must finish before returning.
double time_per_call_host_s(const TimingPlan& plan, const std::function<void(int64_t)>& body);

double median(std::vector<double> values);

// Deterministic non-zero byte pattern (a hash of the byte index and the seed, never 0).
void fill_bytes(void* device_ptr, size_t bytes, uint32_t seed, cudaStream_t stream);
void fill_host_bytes(void* host_ptr, size_t bytes, uint32_t seed);

// Values uniform in [-1, 1) of the given element type (finite, so no NaN or Inf slows or corrupts a kernel).
enum class ElementType { kBf16, kFp16, kFp8E4M3, kF32 };
void fill_values(void* device_ptr, size_t count, ElementType type, uint32_t seed, cudaStream_t stream);

// lo, lo*factor, ... up to hi inclusive.
std::vector<uint64_t> geometric_sizes(uint64_t lo, uint64_t hi, uint64_t factor);
std::string bytes_str(uint64_t bytes);  // "4 KiB", "1 MiB", "2 GiB"
uint64_t host_physical_bytes();
uint64_t device_free_bytes();

void report(const SuiteOptions& options, const std::string& line);

// Measures one shape: a kvsim::Error from `body` (an allocation that failed, a shape a library refuses) is reported,
// passed to options.failed, and the suite goes on (false returned); when the CUDA context itself is broken (a sticky
// error such as an illegal address), the error is rethrown and ends the suite. Interrupts pass through.
bool measure_shape(const SuiteOptions& options, const std::string& what, const std::function<void()>& body);
// Appends `s` to `out` and hands it to options.sample, so a run stopped mid-suite keeps what it measured.
void keep_sample(const SuiteOptions& options, std::vector<hw::RawSample>& out, hw::RawSample s);
hw::RawSample make_sample(const char* suite, std::string series, std::map<std::string, double> params, double value,
                          const char* unit);

inline constexpr uint64_t kKiB = 1024, kMiB = 1024 * kKiB, kGiB = 1024 * kMiB;

}  // namespace kvsim::kernels::cuda
