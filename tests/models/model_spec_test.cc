// Derived quantities of ModelSpec against published figures: KV bytes per token (vLLM paper), parameter totals
// (model cards), sliding-window capping (gpt-oss) and tensor-parallel splitting of KV heads and weights.
#include <cmath>
#include <string>

#include <gtest/gtest.h>

#include "models/model_loader.h"
#include "models/model_spec.h"
#include "sim/core/error.h"

namespace kvsim::models {
namespace {

constexpr double kKiB = 1024.0;
constexpr double kMiB = 1024.0 * 1024.0;

TEST(ModelSpec, KvPerToken_Opt13bIs800KiB) {
  // vLLM paper (Kwon et al. 2023) section 3: 2 (K and V) x 5120 hidden x 40 layers x 2 B = 800 KB per token.
  const ModelSpec m = load_model("opt-13b");
  EXPECT_EQ(kv_bytes_per_token(m, DType::kFp16), 800 * kKiB);
  EXPECT_EQ(kv_bytes_per_token_layer(m, DType::kFp16), 2.0 * 5120 * 2);
}

TEST(ModelSpec, KvPerToken_Opt175bIs4Point5MiB) {
  // vLLM paper: OPT-175B 4.5 MB per token (2 x 12288 x 96 layers x 2 B).
  EXPECT_EQ(kv_bytes_per_token(load_model("opt-175b"), DType::kFp16), 4.5 * kMiB);
}

TEST(ModelSpec, KvPerToken_Llama31_8bIs128KiBAtBf16AndScalesWithDtype) {
  // 2 x 8 KV heads x 128 head_dim x 32 layers x 2 B.
  const ModelSpec m = load_model("llama-3.1-8b");
  EXPECT_EQ(kv_bytes_per_token(m, DType::kBf16), 128 * kKiB);
  EXPECT_EQ(kv_bytes_per_token(m, DType::kFp8), 64 * kKiB);
  // int4 carries an fp16 scale and zero point per group of 32 elements (KIVI): 4 + 32 / 32 = 5 bits per element.
  EXPECT_EQ(kv_bytes_per_token(m, DType::kInt4), 32 * kKiB * 5 / 4);
}

TEST(ModelSpec, KvElementBits_IntegerFormatsCarryGroupScaleAndZeroPoint) {
  // KIVI (Liu et al., ICML 2024): groups of 32 elements, each with an fp16 scale and an fp16 zero point = 1 bit per
  // element on top of the integer bits.
  const ModelSpec m = load_model("llama-3.1-8b");
  const double bf16 = kv_bytes_per_token(m, DType::kBf16);
  EXPECT_DOUBLE_EQ(kv_bytes_per_token(m, DType::kInt2), bf16 * 3 / 16);
  EXPECT_DOUBLE_EQ(kv_bytes_per_token(m, DType::kInt4), bf16 * 5 / 16);
  EXPECT_DOUBLE_EQ(kv_bytes_per_token(m, DType::kInt8), bf16 * 9 / 16);
  for (DType t : {DType::kInt8, DType::kInt4, DType::kInt2}) {
    EXPECT_DOUBLE_EQ(kv_element_bits(t) - dtype_bits(t), 32.0 / kKvQuantGroupSize) << dtype_name(t);
  }
  // Float formats carry no group metadata; mxfp4's block scale is already in dtype_bits.
  for (DType t : {DType::kFp32, DType::kFp16, DType::kBf16, DType::kFp8, DType::kMxfp4}) {
    EXPECT_DOUBLE_EQ(kv_element_bits(t), dtype_bits(t)) << dtype_name(t);
  }
  EXPECT_DOUBLE_EQ(kv_bytes_per_token(m, DType::kFp8), bf16 / 2);
  // The per-sequence total uses the same per-token size, sliding layers or not.
  EXPECT_DOUBLE_EQ(kv_bytes_for_sequence(m, 1000, DType::kInt2), 1000 * kv_bytes_per_token(m, DType::kInt2));
  const ModelSpec oss = load_model("gpt-oss-20b");
  EXPECT_DOUBLE_EQ(kv_bytes_for_sequence(oss, 5000, DType::kInt4) / kv_bytes_for_sequence(oss, 5000, DType::kBf16),
                   5.0 / 16);
}

TEST(ModelSpec, KvForSequence_DenseModelIsLinearInTokens) {
  const ModelSpec m = load_model("llama-2-7b");
  EXPECT_EQ(kv_bytes_for_sequence(m, 0, DType::kFp16), 0.0);
  EXPECT_EQ(kv_bytes_for_sequence(m, 4096, DType::kFp16), 4096 * kv_bytes_per_token(m, DType::kFp16));
  EXPECT_THROW(kv_bytes_for_sequence(m, -1, DType::kFp16), Error);
}

TEST(ModelSpec, KvForSequence_GptOssCapsSlidingLayersAtTheWindow) {
  const ModelSpec m = load_model("gpt-oss-20b");
  ASSERT_EQ(m.num_sliding_layers(), 12);
  ASSERT_EQ(m.num_full_layers(), 12);
  ASSERT_EQ(m.sliding_window, 128);
  const double per_layer = kv_bytes_per_token_layer(m, DType::kBf16);
  EXPECT_EQ(per_layer, 2.0 * 8 * 64 * 2);
  // 10K tokens: 12 full layers hold all of them, 12 sliding layers only the last 128.
  EXPECT_EQ(kv_bytes_for_sequence(m, 10000, DType::kBf16), (12.0 * 10000 + 12.0 * 128) * per_layer);
  // Both sides of the window: uncapped up to 128 tokens, the sliding half stops growing at 129.
  EXPECT_EQ(kv_bytes_for_sequence(m, 128, DType::kBf16), 128 * kv_bytes_per_token(m, DType::kBf16));
  EXPECT_EQ(kv_bytes_for_sequence(m, 129, DType::kBf16) - kv_bytes_for_sequence(m, 128, DType::kBf16), 12 * per_layer);
  // kv_bytes_per_token counts every layer as uncapped.
  EXPECT_EQ(kv_bytes_per_token(m, DType::kBf16), 24 * per_layer);
}

TEST(ModelSpec, TensorParallel_SplitsKvHeadsUpToKvHeadsThenReplicates) {
  const ModelSpec m = load_model("llama-3.1-70b");  // 8 KV heads
  EXPECT_EQ(kv_heads_per_gpu(m, 1), 8);
  EXPECT_EQ(kv_heads_per_gpu(m, 2), 4);
  EXPECT_EQ(kv_heads_per_gpu(m, 8), 1);
  EXPECT_EQ(kv_heads_per_gpu(m, 16), 1);
  EXPECT_EQ(kv_bytes_per_token(m, DType::kBf16, 16), kv_bytes_per_token(m, DType::kBf16, 8));
  EXPECT_EQ(kv_bytes_per_token(m, DType::kBf16, 4), 2 * kv_bytes_per_token(m, DType::kBf16, 8));
  EXPECT_EQ(kv_bytes_per_token(m, DType::kBf16, 1), 8 * kv_bytes_per_token(m, DType::kBf16, 8));
  EXPECT_THROW(kv_heads_per_gpu(m, 0), Error);
}

struct Published {
  const char* model;
  double total;  // parameters
  const char* citation;
};

TEST(ModelSpec, ParameterTotals_MatchPublishedWithin1Point5Percent) {
  const Published cases[] = {
      {"llama-2-7b", 6.74e9, "Llama 2 model card: 7B (6.74B)"},
      {"llama-2-13b", 13.0e9, "Llama 2 model card: 13B (13.02B)"},
      {"llama-2-70b", 69.0e9, "Llama 2 model card: 70B (68.98B)"},
      {"llama-3.1-8b", 8.03e9, "Llama 3.1 8B model card: 8.03B"},
      {"llama-3.1-70b", 70.6e9, "Llama 3.1 70B model card: 70.6B"},
      {"mistral-7b", 7.25e9, "Mistral-7B-v0.3 safetensors: 7.25B"},
      {"qwen2.5-7b", 7.61e9, "Qwen2.5-7B model card: 7.61B"},
      {"qwen2.5-72b", 72.7e9, "Qwen2.5-72B model card: 72.7B"},
      {"opt-6.7b", 6.7e9, "OPT paper Table 1"},
      {"opt-13b", 12.85e9, "OPT-13B safetensors: 12.85B"},
      {"opt-30b", 30e9, "OPT paper Table 1"},
      {"opt-66b", 66e9, "OPT paper Table 1"},
      {"opt-175b", 175e9, "OPT paper Table 1"},
      {"gpt-oss-20b", 20.91e9, "gpt-oss model card Table 1: 20.91B total"},
  };
  for (const auto& c : cases) {
    const double total = static_cast<double>(parameter_counts(load_model(c.model)).total());
    EXPECT_NEAR(total / c.total, 1.0, 0.015) << c.model << ": " << total << " vs " << c.citation;
  }
}

TEST(ModelSpec, ParameterTotals_ExactForPublishedCheckpoints) {
  // Sums of the safetensors tensor shapes as the Hugging Face hub reports them.
  EXPECT_EQ(parameter_counts(load_model("llama-2-7b")).total(), 6738415616u);
  EXPECT_EQ(parameter_counts(load_model("llama-3.1-8b")).total(), 8030261248u);
  EXPECT_EQ(parameter_counts(load_model("mistral-7b")).total(), 7248023552u);
  EXPECT_EQ(parameter_counts(load_model("qwen2.5-7b")).total(), 7615616512u);
}

TEST(ModelSpec, ActiveParameters_GptOssMatchesModelCard) {
  // gpt-oss model card Table 1: 3.61B active per token (4 of 32 experts, unembedding counted, embedding not).
  const ModelSpec m = load_model("gpt-oss-20b");
  const ParamCounts p = parameter_counts(m);
  EXPECT_NEAR(static_cast<double>(p.active(m)) / 3.61e9, 1.0, 0.015) << p.active(m);
  EXPECT_EQ(p.experts % 32, 0u);
  EXPECT_EQ(p.active(m), p.total() - p.embedding - p.experts / 32 * 28);
  EXPECT_EQ(p.mlp_dense, 0u);
  EXPECT_GT(p.router, 0u);
}

TEST(ModelSpec, ActiveParameters_DenseModelTouchesAllButTheEmbedding) {
  const ModelSpec m = load_model("llama-3.1-8b");
  const ParamCounts p = parameter_counts(m);
  EXPECT_EQ(p.active(m), p.total() - p.embedding);
  EXPECT_EQ(p.experts, 0u);
  EXPECT_EQ(p.router, 0u);
}

TEST(ModelSpec, ParameterCounts_OptHasBiasesLayerNormsAndLearnedPositions) {
  const ModelSpec m = load_model("opt-13b");
  const ParamCounts p = parameter_counts(m);
  const uint64_t h = 5120, layers = 40, ffn = 20480;
  EXPECT_EQ(p.attention, layers * (4 * h * h + 4 * h));
  EXPECT_EQ(p.mlp_dense, layers * (2 * h * ffn + ffn + h));
  EXPECT_EQ(p.norms, (2 * layers + 1) * 2 * h);
  EXPECT_EQ(p.embedding, 50272 * h + (2048 + 2) * h);
  EXPECT_EQ(p.lm_head, 0u);  // tied
}

TEST(ModelSpec, ParameterCounts_UntyingAddsExactlyOneVocabMatrix) {
  ModelSpec m = load_model("llama-3.1-8b");
  const uint64_t untied = parameter_counts(m).total();
  m.tie_word_embeddings = true;
  EXPECT_EQ(untied - parameter_counts(m).total(), 128256u * 4096u);
}

TEST(ModelSpec, WeightBytes_Tp1IsParametersTimesDtypeBytes) {
  const ModelSpec m = load_model("llama-3.1-8b");
  const double params = static_cast<double>(parameter_counts(m).total());
  EXPECT_EQ(weight_bytes_per_gpu(m, DType::kBf16), 2 * params);
  // A quantised format stores the linear layers' matrices only; embeddings, lm_head and norms stay bf16
  // (models::unquantized_dtype; tests/models/quantized_weights_test.cc).
  const ParamCounts p = parameter_counts(m);
  const double matrices = static_cast<double>(p.attention + p.mlp_dense);
  EXPECT_EQ(weight_bytes_per_gpu(m, DType::kFp8), matrices + 2 * (params - matrices));
}

TEST(ModelSpec, WeightBytes_OptMatchVllmTable1) {
  // vLLM paper Table 1 (fp16 parameter sizes): OPT-13B 26 GB, OPT-66B 132 GB, OPT-175B 346 GB.
  EXPECT_NEAR(weight_bytes_per_gpu(load_model("opt-13b"), DType::kFp16) / 26e9, 1.0, 0.015);
  EXPECT_NEAR(weight_bytes_per_gpu(load_model("opt-66b"), DType::kFp16) / 132e9, 1.0, 0.015);
  EXPECT_NEAR(weight_bytes_per_gpu(load_model("opt-175b"), DType::kFp16) / 346e9, 1.0, 0.015);
}

TEST(ModelSpec, WeightBytes_TensorParallelReplicatesOnlyNorms) {
  const ModelSpec m = load_model("llama-3.1-8b");  // no biases: only norms are replicated while tp <= kv heads
  const ParamCounts p = parameter_counts(m);
  const double norms = static_cast<double>(p.norms), total = static_cast<double>(p.total());
  for (int tp : {2, 4, 8}) {
    EXPECT_DOUBLE_EQ(weight_bytes_per_gpu(m, DType::kBf16, tp), 2 * ((total - norms) / tp + norms)) << tp;
  }
}

TEST(ModelSpec, WeightBytes_KvProjectionsReplicateBeyondKvHeads) {
  const ModelSpec m = load_model("llama-3.1-70b");
  // From tp 8 to 16, everything halves except the norms and the k/v projections (one head per GPU either way).
  const double w8 = weight_bytes_per_gpu(m, DType::kBf16, 8), w16 = weight_bytes_per_gpu(m, DType::kBf16, 16);
  const double kv_proj = 80.0 * 2 * 8192 * 1 * 128;  // layers x (k, v) x hidden x 1 head x head_dim
  const double norms = static_cast<double>(parameter_counts(m).norms);
  EXPECT_DOUBLE_EQ(w16, (w8 / 2 - 2 * (kv_proj + norms) / 2) + 2 * (kv_proj + norms));
}

TEST(ModelSpec, WeightBytes_GptOssExpertsStayMxfp4UnlessOverrideIsNarrower) {
  const ModelSpec m = load_model("gpt-oss-20b");
  const ParamCounts p = parameter_counts(m);
  const double expert_matrices = 24.0 * 32 * 3 * 2880 * 2880;
  const double rest = static_cast<double>(p.total()) - expert_matrices;
  EXPECT_DOUBLE_EQ(weight_bytes_per_gpu(m, DType::kBf16), rest * 2 + expert_matrices * 4.25 / 8);
  // Narrower overrides quantise the attention matrices too; embeddings, lm_head, router, norms, biases and sinks
  // stay bf16 (models::unquantized_dtype).
  const double attention_matrices = 24.0 * (2 * 2880 * 64 * 64 + 2 * 2880 * 8 * 64);
  const double plain = rest - attention_matrices;
  EXPECT_DOUBLE_EQ(weight_bytes_per_gpu(m, DType::kFp8),
                   plain * 2 + attention_matrices * 1 + expert_matrices * 4.25 / 8);
  EXPECT_DOUBLE_EQ(weight_bytes_per_gpu(m, DType::kInt2),
                   plain * 2 + attention_matrices * 0.25 + expert_matrices * 2 / 8);
  // About 13.7 GB: the checkpoint that "runs within 16 GB of memory" (gpt-oss model card).
  EXPECT_LT(weight_bytes_per_gpu(m, DType::kBf16), 16e9);
}

TEST(ModelSpec, LayerWeightBytes_LeaveOutEmbeddingLmHeadAndFinalNorm) {
  const ModelSpec m = load_model("llama-3.1-8b");  // untied embedding and lm_head, RMSNorm
  const ParamCounts p = parameter_counts(m);
  const double h = static_cast<double>(m.hidden_size), vocab = static_cast<double>(m.vocab_size);
  const double layers = static_cast<double>(p.attention + p.mlp_dense + p.norms) - h;  // one final norm of hidden
  EXPECT_DOUBLE_EQ(layer_weight_bytes_per_gpu(m, DType::kBf16), 2 * layers);
  // Under tensor parallelism the vocabulary-split tables and the replicated final norm are what is left out.
  for (int tp : {2, 8}) {
    EXPECT_DOUBLE_EQ(weight_bytes_per_gpu(m, DType::kBf16, tp) - layer_weight_bytes_per_gpu(m, DType::kBf16, tp),
                     2 * (2 * vocab * h / tp + h))
        << tp;
  }
  // Tied embeddings: only one table to leave out; the layers themselves are unchanged.
  ModelSpec tied = m;
  tied.tie_word_embeddings = true;
  EXPECT_DOUBLE_EQ(layer_weight_bytes_per_gpu(tied, DType::kBf16), layer_weight_bytes_per_gpu(m, DType::kBf16));
  // OPT: LayerNorm (weight and bias) and a learned position table, both outside the layers.
  const ModelSpec opt = load_model("opt-13b");
  const ParamCounts po = parameter_counts(opt);
  const double opt_layers = static_cast<double>(po.attention + po.mlp_dense + po.norms) - 2.0 * opt.hidden_size;
  EXPECT_DOUBLE_EQ(layer_weight_bytes_per_gpu(opt, DType::kFp16), 2 * opt_layers);
}

TEST(ModelSpec, LinearFlops_TwicePerMatmulParameterIncludingLmHead) {
  const ModelSpec m = load_model("llama-3.1-8b");
  const ParamCounts p = parameter_counts(m);
  EXPECT_EQ(linear_flops_per_token(m), 2.0 * static_cast<double>(p.total() - p.embedding - p.norms));
  // Tying the embedding does not remove the lm_head matmul.
  ModelSpec tied = m;
  tied.tie_word_embeddings = true;
  EXPECT_EQ(linear_flops_per_token(tied), linear_flops_per_token(m));
}

TEST(ModelSpec, LinearFlops_MoeScalesWithExpertsPerToken) {
  ModelSpec m = load_model("gpt-oss-20b");
  const double top4 = linear_flops_per_token(m);
  m.experts_per_token = 8;
  EXPECT_DOUBLE_EQ(linear_flops_per_token(m) - top4, 2.0 * 24 * 4 * 3 * 2880 * 2880);
  // Roughly 2 x active parameters (biases, sinks and norms are not matmuls).
  m.experts_per_token = 4;
  const double active = static_cast<double>(parameter_counts(m).active(m));
  EXPECT_NEAR(top4 / (2 * active), 1.0, 0.01);
}

TEST(ModelSpec, FindSpecProblem_NamesTheField) {
  ModelSpec m = load_model("llama-3.1-8b");
  EXPECT_FALSE(find_spec_problem(m).has_value());
  ModelSpec bad = m;
  bad.num_kv_heads = 6;
  ASSERT_TRUE(find_spec_problem(bad).has_value());
  EXPECT_EQ(find_spec_problem(bad)->field, "num_kv_heads");
  bad = m;
  bad.layer_attention.assign(31, AttentionKind::kFull);
  EXPECT_EQ(find_spec_problem(bad)->field, "layer_attention");
  bad = m;
  bad.layer_attention.assign(32, AttentionKind::kSliding);
  EXPECT_EQ(find_spec_problem(bad)->field, "sliding_window");
  bad = m;
  bad.experts_per_token = 2;
  EXPECT_EQ(find_spec_problem(bad)->field, "experts_per_token");
  bad = load_model("gpt-oss-20b");
  bad.experts_per_token = 33;
  EXPECT_EQ(find_spec_problem(bad)->field, "experts_per_token");
  bad = load_model("opt-13b");
  bad.head_dim = 64;
  EXPECT_EQ(find_spec_problem(bad)->field, "head_dim");
  EXPECT_THROW(validate_model_spec(bad), Error);
}

}  // namespace
}  // namespace kvsim::models
