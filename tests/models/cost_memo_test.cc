// The cost model's memo of the token ops: per (launch parameters, padded tokens) the sum of every per-layer op that
// depends on the batch only through its tokens, and the once-per-pass ops, kept after the first batch that asks. Each
// later batch must price exactly as its own op list does, whichever batch filled the cells it reads.
#include <gtest/gtest.h>

#include <random>
#include <string>

#include "hw/hardware_loader.h"
#include "models/cost_model.h"
#include "models/model_loader.h"

namespace kvsim::models {
namespace {

// The forward pass as cost_model.h defines it from the op list: per-layer ops (all but embedding and lm_head) times
// the layers, plus those two once (no op overlapped in these configurations).
SimTime from_ops(const CostModel& cost, const BatchShape& b) {
  SimTime layer = 0, once = 0;
  for (const OpCost& op : cost.ops(b)) {
    EXPECT_FALSE(op.overlapped) << op.name;
    (op.name == "embedding" || op.name == "lm_head" ? once : layer) += op.time_ns;
  }
  return layer * cost.model().num_layers + once;
}

// A random batch: decodes over random contexts and, sometimes, prefill chunks.
BatchShape random_batch(std::mt19937_64& rng, int64_t window) {
  BatchShape b;
  const int64_t decodes = std::uniform_int_distribution<int64_t>(0, 300)(rng);
  for (int64_t i = 0; i < decodes; ++i) {
    b.add_sequence(std::uniform_int_distribution<int64_t>(1, 20000)(rng), 1, true, window);
  }
  const int64_t prefills = std::uniform_int_distribution<int64_t>(decodes == 0 ? 1 : 0, 3)(rng);
  for (int64_t i = 0; i < prefills; ++i) {
    const int64_t chunk = std::uniform_int_distribution<int64_t>(2, 3000)(rng);
    b.add_sequence(std::uniform_int_distribution<int64_t>(0, 4000)(rng), chunk, i % 2 == 0, window);
  }
  b.decode_only = prefills == 0;
  return b;
}

TEST(CostMemo, EveryBatchPricesAsItsOwnOpListWhateverBatchFilledTheMemo) {
  struct Config {
    const char* model;
    const char* hardware;
    int tp;
    bool graphs;
  };
  // Dense and MoE models, one GPU and tensor parallel (all-reduces), CUDA graphs and eager launches, a sliding window.
  for (const Config& c :
       {Config{"llama-3.1-8b", "h100-sxm5-80gb", 1, true}, Config{"llama-3.1-70b", "h100-sxm5-80gb", 4, true},
        Config{"llama-3.1-8b", "a100-sxm4-80gb", 2, false}, Config{"gpt-oss-20b", "h100-sxm5-80gb", 1, true},
        Config{"mistral-7b", "a100-sxm4-80gb", 1, true}}) {
    ExecConfig e;
    e.tp = c.tp;
    e.cuda_graphs = c.graphs;
    const CostModel cost(load_model(c.model), hw::load_hardware(c.hardware), e);
    std::mt19937_64 rng(7);
    const int64_t window = cost.model().sliding_window;
    for (int i = 0; i < 300; ++i) {
      const BatchShape b = random_batch(rng, window);
      ASSERT_EQ(cost.forward_ns(b), from_ops(cost, b)) << c.model << " batch " << i << " of " << b.num_seqs;
    }
    // Batches of one token count but different contexts: the second reads the cells the first filled.
    for (int64_t seqs : {1, 7, 64, 200}) {
      for (int64_t context : {100, 5000, 60000}) {
        BatchShape b;
        for (int64_t k = 0; k < seqs; ++k) b.add_sequence(context + k, 1, true, window);
        b.decode_only = true;
        EXPECT_EQ(cost.forward_ns(b), from_ops(cost, b)) << c.model << " " << seqs << " x " << context;
      }
    }
  }
}

// A copy of a cost model shares its memo and prices alike.
TEST(CostMemo, CopiesPriceAlike) {
  const CostModel a(load_model("llama-3.1-8b"), hw::load_hardware("h100-sxm5-80gb"), ExecConfig{});
  const CostModel b = a;  // NOLINT(performance-unnecessary-copy-initialization): the copy is the subject
  std::mt19937_64 rng(3);
  for (int i = 0; i < 50; ++i) {
    const BatchShape shape = random_batch(rng, 0);
    EXPECT_EQ(a.iteration_ns(shape), b.iteration_ns(shape));
  }
}

// A decode stretch prices its steps with the parts fixed for its batch (CPU overhead, launches, the memo's sums)
// taken once: every step prices as iteration_ns does, with graphs and eager, on one GPU and four, launch-bound
// (slow eager launches: small batches wait for the CPU), and where the memo does not reach (more tokens than it
// keeps) or the model is not plain (a sliding window's attention sums).
TEST(CostMemo, AFixedBatchPricesEachStepAsTheIterationDoes) {
  struct Config {
    const char* model;
    int tp;
    bool graphs;
    double launch_us;
  };
  for (const Config& c :
       {Config{"llama-3.1-8b", 1, true, 0}, Config{"llama-3.1-70b", 4, true, 0}, Config{"llama-3.1-8b", 2, false, 0},
        Config{"llama-3.1-8b", 1, false, 40}, Config{"gpt-oss-20b", 1, true, 0}}) {
    ExecConfig e;
    e.tp = c.tp;
    e.cuda_graphs = c.graphs;
    if (c.launch_us > 0) e.cpu.launch_us = c.launch_us;
    const CostModel cost(load_model(c.model), hw::load_hardware("h100-sxm5-80gb"), e);
    for (int64_t seqs : {1, 3, 48, 256, 20000}) {
      BatchShape b;
      b.num_seqs = b.num_tokens = b.num_sampled = seqs;
      b.decode_only = true;
      b.attn_pairs = b.kv_read_tokens = static_cast<double>(seqs * 500);
      const CostModel::FixedBatch fixed = cost.fixed_batch(b);
      for (int64_t step = 1; step <= 3000; step += 7) {
        b.attn_pairs = b.kv_read_tokens = static_cast<double>(seqs * (500 + step));
        ASSERT_EQ(fixed.ns(b), cost.iteration_ns(b)) << c.model << " " << seqs << " sequences, step " << step;
      }
    }
  }
}

// In every configuration without a state mixer the memo keeps the token ops (projections, MLP, norms, all-reduce,
// embedding, lm_head) and a layer's times list only its context ops. layer_times must equal what cost_model.h
// defines from the whole op list: the copies (overlapped ops) of the whole batch on their channels, the compute of
// one GPU batch times the GPU batches. Configurations: the FlexGen family's engine with H2O's eager attention and
// score accumulation, InfiniGen's speculation and fetch, FlexGen's streamed weights, disk and activations in GPU
// batches, FlexGen all on the GPU in GPU batches (attention its only context op), a static engine in GPU batches
// under CUDA graphs (the whole batch launches eagerly, a GPU batch from a graph), CPU attention with KV on disk,
// Quest's page selection, MLA with InfiniGen's offload, MoE under tensor parallelism, and a model with state
// layers (no memo: every op listed); batches within the memo and past it.
TEST(CostMemo, LayerTimesFromTheMemoAreThoseOfTheOpList) {
  struct Config {
    const char* name;
    const char* model;
    void (*set)(ExecConfig&);
  };
  const Config configs[] = {
      {"h2o", "llama-3.1-8b",
       [](ExecConfig& e) {
         e.cuda_graphs = false;
         e.eager_attention = e.score_accumulation = e.pytorch_host = true;
       }},
      {"infinigen", "llama-3.1-8b",
       [](ExecConfig& e) {
         e.cuda_graphs = false;
         e.eager_attention = e.pytorch_host = e.offload = true;
       }},
      {"flexgen weights, disk, activations, gpu batches", "opt-30b",
       [](ExecConfig& e) {
         e.cuda_graphs = false;
         e.pytorch_host = true;
         e.weight_gpu_ratio = 0.4;
         e.weight_disk_ratio = 0.2;
         e.act_offload_ratio = 0.5;
         e.act_disk_ratio = 0.1;
         e.disk_bytes_per_s = 2e9;
         e.gpu_batch_size = 24;
       }},
      {"flexgen on the gpu, gpu batches", "opt-13b",
       [](ExecConfig& e) {
         e.cuda_graphs = false;
         e.pytorch_host = true;
         e.gpu_batch_size = 8;
       }},
      {"native static engine in gpu batches, graphs", "llama-3.1-8b",
       [](ExecConfig& e) {
         e.max_graph_batch = 256;
         e.piecewise_graphs = false;
         e.gpu_batch_size = 16;
       }},
      {"cpu attention, kv on disk", "opt-13b",
       [](ExecConfig& e) {
         e.cpu_attention = true;
         e.kv_gpu_ratio = 0.3;
         e.kv_disk_ratio = 0.2;
         e.disk_bytes_per_s = 3e9;
       }},
      {"mla, offload", "tests/models/fixtures/deepseek-v2-lite.config.json", [](ExecConfig& e) { e.offload = true; }},
      {"state layers (no memo)", "tests/models/fixtures/jamba-v0.1.config.json", [](ExecConfig&) {}},
      {"quest", "llama-3.1-8b", [](ExecConfig& e) { e.page_selection = true; }},
      {"moe, tp 2, offload", "gpt-oss-20b",
       [](ExecConfig& e) {
         e.tp = 2;
         e.offload = true;
       }},
  };
  for (const Config& c : configs) {
    ExecConfig e;
    // Graph floors below the eager ones (vLLM V1's share), so a graph launch and an eager one price apart.
    e.cpu.graph_floor_share = 0.5468;
    c.set(e);
    const std::string model = std::string(c.model).ends_with(".json")
                                  ? std::string(KVSIM_TEST_SOURCE_DIR) + "/" + c.model
                                  : std::string(c.model);
    const CostModel cost(load_model(model), hw::load_hardware("h100-sxm5-80gb"), e);
    std::mt19937_64 rng(11);
    std::uniform_real_distribution<double> share(0.0, 1.0);
    for (int i = 0; i < 400; ++i) {
      BatchShape b = random_batch(rng, cost.model().sliding_window);
      // Past the memo (a 20,000-token prompt), or 2,000 decodes: eager as a whole, from a graph in GPU batches.
      if (i % 40 == 0) {
        if (i % 80 == 0) {
          b.add_sequence(0, 20000, true, cost.model().sliding_window);
          b.decode_only = false;
        } else {
          for (int k = 0; k < 2000; ++k) b.add_sequence(3000 + k, 1, true, cost.model().sliding_window);
        }
      }
      // Sequences attended on the host (CPU attention's and disk's reads).
      if (e.cpu_attention && i % 2 == 0) {
        for (int k = 0; k < 20; ++k) b.add_cpu_sequence(500 + 97 * k, 1, true);
      }
      b.partial_key_tokens = b.kv_read_tokens;
      b.fetch_tokens = b.kv_read_tokens * share(rng) * 0.2;
      b.offload_tokens = static_cast<double>(b.num_tokens);
      b.page_scan_tokens = b.kv_read_tokens;
      // The op list's definition (cost_model.h, layer_times).
      const int64_t parts =
          e.gpu_batch_size > 0 ? std::max<int64_t>(1, (b.num_seqs + e.gpu_batch_size - 1) / e.gpu_batch_size) : 1;
      CostModel::LayerTimes want;
      want.parts = parts;
      for (const OpCost& op : cost.ops(b)) {
        if (op.overlapped) {
          (op.channel == OpCost::Channel::kD2h    ? want.d2h
           : op.channel == OpCost::Channel::kDisk ? want.disk
                                                  : want.h2d) += op.time_ns;
          if (op.name == "weight_fetch") want.weights += op.time_ns;
        } else if (parts == 1) {
          (op.name == "embedding" || op.name == "lm_head" ? want.once : want.compute) += op.time_ns;
        }
      }
      if (parts > 1) {
        for (const OpCost& op : cost.ops(b.split(parts))) {
          if (!op.overlapped) {
            (op.name == "embedding" || op.name == "lm_head" ? want.once : want.compute) += op.time_ns * parts;
          }
        }
      }
      const CostModel::LayerTimes got = cost.layer_times(b);
      ASSERT_EQ(got.compute, want.compute) << c.name << " batch " << i << " of " << b.num_seqs;
      ASSERT_EQ(got.once, want.once) << c.name << " batch " << i;
      ASSERT_EQ(got.h2d, want.h2d) << c.name << " batch " << i;
      ASSERT_EQ(got.d2h, want.d2h) << c.name << " batch " << i;
      ASSERT_EQ(got.disk, want.disk) << c.name << " batch " << i;
      ASSERT_EQ(got.weights, want.weights) << c.name << " batch " << i;
      ASSERT_EQ(got.parts, want.parts) << c.name << " batch " << i;
    }
  }
}

}  // namespace
}  // namespace kvsim::models
