// Work items on threads: `body(k)` for every k in [0, count) on at most `threads` threads (the caller's among them),
// each taking the next item when it finishes one. The first exception any body throws stops the others after their
// current item and is rethrown here once every thread has joined; so is a failure to start a thread. Bodies that
// share state lock it themselves.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

namespace kvsim {

template <typename Body>
void parallel_for(size_t count, int threads, const Body& body) {
  std::atomic<size_t> next{0};
  std::mutex mutex;
  std::exception_ptr error;
  const auto worker = [&] {
    try {
      for (size_t k = next++; k < count; k = next++) body(k);
    } catch (...) {
      std::lock_guard<std::mutex> lock(mutex);
      if (!error) error = std::current_exception();
      next = count;  // the others stop after their current item
    }
  };
  std::vector<std::thread> pool;
  try {
    for (size_t t = 1; t < std::min(count, static_cast<size_t>(std::max(1, threads))); ++t) pool.emplace_back(worker);
  } catch (...) {  // no thread to be had: the ones started finish their item, then the error stands
    next = count;
    for (auto& th : pool) th.join();
    throw;
  }
  worker();
  for (auto& th : pool) th.join();
  if (error) std::rethrow_exception(error);
}

}  // namespace kvsim
