// A mini decode engine built from the calibration kernels, for validation (validation/gpu/): it runs a batch schedule
// on the GPU the way a serving engine composes its operators, and times every iteration, so that kvsim's way of
// composing ops (their sum per layer, overlap, CPU overhead) can be checked against a real run. The kernels are the
// ones that calibrate the cost model; this checks the composition, not the kernels.
// Per iteration, for every layer: cuBLASLt GEMMs (qkv, o, gate/up, down) at the model's shapes with random bf16
// weights, kvsim's paged decode attention over a block table for the decode sequences, the simple causal prefill
// kernel for each prefill, swap copies of whole blocks (one copy per block per layer for K and for V, as vLLM's V0
// engine swaps), H2O-style score accumulation and a min search over the kept tokens, and InfiniGen-style gathers of
// selected (token, head) rows by CPU threads into pinned memory sent in one copy per layer; then lm_head.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace kvsim::kernels {

struct MiniEngineModel {
  std::string name;
  int64_t hidden = 0, intermediate = 0, layers = 0, q_heads = 0, kv_heads = 0, head_dim = 128, vocab = 0;
  bool gated_mlp = true;
};

struct MiniIteration {
  std::vector<int64_t> decode_context;  // one entry per decode sequence: the tokens it attends
  std::vector<int64_t> prefill_tokens;  // one entry per prefilled prompt
  int64_t swap_in_blocks = 0, swap_out_blocks = 0;
  int64_t evict_tokens = 0;  // H2O: kept tokens per (sequence, head) whose scores are accumulated, summed over seqs
  int64_t gather_rows = 0;   // InfiniGen: (token, head) rows of K and of V fetched per layer
};

struct MiniEngineOptions {
  int device = 0;
  int block_size = 16;
  int warmup = 2, repeats = 5;  // per iteration: median of repeats
};

// The buffers a schedule needs: the largest of each quantity over its iterations. `workspace_for(batch, max_context)`
// gives one iteration's split-K scratch bytes for decode attention; the split count falls as the batch grows (a
// 17-sequence iteration can take 7 splits where 64 sequences take 1), so the scratch is the largest over every
// iteration, not the largest batch's.
struct MiniEngineSizes {
  int64_t max_tokens = 1, max_decode = 1, max_blocks_per_seq = 1, total_blocks = 1, max_swap = 1, max_evict = 1,
          max_gather = 1, max_prefill = 1;
  size_t decode_workspace_bytes = 16;
};
MiniEngineSizes mini_engine_sizes(const MiniEngineModel& model, const std::vector<MiniIteration>& schedule,
                                  int block_size,
                                  const std::function<size_t(int64_t batch, int64_t max_context)>& workspace_for);

// Milliseconds per iteration (median of repeats, CUDA events around the whole iteration). Throws kvsim::Error when
// the build has no CUDA, there is no device, a shape is unsupported (head_dim must be 128; q_heads / kv_heads an
// integer in 1..8) or memory does not suffice.
std::vector<double> run_mini_engine(const MiniEngineModel& model, const std::vector<MiniIteration>& schedule,
                                    const MiniEngineOptions& options);

}  // namespace kvsim::kernels
