// The attention suite: (a) the paged decode-attention kernel's KV read bandwidth vs context, batch and block size, and
// (b) the simple causal prefill kernel's FLOP/s vs tokens. Shapes follow Llama-3.1-8B (32 query heads, 8 KV heads,
// head_dim 128; its config.json), the model the calibration targets of DESIGN.md are stated for.
#include <algorithm>
#include <numeric>
#include <random>
#include <vector>

#include "kernels/cuda/attention.cuh"
#include "kernels/cuda/common.cuh"

namespace kvsim::kernels {

namespace {

using namespace cuda;

constexpr int kQHeads = 32, kKvHeads = 8;
constexpr uint64_t kKvBytesPerToken = uint64_t{kKvHeads} * kHeadDim * 2 /*K,V*/ * 2 /*bf16*/;  // 4 KiB
constexpr uint64_t kTableSeed = 0x6b76706167656421ull;  // fixed so every run shuffles the pool the same way

void run_decode(const SuiteOptions& options, const DeviceInfo& info, const TimingPlan& plan, Stream& stream,
                std::vector<hw::RawSample>& out) {
  std::vector<uint64_t> contexts = geometric_sizes(128, 128 * 1024, options.quick ? 4 : 2);
  std::vector<int> batches = options.quick ? std::vector<int>{1, 32, 128} : std::vector<int>{1, 8, 32, 64, 128, 256};
  // Only shapes whose KV fits in half the free memory (the pool below).
  uint64_t pool_cap = device_free_bytes() / 2;
  uint64_t needed = 0;
  for (uint64_t c : contexts)
    for (int b : batches)
      if (c * b * kKvBytesPerToken <= pool_cap) needed = std::max(needed, c * b * kKvBytesPerToken);
  if (needed == 0) return;
  // Small shapes rotate over several disjoint sets of blocks (3 x L2 in all) so no call reads KV that L2 still holds.
  uint64_t pool_bytes = std::min(pool_cap, std::max(needed, 4 * info.l2_bytes + 64 * kMiB));
  report(options, "attention: decode KV pool " + bytes_str(pool_bytes));
  DeviceBuffer pool(pool_bytes), q(static_cast<size_t>(256) * kQHeads * kHeadDim * 2),
      o(static_cast<size_t>(256) * kQHeads * kHeadDim * 4), lens(256 * sizeof(int32_t));
  fill_values(pool.get(), pool_bytes / 2, ElementType::kBf16, 31, stream.get());
  fill_values(q.get(), q.size_bytes() / 2, ElementType::kBf16, 32, stream.get());

  for (int block_size : {8, 16, 32}) {
    uint64_t block_bytes = static_cast<uint64_t>(block_size) * kKvBytesPerToken;  // K and V, all heads
    int64_t pool_blocks = static_cast<int64_t>(pool_bytes / block_bytes);
    std::vector<int32_t> perm(static_cast<size_t>(pool_blocks));
    std::iota(perm.begin(), perm.end(), 0);
    std::mt19937_64 rng(kTableSeed + block_size);
    std::shuffle(perm.begin(), perm.end(), rng);  // pages scattered over the pool, as after a while of serving
    for (uint64_t context : contexts) {
      for (int batch : batches) {
        uint64_t kv_bytes = context * batch * kKvBytesPerToken;
        if (kv_bytes > pool_cap) continue;
        DecodeShape shape{batch,
                          kQHeads,
                          kKvHeads,
                          block_size,
                          static_cast<int>((context + block_size - 1) / block_size),
                          static_cast<int>(context)};
        const std::string what = "attention decode bs" + std::to_string(block_size) + " context " +
                                 std::to_string(context) + " batch " + std::to_string(batch);
        measure_shape(options, what, [&] {
          int64_t blocks_per_call = static_cast<int64_t>(batch) * shape.max_blocks;
          int64_t rotations =
              std::clamp<int64_t>(static_cast<int64_t>((3 * info.l2_bytes + kv_bytes - 1) / kv_bytes), 1,
                                  std::max<int64_t>(1, std::min<int64_t>(1024, pool_blocks / blocks_per_call)));
          std::vector<int32_t> table(static_cast<size_t>(rotations * blocks_per_call));
          for (size_t i = 0; i < table.size(); ++i) table[i] = perm[i % perm.size()];
          std::vector<int32_t> lens_h(static_cast<size_t>(batch), static_cast<int32_t>(context));
          DeviceBuffer table_d(table.size() * sizeof(int32_t));
          KVSIM_CUDA_CHECK(cudaMemcpyAsync(table_d.get(), table.data(), table.size() * sizeof(int32_t),
                                           cudaMemcpyHostToDevice, stream.get()));
          KVSIM_CUDA_CHECK(cudaMemcpyAsync(lens.get(), lens_h.data(), lens_h.size() * sizeof(int32_t),
                                           cudaMemcpyHostToDevice, stream.get()));
          int splits = decode_splits(shape, info.sm_count);
          DeviceBuffer workspace(splits > 1 ? decode_workspace_bytes(shape, splits) : 0);
          report(options, "attention: decode bs" + std::to_string(block_size) + " context " + std::to_string(context) +
                              " batch " + std::to_string(batch) + " (" + std::to_string(splits) + " splits)");
          double seconds = time_per_call_graph_s(
              stream.get(), plan,
              [&](int64_t call) {
                const int32_t* t = table_d.get<int32_t>() + (call % rotations) * blocks_per_call;
                launch_paged_decode(shape, splits, q.get<__nv_bfloat16>(), pool.get<__nv_bfloat16>(), t,
                                    lens.get<int32_t>(), o.get<float>(), workspace.get(), stream.get());
              },
              rotations);
          // The host vectors above are freed at the end of this iteration: the copies must be done by then (they are:
          // time_per_call_s synchronises).
          double kvb = static_cast<double>(kv_bytes);
          keep_sample(options, out,
                      make_sample("attention", "decode/bs" + std::to_string(block_size),
                                  {{"context", static_cast<double>(context)},
                                   {"batch", static_cast<double>(batch)},
                                   {"block_size", static_cast<double>(block_size)},
                                   {"kv_bytes", kvb}},
                                  kvb / seconds, "bytes_per_s"));
        });
      }
    }
  }
}

void run_prefill(const SuiteOptions& options, const TimingPlan& plan, Stream& stream, std::vector<hw::RawSample>& out) {
  std::vector<uint64_t> token_counts = geometric_sizes(512, options.quick ? 8192 : 16384, options.quick ? 4 : 2);
  uint64_t max_tokens = token_counts.back();
  size_t elems = static_cast<size_t>(max_tokens) * kQHeads * kHeadDim;
  DeviceBuffer q(elems * 2), k(elems * 2), v(elems * 2), o(elems * 4);
  fill_values(q.get(), elems, ElementType::kBf16, 41, stream.get());
  fill_values(k.get(), elems, ElementType::kBf16, 42, stream.get());
  fill_values(v.get(), elems, ElementType::kBf16, 43, stream.get());
  for (uint64_t tokens : token_counts) {
    report(options, "attention: prefill kvsim-simple " + std::to_string(tokens) + " tokens");
    measure_shape(options, "attention prefill " + std::to_string(tokens) + " tokens", [&] {
      double seconds = time_per_call_graph_s(stream.get(), plan, [&](int64_t) {
        launch_prefill_simple(static_cast<int>(tokens), kQHeads, q.get<__nv_bfloat16>(), k.get<__nv_bfloat16>(),
                              v.get<__nv_bfloat16>(), o.get<float>(), stream.get());
      });
      // Causal attention FLOPs: QK^T and PV, 2 x 2 x head_dim per (query, key) pair, tokens (tokens + 1) / 2 pairs.
      double t = static_cast<double>(tokens);
      double flops = 4.0 * kQHeads * kHeadDim * t * (t + 1) / 2;
      keep_sample(
          options, out,
          make_sample("attention", "prefill/kvsim-simple", {{"tokens", t}, {"heads", kQHeads}, {"head_dim", kHeadDim}},
                      flops / seconds, "flops_per_s"));
    });
  }
}

}  // namespace

std::vector<hw::RawSample> run_attention_suite(const SuiteOptions& options) {
  DeviceInfo info = open_device(options, "attention");
  TimingPlan plan = timing_plan(options);
  Stream stream;
  std::vector<hw::RawSample> out;
  run_decode(options, info, plan, stream, out);
  run_prefill(options, plan, stream, out);
  return out;
}

}  // namespace kvsim::kernels
