// Device probe, error reporting, RAII owners, timing and input fills shared by the CUDA suites (see common.cuh).
#include "kernels/cuda/common.cuh"

#include <cublasLt.h>
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_fp8.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <utility>

#include "sim/core/error.h"
#include "sim/core/interrupt.h"

namespace kvsim::kernels {

namespace {

std::string version_str(int v) {  // 13000 -> "13.0"
  return std::to_string(v / 1000) + "." + std::to_string((v % 1000) / 10);
}

}  // namespace

bool built_with_cuda() { return true; }

std::optional<DeviceInfo> probe_device(int device, std::string* why) {
  auto fail = [&](std::string reason) -> std::optional<DeviceInfo> {
    cudaGetLastError();  // clear the non-sticky error so later calls start clean
    if (why) *why = std::move(reason);
    return std::nullopt;
  };
  int count = 0;
  cudaError_t err = cudaGetDeviceCount(&count);
  // No driver (cudaErrorInsufficientDriver), no GPU (cudaErrorNoDevice) or any other failure: not a crash.
  if (err != cudaSuccess) return fail(std::string("no CUDA device: ") + cudaGetErrorString(err));
  if (count == 0) return fail("no CUDA device: the runtime found 0 devices");
  if (device < 0 || device >= count)
    return fail("no CUDA device " + std::to_string(device) + ": the runtime found " + std::to_string(count));
  cudaDeviceProp prop{};
  if ((err = cudaGetDeviceProperties(&prop, device)) != cudaSuccess)
    return fail(std::string("no CUDA device: cudaGetDeviceProperties: ") + cudaGetErrorString(err));
  int driver = 0, runtime = 0;
  if ((err = cudaDriverGetVersion(&driver)) != cudaSuccess)
    return fail(std::string("no CUDA device: cudaDriverGetVersion: ") + cudaGetErrorString(err));
  if ((err = cudaRuntimeGetVersion(&runtime)) != cudaSuccess)
    return fail(std::string("no CUDA device: cudaRuntimeGetVersion: ") + cudaGetErrorString(err));
  int previous = 0;
  cudaGetDevice(&previous);
  size_t free_bytes = 0, total_bytes = 0;
  err = cudaSetDevice(device);
  if (err == cudaSuccess) err = cudaMemGetInfo(&free_bytes, &total_bytes);
  cudaSetDevice(previous);
  if (err != cudaSuccess) return fail(std::string("no CUDA device: cudaMemGetInfo: ") + cudaGetErrorString(err));
  DeviceInfo info;
  info.name = prop.name;
  info.driver_version = version_str(driver);  // the CUDA version the driver supports (no NVML here)
  info.cuda_version = version_str(runtime);
  info.total_bytes = total_bytes;
  info.free_bytes = free_bytes;
  info.sm_count = prop.multiProcessorCount;
  info.cc_major = prop.major;
  info.cc_minor = prop.minor;
  info.l2_bytes = static_cast<uint64_t>(prop.l2CacheSize);
  return info;
}

namespace cuda {

void throw_cuda_error(const char* call, cudaError_t err, const char* file, int line) {
  cudaGetLastError();
  throw Error(std::string(call) + ": " + cudaGetErrorName(err) + ": " + cudaGetErrorString(err) + " (" + file + ":" +
              std::to_string(line) + ")");
}

void throw_cublas_error(const char* call, int status, const char* file, int line) {
  throw Error(std::string(call) + ": " + cublasLtGetStatusString(static_cast<cublasStatus_t>(status)) + " (" + file +
              ":" + std::to_string(line) + ")");
}

DeviceBuffer::DeviceBuffer(size_t bytes) : bytes_(bytes) {
  if (bytes > 0) KVSIM_CUDA_CHECK(cudaMalloc(&ptr_, bytes));
}
DeviceBuffer::~DeviceBuffer() {
  if (ptr_) cudaFree(ptr_);
}
DeviceBuffer::DeviceBuffer(DeviceBuffer&& other) noexcept
    : ptr_(std::exchange(other.ptr_, nullptr)), bytes_(std::exchange(other.bytes_, 0)) {}
DeviceBuffer& DeviceBuffer::operator=(DeviceBuffer&& other) noexcept {
  if (this != &other) {
    if (ptr_) cudaFree(ptr_);
    ptr_ = std::exchange(other.ptr_, nullptr);
    bytes_ = std::exchange(other.bytes_, 0);
  }
  return *this;
}

PinnedBuffer::PinnedBuffer(size_t bytes, unsigned flags) : bytes_(bytes) {
  if (bytes > 0) KVSIM_CUDA_CHECK(cudaHostAlloc(&ptr_, bytes, flags));
}
PinnedBuffer::~PinnedBuffer() {
  if (ptr_) cudaFreeHost(ptr_);
}
PinnedBuffer::PinnedBuffer(PinnedBuffer&& other) noexcept
    : ptr_(std::exchange(other.ptr_, nullptr)), bytes_(std::exchange(other.bytes_, 0)) {}
PinnedBuffer& PinnedBuffer::operator=(PinnedBuffer&& other) noexcept {
  if (this != &other) {
    if (ptr_) cudaFreeHost(ptr_);
    ptr_ = std::exchange(other.ptr_, nullptr);
    bytes_ = std::exchange(other.bytes_, 0);
  }
  return *this;
}

Stream::Stream() { KVSIM_CUDA_CHECK(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking)); }
Stream::~Stream() {
  if (stream_) cudaStreamDestroy(stream_);
}

Event::Event(unsigned flags) { KVSIM_CUDA_CHECK(cudaEventCreateWithFlags(&event_, flags)); }
Event::~Event() {
  if (event_) cudaEventDestroy(event_);
}

DeviceInfo open_device(const SuiteOptions& options, const char* suite) {
  std::string why;
  auto info = probe_device(options.device, &why);
  if (!info) throw Error(std::string(suite) + " suite: " + why);
  KVSIM_CUDA_CHECK(cudaSetDevice(options.device));
  return *info;
}

TimingPlan timing_plan(const SuiteOptions& options) {
  TimingPlan plan;
  if (options.quick) {
    plan.warmup = 1;
    plan.repeats = 5;
    plan.min_run_s = 0.5e-3;
    plan.max_inner = 200;
  }
  return plan;
}

double median(std::vector<double> values) {
  if (values.empty()) return 0;
  std::sort(values.begin(), values.end());
  size_t n = values.size();
  return n % 2 ? values[n / 2] : 0.5 * (values[n / 2 - 1] + values[n / 2]);
}

namespace {

// The warm-up calls, then one timed call that sizes the runs: enough back-to-back calls that a run lasts min_run_s
// (event resolution ~0.5 us). `call` counts every call made.
int warm_up_and_size(cudaStream_t stream, const TimingPlan& plan, const std::function<void(int64_t)>& body,
                     int64_t& call, Event& start, Event& stop) {
  throw_if_interrupted();  // Ctrl-C stops calibration between two measurements (each lasts well under a second)
  for (int i = 0; i < plan.warmup; ++i) body(call++);
  KVSIM_CUDA_CHECK(cudaStreamSynchronize(stream));
  KVSIM_CUDA_CHECK(cudaEventRecord(start.get(), stream));
  body(call++);
  KVSIM_CUDA_CHECK(cudaEventRecord(stop.get(), stream));
  KVSIM_CUDA_CHECK(cudaEventSynchronize(stop.get()));
  float ms = 0;
  KVSIM_CUDA_CHECK(cudaEventElapsedTime(&ms, start.get(), stop.get()));
  const double one_s = std::max(1e-7, ms * 1e-3);
  return static_cast<int>(std::clamp(plan.min_run_s / one_s, 1.0, static_cast<double>(plan.max_inner)));
}

}  // namespace

double time_per_call_s(cudaStream_t stream, const TimingPlan& plan, const std::function<void(int64_t)>& body) {
  Event start, stop;
  int64_t call = 0;
  const int inner = warm_up_and_size(stream, plan, body, call, start, stop);
  std::vector<double> per_call;
  float ms = 0;
  for (int r = 0; r < plan.repeats; ++r) {
    KVSIM_CUDA_CHECK(cudaEventRecord(start.get(), stream));
    for (int i = 0; i < inner; ++i) body(call++);
    KVSIM_CUDA_CHECK(cudaEventRecord(stop.get(), stream));
    KVSIM_CUDA_CHECK(cudaEventSynchronize(stop.get()));
    KVSIM_CUDA_CHECK(cudaEventElapsedTime(&ms, start.get(), stop.get()));
    per_call.push_back(ms * 1e-3 / inner);
  }
  return median(per_call);
}

double time_per_call_graph_s(cudaStream_t stream, const TimingPlan& plan, const std::function<void(int64_t)>& body,
                             int64_t period) {
  Event start, stop;
  int64_t call = 0;
  // Every replay reruns the same calls: at least one rotation period of them, or a replay would reread what L2 holds.
  const int inner = std::max(warm_up_and_size(stream, plan, body, call, start, stop),
                             static_cast<int>(std::clamp<int64_t>(period, 1, kMaxCapturedCalls)));
  float ms = 0;

  struct GraphOwner {
    cudaGraph_t graph = nullptr;
    cudaGraphExec_t exec = nullptr;
    ~GraphOwner() {
      if (exec) cudaGraphExecDestroy(exec);
      if (graph) cudaGraphDestroy(graph);
    }
  } g;
  KVSIM_CUDA_CHECK(cudaStreamBeginCapture(stream, cudaStreamCaptureModeThreadLocal));
  bool captured = true;
  try {
    for (int i = 0; i < inner; ++i) body(call++);
  } catch (const Error&) {
    captured = false;  // a call the graph cannot hold (e.g. a pageable copy): time it eagerly below
  } catch (...) {
    cudaStreamEndCapture(stream, &g.graph);  // the stream must not stay capturing; the graph owner frees the rest
    cudaGetLastError();
    throw;
  }
  const cudaError_t end = cudaStreamEndCapture(stream, &g.graph);
  if (!captured || end != cudaSuccess || g.graph == nullptr) {
    cudaGetLastError();
    KVSIM_CUDA_CHECK(cudaStreamSynchronize(stream));
    return time_per_call_s(stream, plan, body);
  }
  KVSIM_CUDA_CHECK(cudaGraphInstantiate(&g.exec, g.graph, 0));
  KVSIM_CUDA_CHECK(cudaGraphLaunch(g.exec, stream));  // upload and warm
  KVSIM_CUDA_CHECK(cudaStreamSynchronize(stream));
  std::vector<double> per_call;
  for (int r = 0; r < plan.repeats; ++r) {
    throw_if_interrupted();
    KVSIM_CUDA_CHECK(cudaEventRecord(start.get(), stream));
    KVSIM_CUDA_CHECK(cudaGraphLaunch(g.exec, stream));
    KVSIM_CUDA_CHECK(cudaEventRecord(stop.get(), stream));
    KVSIM_CUDA_CHECK(cudaEventSynchronize(stop.get()));
    KVSIM_CUDA_CHECK(cudaEventElapsedTime(&ms, start.get(), stop.get()));
    per_call.push_back(ms * 1e-3 / inner);
  }
  return median(per_call);
}

double time_per_call_host_s(const TimingPlan& plan, const std::function<void(int64_t)>& body) {
  throw_if_interrupted();
  using Clock = std::chrono::steady_clock;
  int64_t call = 0;
  for (int i = 0; i < plan.warmup; ++i) body(call++);
  auto t0 = Clock::now();
  body(call++);
  double one_s = std::max(1e-7, std::chrono::duration<double>(Clock::now() - t0).count());
  int inner = static_cast<int>(std::clamp(plan.min_run_s / one_s, 1.0, static_cast<double>(plan.max_inner)));
  std::vector<double> per_call;
  for (int r = 0; r < plan.repeats; ++r) {
    auto start = Clock::now();
    for (int i = 0; i < inner; ++i) body(call++);
    per_call.push_back(std::chrono::duration<double>(Clock::now() - start).count() / inner);
  }
  return median(per_call);
}

namespace {

__host__ __device__ inline uint32_t hash32(uint64_t x) {  // splitmix64 finaliser, folded to 32 bits
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  x ^= x >> 31;
  return static_cast<uint32_t>(x ^ (x >> 32));
}

__global__ void fill_bytes_kernel(uint32_t* words, size_t n_words, uint8_t* tail, size_t tail_bytes, uint32_t seed) {
  size_t stride = static_cast<size_t>(gridDim.x) * blockDim.x;
  for (size_t i = blockIdx.x * static_cast<size_t>(blockDim.x) + threadIdx.x; i < n_words; i += stride)
    words[i] = hash32(i * 2654435761ull + seed) | 0x01010101u;  // no zero byte anywhere
  if (blockIdx.x == 0 && threadIdx.x < tail_bytes) tail[threadIdx.x] = 0x5a;
}

__global__ void fill_values_kernel(void* out, size_t count, int type, uint32_t seed) {
  size_t stride = static_cast<size_t>(gridDim.x) * blockDim.x;
  for (size_t i = blockIdx.x * static_cast<size_t>(blockDim.x) + threadIdx.x; i < count; i += stride) {
    float v = (hash32(i + (static_cast<uint64_t>(seed) << 40)) >> 8) * (2.0f / 16777216.0f) - 1.0f;
    switch (type) {
      case 0:
        static_cast<__nv_bfloat16*>(out)[i] = __float2bfloat16(v);
        break;
      case 1:
        static_cast<__half*>(out)[i] = __float2half(v);
        break;
      case 2:
        static_cast<__nv_fp8_e4m3*>(out)[i] = __nv_fp8_e4m3(v);
        break;
      default:
        static_cast<float*>(out)[i] = v;
        break;
    }
  }
}

constexpr int kFillThreads = 256, kFillBlocks = 1024;

}  // namespace

void fill_bytes(void* device_ptr, size_t bytes, uint32_t seed, cudaStream_t stream) {
  size_t n_words = bytes / 4;
  fill_bytes_kernel<<<kFillBlocks, kFillThreads, 0, stream>>>(
      static_cast<uint32_t*>(device_ptr), n_words, static_cast<uint8_t*>(device_ptr) + n_words * 4, bytes % 4, seed);
  KVSIM_CUDA_CHECK_LAUNCH("fill_bytes_kernel");
}

void fill_host_bytes(void* host_ptr, size_t bytes, uint32_t seed) {
  auto* p = static_cast<uint8_t*>(host_ptr);
  uint64_t word = (static_cast<uint64_t>(hash32(seed)) << 32 | hash32(seed + 1ull)) | 0x0101010101010101ull;
  size_t i = 0;
  for (; i + 8 <= bytes; i += 8) {
    uint64_t w = word ^ (i * 0x9e3779b97f4a7c15ull & 0x7e7e7e7e7e7e7e7eull);  // bit 0 of each byte stays set
    std::memcpy(p + i, &w, 8);
  }
  for (; i < bytes; ++i) p[i] = 0x5a;
}

void fill_values(void* device_ptr, size_t count, ElementType type, uint32_t seed, cudaStream_t stream) {
  fill_values_kernel<<<kFillBlocks, kFillThreads, 0, stream>>>(device_ptr, count, static_cast<int>(type), seed);
  KVSIM_CUDA_CHECK_LAUNCH("fill_values_kernel");
}

std::vector<uint64_t> geometric_sizes(uint64_t lo, uint64_t hi, uint64_t factor) {
  std::vector<uint64_t> out;
  for (uint64_t s = lo; s <= hi && s > 0; s *= factor) out.push_back(s);
  return out;
}

std::string bytes_str(uint64_t bytes) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  int u = 0;
  double v = static_cast<double>(bytes);
  while (v >= 1024 && u < 4) {
    v /= 1024;
    ++u;
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, v == static_cast<double>(static_cast<uint64_t>(v)) ? "%.0f %s" : "%.1f %s", v,
                units[u]);
  return buf;
}

uint64_t host_physical_bytes() {
  long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
  return pages > 0 && page > 0 ? static_cast<uint64_t>(pages) * static_cast<uint64_t>(page) : (16ull << 30);
}

uint64_t device_free_bytes() {
  size_t free_bytes = 0, total_bytes = 0;
  KVSIM_CUDA_CHECK(cudaMemGetInfo(&free_bytes, &total_bytes));
  return free_bytes;
}

void report(const SuiteOptions& options, const std::string& line) {
  if (options.progress) options.progress(line);
}

bool measure_shape(const SuiteOptions& options, const std::string& what, const std::function<void()>& body) {
  try {
    body();
    return true;
  } catch (const Error& e) {
    // A sticky error (the context is lost) shows at the next synchronisation; anything after it would fail too.
    const cudaError_t sticky = cudaDeviceSynchronize();
    cudaGetLastError();
    if (sticky != cudaSuccess) throw;
    report(options, what + " failed, skipped: " + e.what());
    if (options.failed) options.failed(what + ": " + e.what());
    return false;
  }
}

void keep_sample(const SuiteOptions& options, std::vector<hw::RawSample>& out, hw::RawSample s) {
  out.push_back(std::move(s));
  if (options.sample) options.sample(out.back());
}

hw::RawSample make_sample(const char* suite, std::string series, std::map<std::string, double> params, double value,
                          const char* unit) {
  hw::RawSample s;
  s.suite = suite;
  s.series = std::move(series);
  s.params = std::move(params);
  s.value = value;
  s.unit = unit;
  return s;
}

}  // namespace cuda
}  // namespace kvsim::kernels
