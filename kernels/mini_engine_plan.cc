// Buffer sizes of the mini decode engine (kernels/mini_engine.h), host-side so that a build without CUDA tests them.
#include <algorithm>

#include "kernels/mini_engine.h"

namespace kvsim::kernels {

MiniEngineSizes mini_engine_sizes(const MiniEngineModel& m, const std::vector<MiniIteration>& schedule, int block_size,
                                  const std::function<size_t(int64_t batch, int64_t max_context)>& workspace_for) {
  MiniEngineSizes z;
  const int64_t bs = std::max(1, block_size);
  for (const MiniIteration& it : schedule) {
    int64_t tokens = static_cast<int64_t>(it.decode_context.size()), blocks = 0, max_context = 1;
    for (const int64_t p : it.prefill_tokens) {
      tokens += p;
      z.max_prefill = std::max(z.max_prefill, p);
    }
    for (const int64_t c : it.decode_context) {
      const int64_t b = (c + bs - 1) / bs;
      z.max_blocks_per_seq = std::max(z.max_blocks_per_seq, b);
      blocks += b;
      max_context = std::max(max_context, c);
    }
    const auto batch = static_cast<int64_t>(it.decode_context.size());
    z.max_tokens = std::max(z.max_tokens, tokens);
    z.max_decode = std::max(z.max_decode, batch);
    z.total_blocks = std::max(z.total_blocks, blocks);
    z.max_swap = std::max({z.max_swap, it.swap_in_blocks, it.swap_out_blocks});
    z.max_evict = std::max(z.max_evict, it.evict_tokens * m.q_heads);
    z.max_gather = std::max(z.max_gather, it.gather_rows);
    if (batch > 0 && workspace_for)
      z.decode_workspace_bytes = std::max(z.decode_workspace_bytes, workspace_for(batch, max_context));
  }
  return z;
}

}  // namespace kvsim::kernels
