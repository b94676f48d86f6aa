// A fixed pool of host threads that gathers scattered rows into one contiguous buffer: the CPU half of the
// `cpu_staged` gather method, which is InfiniGen's path (OSDI'24, section 5: the selected KV rows are gathered on the
// CPU into a pinned buffer, then sent to the GPU in one bulk copy). Threads are started once so that a timed gather
// pays for the copying, not for thread creation.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <thread>
#include <vector>

namespace kvsim::kernels::cuda {

class GatherPool {
 public:
  explicit GatherPool(int threads);  // threads >= 1; the calling thread is one of them
  ~GatherPool();
  GatherPool(const GatherPool&) = delete;
  GatherPool& operator=(const GatherPool&) = delete;

  int threads() const { return static_cast<int>(workers_.size()) + 1; }

  // dst[i * row_bytes .. +row_bytes) = src[r * row_bytes ..) with r = row_index[i], or (row_index[i] + shift) %
  // pool_rows when pool_rows > 0 (a timing loop shifts the selection call by call, so no call reads rows the CPU's
  // caches still hold from the last); rows split evenly over the threads; returns when every row is copied.
  void gather(const uint8_t* src, const uint64_t* row_index, size_t rows, size_t row_bytes, uint8_t* dst,
              uint64_t shift = 0, uint64_t pool_rows = 0);

 private:
  void work(int part);
  void worker_loop(int part);

  std::vector<std::thread> workers_;
  std::mutex mutex_;
  std::condition_variable start_cv_, done_cv_;
  uint64_t generation_ = 0;
  int pending_ = 0;
  bool stop_ = false;
  const uint8_t* src_ = nullptr;
  const uint64_t* row_index_ = nullptr;
  size_t rows_ = 0, row_bytes_ = 0;
  uint64_t shift_ = 0, pool_rows_ = 0;
  uint8_t* dst_ = nullptr;
};

}  // namespace kvsim::kernels::cuda
