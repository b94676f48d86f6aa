// The cost model's state-space layers (Jamba, Nemotron-H, Qwen3-Next) and MLA's latent in the offload paths: what a
// kState layer charges against an attention layer, how the state traffic scales with the running sequences, and that
// a pure attention model's ops do not depend on how its layer layout is spelled.
#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "hw/hardware_loader.h"
#include "models/cost_model.h"
#include "models/model_loader.h"
#include "models/model_shapes.h"
#include "models/state_space.h"

namespace kvsim::models {
namespace {

ModelSpec fixture(const std::string& name) {
  return parse_hf_config(std::string(KVSIM_TEST_SOURCE_DIR) + "/tests/models/fixtures/" + name + ".config.json");
}

CostModel make(const ModelSpec& m, int tp = 1, ExecConfig c = {}) {
  c.tp = tp;
  return CostModel(m, hw::load_hardware("h100-sxm5-80gb"), c);
}

BatchShape decode(int64_t seqs, int64_t context) { return BatchShape::uniform(seqs, 1, context, true, 0); }
BatchShape prefill(int64_t tokens) { return BatchShape::uniform(1, tokens, 0, false, 0); }

const OpCost* find(const std::vector<OpCost>& ops, const std::string& name) {
  for (const OpCost& o : ops) {
    if (o.name == name) return &o;
  }
  return nullptr;
}

// The same model with every layer full attention and no state mixer: the hybrid's attention-only twin.
ModelSpec all_attention(ModelSpec m) {
  m.layer_attention.clear();
  m.state_mixer = StateMixer{};
  m.num_mlp_free_layers = 0;
  return m;
}

double state_share(const ModelSpec& m) {
  return static_cast<double>(m.num_state_layers()) / static_cast<double>(m.num_layers);
}

struct Case {
  const char* fixture;
  int tp;
};
const Case kHybrids[] = {{"jamba-v0.1", 2}, {"nemotron-h-8b", 1}, {"qwen3-next-80b-a3b", 4}};

TEST(HybridCost, EveryRunningSequenceReadsAndWritesItsStateInEveryStateLayer) {
  for (const Case& c : kHybrids) {
    const ModelSpec m = fixture(c.fixture);
    ASSERT_GT(m.num_state_layers(), 0) << c.fixture;
    const CostModel cm = make(m, c.tp);
    const double state_bytes = state_bytes_per_layer(m, DType::kBf16, c.tp);  // conv + SSM state, one sequence
    // Per layer (the ops are one average layer): the conv1d and the scan move at least 2 x the state per added
    // sequence, weighted by the state layers' share.
    const auto state_op_bytes = [&](int64_t seqs) {
      const auto ops = cm.ops(decode(seqs, 1024));
      return find(ops, "conv1d")->bytes + find(ops, "state_scan")->bytes;
    };
    EXPECT_GE(state_op_bytes(64) - state_op_bytes(32), 32 * 2.0 * state_bytes * state_share(m) * (1 - 1e-12))
        << c.fixture;
    // The whole step: from 32 to 256 sequences it grows by at least the added state traffic at the full HBM rate.
    const double added_traffic = 224 * 2.0 * state_bytes * static_cast<double>(m.num_state_layers());
    const double floor_ns = added_traffic / cm.hardware().gpu.hbm_bytes_per_s * 1e9;
    const double grown = static_cast<double>(cm.forward_ns(decode(256, 1024)) - cm.forward_ns(decode(32, 1024)));
    EXPECT_GE(grown, floor_ns) << c.fixture;
  }
}

TEST(HybridCost, HybridAndAllAttentionTwinDifferOnlyInTheirMixers) {
  for (const Case& c : kHybrids) {
    const ModelSpec hybrid = fixture(c.fixture);
    const ModelSpec twin = all_attention(hybrid);
    if (hybrid.num_mlp_free_layers > 0) continue;  // Nemotron-H's MLP-only blocks have no attention twin
    const CostModel h = make(hybrid), a = make(twin);
    const double share = static_cast<double>(hybrid.num_attention_layers()) / static_cast<double>(hybrid.num_layers);
    for (const BatchShape& b : {decode(48, 2048), prefill(4096)}) {
      const auto ho = h.ops(b), ao = a.ops(b);
      double state_ns = 0;
      for (const char* name : {"in_proj", "x_proj", "dt_proj", "conv1d", "state_scan", "gate_norm", "out_proj"}) {
        EXPECT_EQ(find(ao, name), nullptr) << name;
        if (const OpCost* o = find(ho, name)) state_ns += static_cast<double>(o->time_ns);
      }
      EXPECT_GT(state_ns, 0) << c.fixture;
      EXPECT_NE(find(ho, "state_scan"), nullptr);
      double attention_ns = 0;
      for (const OpCost& o : ao) {
        const OpCost* mine = find(ho, o.name);
        ASSERT_NE(mine, nullptr) << o.name;
        const bool attention_op =
            o.name == "qkv_proj" || o.name == "rope" || o.name == "attention" || o.name == "o_proj";
        if (attention_op) {
          // Run only in the attention layers: the twin's op times their share.
          EXPECT_NEAR(mine->flops, o.flops * share, 1e-9 * o.flops) << c.fixture << " " << o.name;
          EXPECT_NEAR(mine->bytes, o.bytes * share, 1e-9 * o.bytes) << c.fixture << " " << o.name;
          EXPECT_NEAR(static_cast<double>(mine->time_ns), static_cast<double>(o.time_ns) * share, 1.0) << o.name;
          attention_ns += static_cast<double>(o.time_ns - mine->time_ns);
        } else {
          EXPECT_EQ(mine->time_ns, o.time_ns) << c.fixture << " " << o.name;  // MLP, experts, norms, lm_head, ...
          EXPECT_EQ(mine->bytes, o.bytes) << c.fixture << " " << o.name;
        }
      }
      // The pass differs by exactly the state ops less the attention the state layers no longer run, in every layer.
      const double layers = static_cast<double>(hybrid.num_layers);
      const double diff = static_cast<double>(h.forward_ns(b)) - static_cast<double>(a.forward_ns(b));
      EXPECT_EQ(diff, layers * (state_ns - attention_ns)) << c.fixture;
    }
  }
}

TEST(HybridCost, MixerProjectionsHoldTheMixersMatrices) {
  for (const Case& c : kHybrids) {
    const ModelSpec m = fixture(c.fixture);
    const double tokens = 64;
    const auto ops = make(m).ops(decode(64, 128));
    double params = 0;
    for (const char* name : {"in_proj", "x_proj", "dt_proj", "out_proj"}) {
      if (const OpCost* o = find(ops, name)) params += o->flops / (2.0 * tokens) / state_share(m);
    }
    // At tp = 1 the GEMMs' weights are the mixer's linear projections (state_space.h, the parameter counts').
    EXPECT_NEAR(params, static_cast<double>(detail::mixer_shapes(m).matrices), 1e-6 * params) << c.fixture;
  }
}

TEST(HybridCost, PrefillScansLinearlyAndAttendsLessThanTheAllAttentionTwin) {
  for (const Case& c : kHybrids) {
    const ModelSpec hybrid = fixture(c.fixture);
    const CostModel h = make(hybrid), a = make(all_attention(hybrid));
    const auto h16 = h.ops(prefill(16384)), h32 = h.ops(prefill(32768)), a32 = a.ops(prefill(32768));
    // The scan's work is linear in the tokens past a chunk (attention's is quadratic).
    EXPECT_NEAR(find(h32, "state_scan")->flops / find(h16, "state_scan")->flops, 2.0, 1e-9) << c.fixture;
    EXPECT_GT(find(h32, "attention")->flops / find(h16, "attention")->flops, 3.9) << c.fixture;
    // At 32K tokens the hybrid's attention plus its scan cost less than the twin's attention in every layer.
    const SimTime hybrid_mix = find(h32, "attention")->time_ns + find(h32, "state_scan")->time_ns;
    EXPECT_LT(hybrid_mix, find(a32, "attention")->time_ns) << c.fixture;
    EXPECT_LT(find(h32, "attention")->flops, find(a32, "attention")->flops) << c.fixture;
  }
}

TEST(HybridCost, PureAttentionOpsDoNotDependOnHowTheLayoutIsSpelled) {
  // A layout listing every layer as full attention is the same model as the empty (default) layout: every op, to the
  // nanosecond and the byte, in decode and prefill, eager and in graphs, at tp 1 and 2.
  for (const char* name : {"llama-3.1-8b", "mixtral-8x7b", "deepseek-v2-lite"}) {
    const ModelSpec m = fixture(name);
    ModelSpec spelled = m;
    spelled.layer_attention.assign(static_cast<size_t>(m.num_layers), AttentionKind::kFull);
    for (const int tp : {1, 2}) {
      const CostModel x = make(m, tp), y = make(spelled, tp);
      for (const BatchShape& b : {decode(1, 100), decode(96, 3000), prefill(2048)}) {
        const auto xo = x.ops(b), yo = y.ops(b);
        ASSERT_EQ(xo.size(), yo.size()) << name;
        for (size_t i = 0; i < xo.size(); ++i) {
          EXPECT_EQ(xo[i].name, yo[i].name);
          EXPECT_EQ(xo[i].time_ns, yo[i].time_ns) << name << " " << xo[i].name;
          EXPECT_EQ(xo[i].flops, yo[i].flops) << name << " " << xo[i].name;
          EXPECT_EQ(xo[i].bytes, yo[i].bytes) << name << " " << xo[i].name;
        }
        EXPECT_EQ(find(xo, "state_scan"), nullptr);
        EXPECT_EQ(x.iteration_ns(b), y.iteration_ns(b));
      }
    }
  }
}

TEST(MlaOffload, FetchedAndPageBoundBytesPerTokenAreThePagedLatent) {
  const ModelSpec m = fixture("deepseek-v2-lite");
  ASSERT_TRUE(m.is_mla());
  for (const int tp : {1, 2}) {
    for (const DType kv : {DType::kBf16, DType::kFp8}) {
      ExecConfig c;
      c.kv_dtype = kv;
      c.offload = true;
      c.page_selection = true;
      c.dense_layers = 0;
      const CostModel cm = make(m, tp, c);
      BatchShape b = decode(8, 4096);
      b.fetch_tokens = 1000;
      b.partial_key_tokens = 5000;
      b.page_scan_tokens = 8 * 4096;
      const auto ops = cm.ops(b);
      // kv_bytes_per_token_layer: the latent, kv_lora_rank + qk_rope_head_dim elements, whole on every TP rank.
      const double latent = kv_bytes_per_token_layer(m, kv, tp);
      EXPECT_DOUBLE_EQ(latent, (512.0 + 64.0) * dtype_bytes(kv));
      EXPECT_DOUBLE_EQ(find(ops, "kv_fetch")->bytes, 1000 * latent) << tp;
      // Quest's bounds: a min and a max latent per page, plus the fp32 scores of each query head.
      const double pages = 8 * 4096 / 16.0, q_heads = 16.0 / tp;
      EXPECT_DOUBLE_EQ(find(ops, "page_select")->bytes, pages * 2 * latent + pages * q_heads * 8.0) << tp;
      // InfiniGen's partial keys: the ratio of each cached latent.
      EXPECT_DOUBLE_EQ(find(ops, "partial_qk")->bytes, 5000 * latent * c.partial_weight_ratio);
    }
  }
  // The same identity holds for a GQA model, whose rows are its K and V heads.
  const ModelSpec g = fixture("llama-3.1-8b");
  ExecConfig c;
  c.offload = true;
  BatchShape b = decode(8, 4096);
  b.fetch_tokens = 1000;
  EXPECT_DOUBLE_EQ(find(make(g, 2, c).ops(b), "kv_fetch")->bytes, 1000 * kv_bytes_per_token_layer(g, DType::kBf16, 2));
}

TEST(MlaOffload, CpuAttentionSendsTheLatentOfEachNewToken) {
  const ModelSpec m = fixture("deepseek-v2-lite");
  ExecConfig c;
  c.cpu_attention = true;
  const CostModel cm = make(m, 1, c);
  BatchShape b;
  for (int i = 0; i < 4; ++i) b.add_cpu_sequence(2048, 1, true);
  const std::vector<OpCost> ops = cm.ops(b);  // kept: find() points into it
  const OpCost* op = find(ops, "cpu_attention");
  ASSERT_NE(op, nullptr);
  // Down: q (16 heads x 192) and the new latent (576 elements), up: the output (16 x 192), in bf16, per new token.
  const double q = 16.0 * 192, latent = kv_bytes_per_token_layer(m, DType::kBf16) / 2.0;
  EXPECT_DOUBLE_EQ(op->pcie_bytes, 4 * (q + latent) * 2 + 4 * q * 2);
  EXPECT_DOUBLE_EQ(op->bytes - op->pcie_bytes, b.cpu_kv_read_tokens * kv_bytes_per_token_layer(m, DType::kBf16));
}

}  // namespace
}  // namespace kvsim::models

namespace kvsim::models {
namespace {

// One token's expert work is two flops per weight of the experts it runs and the shared expert, whatever the
// experts' MLP kind: three matrices for SwiGLU experts (Mixtral, Qwen3-MoE), two for Nemotron-H's squared-ReLU ones.
TEST(MoeCost, ExpertFlopsPerTokenAreTwiceTheActiveExpertWeights) {
  for (const char* name : {"mixtral-8x7b", "qwen3-30b-a3b", "nemotron-3-nano-30b-a3b"}) {
    const ModelSpec m =
        parse_hf_config(std::string(KVSIM_TEST_SOURCE_DIR) + "/tests/models/fixtures/" + name + ".config.json");
    const ParamCounts p = parameter_counts(m);
    const double moe_layers = static_cast<double>(m.num_moe_layers());
    // Per MoE layer: experts_per_token routed experts and the shared expert (its gate is no matrix of the MLP).
    const double shared = static_cast<double>(detail::shared_expert_shapes(m).weight);
    const double active = static_cast<double>(p.experts) / moe_layers / static_cast<double>(m.num_experts) *
                              static_cast<double>(m.experts_per_token) +
                          shared;
    const CostModel cm(m, hw::load_hardware("h100-sxm5-80gb"), ExecConfig{});
    const OpCost* op = nullptr;
    const auto ops = cm.ops(BatchShape::uniform(1, 1, 128, true, 0));
    for (const OpCost& o : ops) {
      if (o.name == "experts") op = &o;
    }
    ASSERT_NE(op, nullptr) << name;
    // ops() charges an average layer: the MoE layers' share of it.
    const double share = moe_layers / static_cast<double>(m.num_layers);
    EXPECT_NEAR(op->flops, 2.0 * active * share, 1e-6 * op->flops) << name;
  }
}

}  // namespace
}  // namespace kvsim::models

namespace kvsim::models {
namespace {

// Jamba's attention has no rotary embedding: no rope op, and the rest of the step is unchanged.
TEST(HybridCost, JambaChargesNoRope) {
  const ModelSpec m =
      parse_hf_config(std::string(KVSIM_TEST_SOURCE_DIR) + "/tests/models/fixtures/jamba-v0.1.config.json");
  ModelSpec rotary = m;
  rotary.position = PositionKind::kRope;
  ExecConfig c;
  c.tp = 2;
  const CostModel none(m, hw::load_hardware("h100-sxm5-80gb"), c), rope(rotary, hw::load_hardware("h100-sxm5-80gb"), c);
  const BatchShape b = BatchShape::uniform(16, 1, 1024, true, 0);
  const auto count = [](const std::vector<OpCost>& ops) {
    return std::count_if(ops.begin(), ops.end(), [](const OpCost& o) { return o.name == "rope"; });
  };
  EXPECT_EQ(count(none.ops(b)), 0);
  EXPECT_EQ(count(rope.ops(b)), 1);
  EXPECT_LT(none.forward_ns(b), rope.forward_ns(b));
}

}  // namespace
}  // namespace kvsim::models
