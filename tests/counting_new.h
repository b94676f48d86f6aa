// Replaces the global operator new and delete to count heap allocations, live bytes and their peak, for tests that
// prove memory bounds (counted this way the checks hold under sanitizers too, unlike RSS). Include it in exactly one
// file of a test executable of its own: the replacement applies to the whole program.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <new>

namespace kvsim::testing {
inline std::atomic<int64_t> g_heap_live_bytes{0};
inline std::atomic<int64_t> g_heap_peak_bytes{0};
inline std::atomic<int64_t> g_heap_allocations{0};
inline constexpr size_t kHeapHeaderBytes = alignof(std::max_align_t);  // each block's size, kept before it
}  // namespace kvsim::testing

void* operator new(size_t n) {
  using namespace kvsim::testing;
  auto* p = static_cast<unsigned char*>(std::malloc(n + kHeapHeaderBytes));
  if (!p) throw std::bad_alloc();
  *reinterpret_cast<size_t*>(p) = n;
  g_heap_allocations.fetch_add(1);
  const int64_t live = g_heap_live_bytes.fetch_add(static_cast<int64_t>(n)) + static_cast<int64_t>(n);
  int64_t peak = g_heap_peak_bytes.load();
  while (live > peak && !g_heap_peak_bytes.compare_exchange_weak(peak, live)) {
  }
  return p + kHeapHeaderBytes;
}
void operator delete(void* q) noexcept {
  using namespace kvsim::testing;
  if (!q) return;
  auto* p = static_cast<unsigned char*>(q) - kHeapHeaderBytes;
  g_heap_live_bytes.fetch_sub(static_cast<int64_t>(*reinterpret_cast<size_t*>(p)));
  std::free(p);
}
void operator delete(void* q, size_t) noexcept { operator delete(q); }
