#include "validation/engine_bench.h"

#include <cmath>
#include <numeric>

#include <fmt/format.h>

#include "hw/hardware_loader.h"
#include "hw/transfer.h"
#include "models/cost_model.h"
#include "models/model_loader.h"
#include "sim/core/error.h"

namespace kvsim::validation {

namespace {
constexpr int kBlockSize = 16;

kernels::MiniEngineModel mini_model(const models::ModelSpec& m) {
  kernels::MiniEngineModel k;
  k.name = m.name;
  k.hidden = m.hidden_size;
  k.intermediate = m.intermediate_size;
  k.layers = m.num_layers;
  k.q_heads = m.num_attention_heads;
  k.kv_heads = m.num_kv_heads;
  k.head_dim = m.head_dim;
  k.vocab = m.vocab_size;
  k.gated_mlp = m.mlp == models::MlpKind::kGated;
  return k;
}

EngineBenchRow decode(int batch, int64_t context) {
  EngineBenchRow r;
  r.kind = "decode";
  r.iteration.decode_context.assign(static_cast<size_t>(batch), context);
  return r;
}

// The cost model's time for one iteration's GPU work (no scheduler or sampler: the mini engine has none).
double predict_ms(models::ExecConfig config, const models::ModelSpec& m, const hw::HardwareProfile& h,
                  const EngineBenchRow& row) {
  const kernels::MiniIteration& it = row.iteration;
  config.score_accumulation = it.evict_tokens > 0;
  config.offload = it.gather_rows > 0;
  const models::CostModel cost(m, h, config);
  models::BatchShape b;
  b.decode_only = it.prefill_tokens.empty();
  for (int64_t c : it.decode_context) b.add_sequence(c - 1, 1, true, m.sliding_window);
  for (int64_t p : it.prefill_tokens) b.add_sequence(0, p, true, m.sliding_window);
  // The mini engine scores no partial keys: only the fetch of the selected rows is InfiniGen's here.
  if (it.gather_rows > 0) b.fetch_tokens = static_cast<double>(it.gather_rows / std::max<int64_t>(1, m.num_kv_heads));
  double ms = ns_to_ms(cost.forward_ns(b));
  // Swaps run before the forward pass, one copy per block per layer for K and for V.
  const auto copy_bytes = static_cast<uint64_t>(models::kv_bytes_per_token_layer(m, m.dtype, 1) * kBlockSize / 2);
  const int64_t copies = 2 * m.num_layers;
  if (it.swap_in_blocks > 0) {
    ms += ns_to_ms(
        hw::pcie_copy_time(h, hw::CopyDirection::kHostToDevice, copy_bytes, it.swap_in_blocks * copies).time_ns);
  }
  if (it.swap_out_blocks > 0) {
    ms += ns_to_ms(
        hw::pcie_copy_time(h, hw::CopyDirection::kDeviceToHost, copy_bytes, it.swap_out_blocks * copies).time_ns);
  }
  return ms;
}
}  // namespace

std::vector<EngineBenchRow> engine_bench_schedule(const std::string& model_name) {
  const models::ModelSpec m = models::load_model(model_name);
  std::vector<EngineBenchRow> rows;
  for (int64_t p : {128, 512, 2048}) {
    EngineBenchRow r;
    r.kind = "prefill";
    r.iteration.prefill_tokens.assign(4, p);
    rows.push_back(r);
  }
  for (int batch : {1, 8, 32, 128}) {
    for (int64_t context : {512, 4096}) rows.push_back(decode(batch, context));
  }
  EngineBenchRow mixed = decode(32, 1024);
  mixed.kind = "mixed";
  mixed.iteration.prefill_tokens = {512};
  rows.push_back(mixed);
  for (int64_t blocks : {16, 256}) {
    EngineBenchRow s = decode(32, 1024);
    s.kind = "swap";
    s.iteration.swap_in_blocks = s.iteration.swap_out_blocks = blocks;
    rows.push_back(s);
  }
  // H2O at a 20 % budget of 1,024-token sequences: attention over the 205 kept tokens and their score bookkeeping.
  EngineBenchRow h2o = decode(32, 205);
  h2o.kind = "h2o";
  h2o.iteration.evict_tokens = 32 * 205;
  rows.push_back(h2o);
  // InfiniGen fetching 20 % of 4,096 tokens per (sequence, head): attention over the 819 fetched, their rows
  // gathered on the CPU and copied per layer.
  EngineBenchRow inf = decode(32, 819);
  inf.kind = "infinigen";
  inf.iteration.gather_rows = 32 * 819 * m.num_kv_heads;
  rows.push_back(inf);
  return rows;
}

std::vector<EngineBenchRow> run_engine_bench(const EngineBenchArgs& args) {
  const models::ModelSpec m = models::load_model(args.model);
  const hw::HardwareProfile h = hw::load_hardware(args.hardware);
  models::ExecConfig config;
  config.dtype = config.weight_dtype = config.kv_dtype = DType::kBf16;
  config.block_size = kBlockSize;
  std::vector<EngineBenchRow> rows = engine_bench_schedule(args.model);
  for (EngineBenchRow& r : rows) r.predicted_ms = predict_ms(config, m, h, r);
  if (args.dry_run) return rows;
  std::vector<kernels::MiniIteration> schedule;
  for (const EngineBenchRow& r : rows) schedule.push_back(r.iteration);
  kernels::MiniEngineOptions o;
  o.device = args.device;
  o.block_size = kBlockSize;
  if (args.quick) o.repeats = 3;
  const std::vector<double> measured = kernels::run_mini_engine(mini_model(m), schedule, o);
  for (size_t i = 0; i < rows.size(); ++i) rows[i].measured_ms = measured[i];
  return rows;
}

void write_engine_bench_csv(const std::vector<EngineBenchRow>& rows, const EngineBenchArgs& args, std::ostream& out) {
  out << "model,hardware,kind,decode_seqs,mean_context,prefill_tokens,swap_blocks,evict_tokens,gather_rows,"
         "predicted_ms,measured_ms,rel_error\n";
  for (const EngineBenchRow& r : rows) {
    const auto& it = r.iteration;
    const double ctx = it.decode_context.empty()
                           ? 0.0
                           : std::accumulate(it.decode_context.begin(), it.decode_context.end(), 0.0) /
                                 static_cast<double>(it.decode_context.size());
    const int64_t prefill = std::accumulate(it.prefill_tokens.begin(), it.prefill_tokens.end(), int64_t{0});
    const std::string measured = r.measured_ms < 0 ? "" : fmt::format("{:.4f}", r.measured_ms);
    const std::string err =
        r.measured_ms <= 0 ? "" : fmt::format("{:.4f}", (r.predicted_ms - r.measured_ms) / r.measured_ms);
    out << fmt::format("{},{},{},{},{:.0f},{},{},{},{},{:.4f},{},{}\n", args.model, args.hardware, r.kind,
                       it.decode_context.size(), ctx, prefill, it.swap_in_blocks + it.swap_out_blocks, it.evict_tokens,
                       it.gather_rows, r.predicted_ms, measured, err);
  }
}

}  // namespace kvsim::validation
