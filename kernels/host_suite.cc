// Host suite: DRAM memcpy bandwidth with 1, 2, 4, .. N threads over buffers far larger than the last-level cache,
// pages touched before timing, median of repeats. It runs on every machine (no CUDA here: pinned-allocation cost is
// the GPU suites' to measure).
#include <unistd.h>
#include <algorithm>
#include <chrono>
#include <cstring>
#include <fstream>
#include <memory>
#include <sstream>
#include <thread>

#include <fmt/format.h>

#include "kernels/suite.h"
#include "sim/core/error.h"
#include "sim/core/interrupt.h"

namespace kvsim::kernels {

namespace {

constexpr uint64_t kMiB = 1ull << 20;

// MemAvailable from /proc/meminfo, else free physical pages; 0 when unknown.
uint64_t available_memory_bytes() {
  std::ifstream in("/proc/meminfo");
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    std::string key;
    uint64_t kib = 0;
    if (fields >> key >> kib && key == "MemAvailable:") return kib * 1024;
  }
  const long pages = sysconf(_SC_AVPHYS_PAGES);
  const long page_size = sysconf(_SC_PAGESIZE);
  return pages > 0 && page_size > 0 ? static_cast<uint64_t>(pages) * static_cast<uint64_t>(page_size) : 0;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 == 1 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

// Seconds for `threads` threads to copy `bytes` from src to dst, each its own contiguous 64-byte-aligned chunk.
double timed_copy(char* dst, const char* src, uint64_t bytes, int64_t threads) {
  const uint64_t chunk = bytes / static_cast<uint64_t>(threads) / 64 * 64;
  const auto start = std::chrono::steady_clock::now();
  std::vector<std::thread> workers;
  workers.reserve(static_cast<size_t>(threads));
  for (int64_t t = 0; t < threads; ++t) {
    const uint64_t begin = chunk * static_cast<uint64_t>(t);
    const uint64_t end = t + 1 == threads ? bytes : begin + chunk;
    workers.emplace_back([=] { std::memcpy(dst + begin, src + begin, end - begin); });
  }
  for (auto& w : workers) w.join();
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace

std::vector<hw::RawSample> run_host_suite(const SuiteOptions& options) {
  int64_t max_threads = options.host_max_threads;
  if (max_threads <= 0) max_threads = usable_cpu_count();
  uint64_t bytes = options.host_bytes > 0 ? options.host_bytes : (options.quick ? 256 * kMiB : 1024 * kMiB);
  // Source and destination together within half of the available memory.
  if (const uint64_t avail = available_memory_bytes(); avail > 0) bytes = std::min(bytes, avail / 4);
  bytes = bytes / 4096 * 4096;
  if (bytes < 4096)
    throw Error(fmt::format("host suite: too little memory available for a copy buffer ({} bytes)", bytes));

  const std::unique_ptr<char[]> src(new char[bytes]);
  const std::unique_ptr<char[]> dst(new char[bytes]);
  // Touch every page first so page faults are not timed; a non-zero pattern keeps the source honest.
  std::memset(src.get(), 0x5a, bytes);
  std::memset(dst.get(), 0, bytes);

  std::vector<int64_t> thread_counts;
  for (int64_t t = 1; t < max_threads; t *= 2) thread_counts.push_back(t);
  thread_counts.push_back(max_threads);

  const int repeats = options.quick ? 3 : 7;
  std::vector<hw::RawSample> out;
  for (const int64_t threads : thread_counts) {
    timed_copy(dst.get(), src.get(), bytes, threads);  // warm-up
    std::vector<double> rates;
    for (int r = 0; r < repeats; ++r) {
      throw_if_interrupted();
      const double seconds = timed_copy(dst.get(), src.get(), bytes, threads);
      if (seconds > 0) rates.push_back(static_cast<double>(bytes) / seconds);
    }
    if (rates.empty()) continue;
    hw::RawSample s;
    s.suite = "host";
    s.series = "memcpy";
    s.params = {{"threads", static_cast<double>(threads)}, {"bytes", static_cast<double>(bytes)}};
    s.value = median(rates);
    s.unit = "bytes_per_s";
    if (options.sample) options.sample(s);
    out.push_back(s);
    if (options.progress) {
      options.progress(
          fmt::format("host: memcpy {} MiB with {} threads: {:.1f} GB/s", bytes / kMiB, threads, s.value / 1e9));
    }
  }
  return out;
}

}  // namespace kvsim::kernels
