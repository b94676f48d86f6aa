// Host-thread row gather for the cpu_staged method (see cpu_gather.h).
#include "kernels/cuda/cpu_gather.h"

#include <cstring>

namespace kvsim::kernels::cuda {

GatherPool::GatherPool(int threads) {
  for (int part = 1; part < threads; ++part) workers_.emplace_back([this, part] { worker_loop(part); });
}

GatherPool::~GatherPool() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stop_ = true;
  }
  start_cv_.notify_all();
  for (auto& t : workers_) t.join();
}

void GatherPool::work(int part) {
  size_t parts = static_cast<size_t>(threads());
  size_t begin = rows_ * static_cast<size_t>(part) / parts, end = rows_ * static_cast<size_t>(part + 1) / parts;
  for (size_t i = begin; i < end; ++i) {
    const uint64_t row = pool_rows_ > 0 ? (row_index_[i] + shift_) % pool_rows_ : row_index_[i];
    std::memcpy(dst_ + i * row_bytes_, src_ + row * row_bytes_, row_bytes_);
  }
}

void GatherPool::worker_loop(int part) {
  uint64_t seen = 0;
  for (;;) {
    {
      std::unique_lock<std::mutex> lock(mutex_);
      start_cv_.wait(lock, [&] { return stop_ || generation_ != seen; });
      if (stop_) return;
      seen = generation_;
    }
    work(part);
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (--pending_ == 0) done_cv_.notify_one();
    }
  }
}

void GatherPool::gather(const uint8_t* src, const uint64_t* row_index, size_t rows, size_t row_bytes, uint8_t* dst,
                        uint64_t shift, uint64_t pool_rows) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    src_ = src;
    row_index_ = row_index;
    rows_ = rows;
    row_bytes_ = row_bytes;
    dst_ = dst;
    shift_ = shift;
    pool_rows_ = pool_rows;
    pending_ = static_cast<int>(workers_.size());
    ++generation_;
  }
  start_cv_.notify_all();
  work(0);
  std::unique_lock<std::mutex> lock(mutex_);
  done_cv_.wait(lock, [&] { return pending_ == 0; });
}

}  // namespace kvsim::kernels::cuda
