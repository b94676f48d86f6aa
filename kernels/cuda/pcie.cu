// PCIe host<->device copies: bandwidth vs transfer size for pinned and pageable host memory in each direction, both
// directions at once (duplex), several streams in one direction, and small copies: their per-copy cost back to back
// and their latency when waited for. These feed
// the link model of DESIGN.md "Hardware and performance models" (per-direction and duplex caps, same-direction copies
// sharing one copy engine, per-call latency of small copies).
#include <algorithm>
#include <memory>
#include <vector>

#include "kernels/cuda/common.cuh"

namespace kvsim::kernels {

using namespace cuda;

std::vector<hw::RawSample> run_pcie_suite(const SuiteOptions& options) {
  open_device(options, "pcie");
  TimingPlan plan = timing_plan(options);
  // 4 KiB .. 2 GiB; two device buffers (duplex needs a source and a destination) bounded by a quarter of free memory,
  // two pinned and one pageable host buffer by an eighth of host memory each.
  uint64_t cap_limit = std::min({options.max_bytes, 2 * kGiB, device_free_bytes() / 4, host_physical_bytes() / 8});
  std::vector<uint64_t> sizes = geometric_sizes(4 * kKiB, cap_limit, options.quick ? 4 : 2);
  std::vector<hw::RawSample> out;
  if (sizes.empty()) return out;
  uint64_t cap = sizes.back();

  report(options, "pcie: allocating 2 x " + bytes_str(cap) + " pinned, 2 x device, 1 x pageable");
  Stream s0, s1, s2, s3;
  cudaStream_t streams[4] = {s0.get(), s1.get(), s2.get(), s3.get()};
  Event fork(cudaEventDisableTiming), joins[4] = {Event(cudaEventDisableTiming), Event(cudaEventDisableTiming),
                                                  Event(cudaEventDisableTiming), Event(cudaEventDisableTiming)};
  PinnedBuffer host_a(cap, cudaHostAllocDefault), host_b(cap, cudaHostAllocDefault);
  std::unique_ptr<uint8_t[]> pageable(new uint8_t[cap]);
  DeviceBuffer dev_a(cap), dev_b(cap);
  fill_host_bytes(host_a.bytes_ptr(), cap, 11);
  fill_host_bytes(host_b.bytes_ptr(), cap, 12);
  fill_host_bytes(pageable.get(), cap, 13);  // also faults every page in before timing
  fill_bytes(dev_a.get(), cap, 14, s0.get());
  fill_bytes(dev_b.get(), cap, 15, s0.get());
  KVSIM_CUDA_CHECK(cudaStreamSynchronize(s0.get()));

  // Run body(stream index) on streams[0..n) concurrently, inside one timed call on streams[0].
  auto fan_out = [&](int n, const std::function<void(int)>& body) {
    KVSIM_CUDA_CHECK(cudaEventRecord(fork.get(), streams[0]));
    for (int i = 1; i < n; ++i) KVSIM_CUDA_CHECK(cudaStreamWaitEvent(streams[i], fork.get(), 0));
    for (int i = 0; i < n; ++i) body(i);
    for (int i = 1; i < n; ++i) {
      KVSIM_CUDA_CHECK(cudaEventRecord(joins[i].get(), streams[i]));
      KVSIM_CUDA_CHECK(cudaStreamWaitEvent(streams[0], joins[i].get(), 0));
    }
  };

  for (uint64_t bytes : sizes) {
    report(options, "pcie: " + bytes_str(bytes));
    measure_shape(options, "pcie " + bytes_str(bytes), [&] {
    // Rotate through the buffers so small copies do not keep re-reading the same lines from the CPU's caches.
    uint64_t slots = std::max<uint64_t>(1, cap / bytes);
    auto off = [&](int64_t call) { return (static_cast<uint64_t>(call) % slots) * bytes; };
    auto copy_s = [&](uint8_t* host, bool h2d) {
      return time_per_call_s(s0.get(), plan, [&](int64_t call) {
        uint8_t* d = dev_a.bytes_ptr() + off(call);
        uint8_t* h = host + off(call);
        KVSIM_CUDA_CHECK(h2d ? cudaMemcpyAsync(d, h, bytes, cudaMemcpyHostToDevice, s0.get())
                             : cudaMemcpyAsync(h, d, bytes, cudaMemcpyDeviceToHost, s0.get()));
      });
    };
    double b = static_cast<double>(bytes);
    keep_sample(options, out, make_sample("pcie", "h2d_pinned", {{"bytes", b}}, b / copy_s(host_a.bytes_ptr(), true), "bytes_per_s"));
    keep_sample(options, out, make_sample("pcie", "d2h_pinned", {{"bytes", b}}, b / copy_s(host_a.bytes_ptr(), false), "bytes_per_s"));
    keep_sample(options, out, make_sample("pcie", "h2d_pageable", {{"bytes", b}}, b / copy_s(pageable.get(), true), "bytes_per_s"));
    keep_sample(options, out, make_sample("pcie", "d2h_pageable", {{"bytes", b}}, b / copy_s(pageable.get(), false), "bytes_per_s"));
    // Duplex: an H2D and a D2H of `bytes` each at once; the value counts both directions.
    double duplex_s = time_per_call_s(s0.get(), plan, [&](int64_t call) {
      fan_out(2, [&](int i) {
        if (i == 0)
          KVSIM_CUDA_CHECK(cudaMemcpyAsync(dev_a.bytes_ptr() + off(call), host_a.bytes_ptr() + off(call), bytes,
                                           cudaMemcpyHostToDevice, streams[0]));
        else
          KVSIM_CUDA_CHECK(cudaMemcpyAsync(host_b.bytes_ptr() + off(call), dev_b.bytes_ptr() + off(call), bytes,
                                           cudaMemcpyDeviceToHost, streams[1]));
      });
    });
    keep_sample(options, out, make_sample("pcie", "duplex_pinned", {{"bytes", b}}, 2 * b / duplex_s, "bytes_per_s"));
    // Several streams in one direction: each copies `bytes` (its own slice); they share the H2D copy engine.
    for (int n : {2, 4}) {
      if (bytes < 64 * kKiB || bytes * static_cast<uint64_t>(n) > cap) continue;
      uint64_t group_slots = std::max<uint64_t>(1, cap / (bytes * n));
      double s = time_per_call_s(s0.get(), plan, [&](int64_t call) {
        uint64_t base = (static_cast<uint64_t>(call) % group_slots) * bytes * n;
        fan_out(n, [&](int i) {
          uint64_t o = base + static_cast<uint64_t>(i) * bytes;
          KVSIM_CUDA_CHECK(cudaMemcpyAsync(dev_a.bytes_ptr() + o, host_a.bytes_ptr() + o, bytes, cudaMemcpyHostToDevice,
                                           streams[i]));
        });
      });
      keep_sample(options, out, make_sample("pcie", "streams_h2d", {{"streams", n}, {"bytes", b}}, n * b / s, "bytes_per_s"));
    }
    });
  }

  // Small copies (4 B .. 4 KiB), two figures. per_copy: copies back to back in one stream, the time each adds (the
  // fixed cost a stream of small copies pays, which the transfer model adds per copy). latency: one copy issued and
  // waited for by the host (cudaMemcpyAsync + cudaStreamSynchronize, steady clock), what a copy that the next step
  // depends on costs.
  for (uint64_t bytes : geometric_sizes(4, 4 * kKiB, options.quick ? 4 : 2)) {
    report(options, "pcie: small copies " + bytes_str(bytes));
    measure_shape(options, "pcie small copies " + bytes_str(bytes), [&] {
      for (bool h2d : {true, false}) {
        auto one_copy = [&](int64_t call) {
          uint64_t o = (static_cast<uint64_t>(call) % 4096) * 4 * kKiB;  // 16 MiB of distinct 4 KiB slots
          o = o < cap ? o : 0;
          uint8_t* d = dev_a.bytes_ptr() + o;
          uint8_t* h = host_a.bytes_ptr() + o;
          KVSIM_CUDA_CHECK(h2d ? cudaMemcpyAsync(d, h, bytes, cudaMemcpyHostToDevice, s0.get())
                               : cudaMemcpyAsync(h, d, bytes, cudaMemcpyDeviceToHost, s0.get()));
        };
        const std::map<std::string, double> params = {{"bytes", static_cast<double>(bytes)}};
        const double per_copy_s = time_per_call_s(s0.get(), plan, one_copy);
        keep_sample(options, out, make_sample("pcie", h2d ? "per_copy_h2d" : "per_copy_d2h", params, per_copy_s * 1e9, "ns"));
        const double latency_s = time_per_call_host_s(plan, [&](int64_t call) {
          one_copy(call);
          KVSIM_CUDA_CHECK(cudaStreamSynchronize(s0.get()));
        });
        keep_sample(options, out, make_sample("pcie", h2d ? "latency_h2d" : "latency_d2h", params, latency_s * 1e9, "ns"));
      }
    });
  }

  // Pinned-allocation cost: cudaHostAlloc + cudaFreeHost of 64 MiB .. 1 GiB (page pinning dominates), as bytes
  // pinned per second; offloading engines pin their host KV pool once at start-up, so this is a start-up cost.
  for (uint64_t bytes : geometric_sizes(64 * kMiB, std::min<uint64_t>(1 * kGiB, cap), options.quick ? 16 : 4)) {
    report(options, "pcie: pinned allocation " + bytes_str(bytes));
    measure_shape(options, "pcie pinned allocation " + bytes_str(bytes), [&] {
      const double s = time_per_call_host_s(plan, [&](int64_t) {
        void* p = nullptr;
        KVSIM_CUDA_CHECK(cudaHostAlloc(&p, bytes, cudaHostAllocDefault));
        KVSIM_CUDA_CHECK(cudaFreeHost(p));
      });
      keep_sample(options, out, make_sample("pcie", "pinned_alloc", {{"bytes", static_cast<double>(bytes)}}, bytes / s, "bytes_per_s"));
    });
  }
  return out;
}

}  // namespace kvsim::kernels
