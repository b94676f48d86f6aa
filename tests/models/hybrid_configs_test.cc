// Hugging Face configs of sliding-window and hybrid state-space models (issue 18 item 5): layer layouts, parameter
// counts against the published figures (tolerance as in moe_mla_configs_test.cc: 1.5 %, or half a unit of the last
// published digit where that is wider), KV per token per layer type and the fixed per-sequence state.
#include <algorithm>
#include <cstdio>
#include <fstream>
#include <string>

#include <gtest/gtest.h>

#include "models/model_loader.h"
#include "models/model_spec.h"
#include "models/state_space.h"
#include "sim/core/error.h"

namespace kvsim::models {
namespace {

std::string fixture(const std::string& name) {
  return std::string(KVSIM_TEST_SOURCE_DIR) + "/tests/models/fixtures/" + name + ".config.json";
}

void expect_near_published(uint64_t params, double published, double last_digit, const char* what) {
  const double billions = static_cast<double>(params) / 1e9;
  EXPECT_NEAR(billions, published, std::max(0.015 * published, last_digit / 2)) << what;
}

TEST(HybridConfigs, Gemma2_9B_AlternatesSlidingAndGlobalLayers) {
  const ModelSpec m = parse_hf_config(fixture("gemma-2-9b-it"));
  EXPECT_EQ(m.sliding_window, 4096);
  EXPECT_EQ(m.num_sliding_layers(), 21);
  EXPECT_EQ(m.num_full_layers(), 21);
  EXPECT_EQ(m.layer_attention.front(), AttentionKind::kSliding);  // Gemma2DecoderLayer: even layers slide
  EXPECT_EQ(m.layer_attention.back(), AttentionKind::kFull);
  EXPECT_TRUE(m.tie_word_embeddings);  // Gemma2Config's default, absent from the file
  const ParamCounts p = parameter_counts(m);
  // Gemma 2 report (arXiv:2408.00118, Table 2): 9B model, 918M embedding and 8,324M non-embedding parameters; the
  // model card's 9.24B.
  expect_near_published(p.total(), 9.24, 0.01, "Gemma-2-9B total");
  expect_near_published(p.total() - p.embedding, 8.324, 0.001, "Gemma-2-9B non-embedding");
  EXPECT_EQ(p.embedding, 256000u * 3584u);
  EXPECT_EQ(p.lm_head, 0u);
}

TEST(HybridConfigs, Gemma2_KvPerSequenceStopsGrowingPastTheWindowInSlidingLayers) {
  const ModelSpec m = parse_hf_config(fixture("gemma-2-9b-it"));
  const double layer = kv_bytes_per_token_layer(m, DType::kBf16);
  const auto kv = [&](int64_t tokens) { return kv_bytes_for_sequence(m, tokens, DType::kBf16); };
  // Up to the window every layer grows; past it only the 21 global ones.
  EXPECT_DOUBLE_EQ(kv(4096) - kv(4095), 42 * layer);
  EXPECT_DOUBLE_EQ(kv(4097) - kv(4096), 21 * layer);
  EXPECT_DOUBLE_EQ(kv(8192) - kv(4096), 21 * layer * 4096);
  // The sliding layers' share is capped: at 8K the sequence holds 3/4 of what all-global layers would.
  EXPECT_DOUBLE_EQ(kv(8192), 0.75 * kv_bytes_per_token(m, DType::kBf16) * 8192);
}

TEST(HybridConfigs, Gemma3_SlidingWindowPatternMakesEverySixthLayerGlobal) {
  const std::string path = ::testing::TempDir() + "/gemma3_1b.config.json";
  std::ofstream(path) << R"({"architectures": ["Gemma3ForCausalLM"], "model_type": "gemma3_text", "head_dim": 256,
    "hidden_size": 1152, "intermediate_size": 6912, "max_position_embeddings": 32768, "num_attention_heads": 4,
    "num_hidden_layers": 26, "num_key_value_heads": 1, "query_pre_attn_scalar": 256, "sliding_window": 512,
    "sliding_window_pattern": 6, "torch_dtype": "bfloat16", "vocab_size": 262144})";
  const ModelSpec m = parse_hf_config(path);
  EXPECT_EQ(m.num_full_layers(), 4);  // layers 5, 11, 17, 23
  EXPECT_EQ(m.layer_attention[5], AttentionKind::kFull);
  EXPECT_EQ(m.layer_attention[6], AttentionKind::kSliding);
  EXPECT_EQ(m.sliding_window, 512);
  EXPECT_TRUE(m.qk_norm);
  // Gemma 3 report (arXiv:2503.19786, Table 1): 1B = 302M embedding + 698M non-embedding parameters.
  const ParamCounts p = parameter_counts(m);
  expect_near_published(p.embedding, 0.302, 0.001, "Gemma-3-1B embedding");
  expect_near_published(p.total() - p.embedding, 0.698, 0.001, "Gemma-3-1B non-embedding");
  std::remove(path.c_str());
}

TEST(HybridConfigs, GptOss120b_MatchesTheModelCard) {
  const ModelSpec m = parse_hf_config(fixture("gpt-oss-120b"));
  EXPECT_EQ(m.num_experts, 128);
  EXPECT_EQ(m.experts_per_token, 4);
  EXPECT_EQ(m.num_sliding_layers(), 18);
  EXPECT_EQ(m.sliding_window, 128);
  const ParamCounts p = parameter_counts(m);
  // gpt-oss model card (OpenAI, 2025, Table 1): 116.83B total, 5.13B active per token (embeddings excluded).
  expect_near_published(p.total(), 116.83, 0.01, "gpt-oss-120b total");
  expect_near_published(p.active(m), 5.13, 0.01, "gpt-oss-120b active");
}

TEST(HybridConfigs, Jamba_LayoutAndPublishedCounts) {
  const ModelSpec m = parse_hf_config(fixture("jamba-v0.1"));
  EXPECT_EQ(m.num_attention_layers(), 4);  // layers 4, 12, 20, 28
  EXPECT_EQ(m.layer_attention[4], AttentionKind::kFull);
  EXPECT_EQ(m.num_state_layers(), 28);
  EXPECT_EQ(m.num_moe_layers(), 16);  // odd layers
  EXPECT_EQ(m.state_mixer.kind, StateMixerKind::kMamba1);
  EXPECT_EQ(m.state_mixer.inner_size, 8192);
  EXPECT_EQ(m.position, PositionKind::kNone);  // no rotary embedding in JambaAttention
  const ParamCounts p = parameter_counts(m);
  // Jamba paper (Lieber et al., arXiv:2403.19887, Table 1) and model card: 52B total, 12B active.
  expect_near_published(p.total(), 52, 1, "Jamba total");
  expect_near_published(p.active_with_embedding(m), 12, 1, "Jamba active");
  EXPECT_GT(p.state_mixers, 0u);
  // Only 4 attention layers cache KV per token: 4 x 2 x 8 heads x 128 x 2 bytes.
  EXPECT_DOUBLE_EQ(kv_bytes_per_token(m, DType::kBf16), 4.0 * 2 * 8 * 128 * 2);
}

TEST(HybridConfigs, Jamba_StatePerSequenceIsIndependentOfContext) {
  const ModelSpec m = parse_hf_config(fixture("jamba-v0.1"));
  // vLLM mamba1_state_shape: conv (d_conv - 1) x d_inner, ssm d_inner x d_state, per layer.
  const StateElements e = state_elements_per_layer(m);
  EXPECT_DOUBLE_EQ(e.conv, 3.0 * 8192);
  EXPECT_DOUBLE_EQ(e.ssm, 8192.0 * 16);
  const double state = state_bytes_per_sequence(m, DType::kBf16);
  EXPECT_DOUBLE_EQ(state, 28 * (e.conv + e.ssm) * 2);
  const auto cache = [&](int64_t tokens) { return cache_bytes_for_sequence(m, tokens, DType::kBf16, DType::kBf16); };
  // Growing a sequence adds only the attention layers' KV; the state part is the same at 1 and 256K tokens.
  EXPECT_DOUBLE_EQ(cache(1) - kv_bytes_for_sequence(m, 1, DType::kBf16), state);
  EXPECT_DOUBLE_EQ(cache(262144) - kv_bytes_for_sequence(m, 262144, DType::kBf16), state);
  EXPECT_DOUBLE_EQ(cache(2000) - cache(1000), 1000 * kv_bytes_per_token(m, DType::kBf16));
  // Tensor parallelism splits the state by channels.
  EXPECT_DOUBLE_EQ(state_bytes_per_sequence(m, DType::kBf16, 2), state / 2);
}

TEST(HybridConfigs, NemotronH8B_PatternBlocksAndCount) {
  const ModelSpec m = parse_hf_config(fixture("nemotron-h-8b"));
  EXPECT_EQ(m.num_state_layers(), 24);
  EXPECT_EQ(m.num_attention_layers(), 4);
  EXPECT_EQ(m.num_dense_mlp_layers(), 24);
  EXPECT_EQ(m.state_mixer.kind, StateMixerKind::kMamba2);
  // vLLM mamba2_state_shape: conv 3 x (8192 + 2 x 8 x 128), ssm 128 heads x 64 x 128.
  const StateElements e = state_elements_per_layer(m);
  EXPECT_DOUBLE_EQ(e.conv, 3.0 * (8192 + 2 * 8 * 128));
  EXPECT_DOUBLE_EQ(e.ssm, 128.0 * 64 * 128);
  // tp = 16 does not divide the 8 groups: vLLM replicates them up to 16 (extra_groups_for_head_shards).
  EXPECT_DOUBLE_EQ(state_elements_per_layer(m, 16).conv, 3.0 * (8192 + 2 * 16 * 128) / 16);
  // Nemotron-H report (NVIDIA, arXiv:2504.03624): Nemotron-H-8B, 8B parameters.
  expect_near_published(parameter_counts(m).total(), 8, 1, "Nemotron-H-8B total");
}

TEST(HybridConfigs, Qwen3Next_GatedDeltaNetLayersAndCounts) {
  const ModelSpec m = parse_hf_config(fixture("qwen3-next-80b-a3b"));
  EXPECT_EQ(m.num_full_layers(), 12);  // every 4th layer (full_attention_interval)
  EXPECT_EQ(m.num_state_layers(), 36);
  EXPECT_TRUE(m.attention_output_gate);
  // vLLM gated_delta_net_state_shape: conv 3 x (2 x 16 x 128 + 32 x 128), ssm 32 x 128 x 128.
  const StateElements e = state_elements_per_layer(m);
  EXPECT_DOUBLE_EQ(e.conv, 3.0 * (2 * 16 * 128 + 32 * 128));
  EXPECT_DOUBLE_EQ(e.ssm, 32.0 * 128 * 128);
  // Model card (Qwen/Qwen3-Next-80B-A3B-Instruct): 80B total.
  expect_near_published(parameter_counts(m).total(), 80, 1, "Qwen3-Next total");
}

std::string parse_error(const std::string& name, const std::string& text) {
  const std::string path = ::testing::TempDir() + "/" + name + ".config.json";
  std::ofstream(path) << text;
  std::string msg;
  try {
    parse_hf_config(path);
  } catch (const Error& e) {
    msg = e.what();
  }
  std::remove(path.c_str());
  return msg;
}

TEST(HybridConfigs, UnknownLayerTypeIsNamedWithItsKey) {
  const std::string msg = parse_error("bad_layer_type", R"({"architectures": ["GptOssForCausalLM"],
    "hidden_size": 64, "intermediate_size": 64, "num_attention_heads": 4, "num_key_value_heads": 1,
    "num_hidden_layers": 2, "vocab_size": 100, "max_position_embeddings": 128, "num_local_experts": 4,
    "num_experts_per_tok": 2, "sliding_window": 16, "layer_types": ["sliding_attention", "chunked_attention"]})");
  EXPECT_NE(msg.find("layer_types[1]: unknown layer type 'chunked_attention'"), std::string::npos) << msg;
  EXPECT_NE(msg.find("full_attention, sliding_attention"), std::string::npos) << msg;
  // linear_attention is a Qwen3-Next layer type only.
  const std::string linear = parse_error("linear_in_gemma", R"({"architectures": ["Gemma2ForCausalLM"],
    "hidden_size": 64, "intermediate_size": 64, "num_attention_heads": 4, "num_hidden_layers": 2, "vocab_size": 100,
    "max_position_embeddings": 128, "sliding_window": 16, "layer_types": ["linear_attention", "full_attention"]})");
  EXPECT_NE(linear.find("layer_types[0]: unknown layer type 'linear_attention'"), std::string::npos) << linear;
}

TEST(HybridConfigs, SizeKeysOfHybridFamiliesAreRefusedElsewhere) {
  const std::string msg = parse_error("mamba_in_llama", R"({"architectures": ["LlamaForCausalLM"],
    "hidden_size": 64, "intermediate_size": 64, "num_attention_heads": 4, "num_hidden_layers": 2, "vocab_size": 100,
    "max_position_embeddings": 128, "mamba_d_state": 16})");
  EXPECT_NE(msg.find("mamba_d_state: changes the model's size"), std::string::npos) << msg;
  EXPECT_NE(msg.find("Jamba"), std::string::npos) << msg;
  const std::string pattern = parse_error("nemotron_block", R"({"architectures": ["NemotronHForCausalLM"],
    "hidden_size": 64, "intermediate_size": 64, "num_attention_heads": 4, "num_hidden_layers": 3, "vocab_size": 100,
    "max_position_embeddings": 128, "hybrid_override_pattern": "M*X", "mamba_num_heads": 4, "mamba_head_dim": 32,
    "ssm_state_size": 16})");
  EXPECT_NE(pattern.find("hybrid_override_pattern: character 2 is 'X'"), std::string::npos) << pattern;
}

// A small Nemotron-H config with MoE blocks; `extra` is spliced in before the closing brace.
std::string nemotron_moe_config(const std::string& pattern, const std::string& extra) {
  return R"({"architectures": ["NemotronHForCausalLM"], "hidden_size": 64, "intermediate_size": 64,
    "num_attention_heads": 4, "num_hidden_layers": )" +
         std::to_string(pattern.size()) + R"(, "vocab_size": 100, "max_position_embeddings": 128,
    "hybrid_override_pattern": ")" +
         pattern + R"(", "mamba_num_heads": 4, "mamba_head_dim": 16, "ssm_state_size": 16)" + extra + "}";
}

TEST(HybridConfigs, NemotronH_MoeBlocksNeedExpertsAndExpertsNeedMoeBlocks) {
  const std::string experts = R"(, "n_routed_experts": 8, "num_experts_per_tok": 2, "moe_intermediate_size": 32,
    "moe_shared_expert_intermediate_size": 64)";
  const std::string no_experts = parse_error("nemotron_e_alone", nemotron_moe_config("M*E", ""));
  EXPECT_NE(no_experts.find("hybrid_override_pattern: has 1 mixture-of-experts blocks 'E' but n_routed_experts"),
            std::string::npos)
      << no_experts;
  const std::string no_blocks = parse_error("nemotron_no_e", nemotron_moe_config("M*-", experts));
  EXPECT_NE(no_blocks.find("n_routed_experts: set, but hybrid_override_pattern has no mixture-of-experts block"),
            std::string::npos)
      << no_blocks;
  // Nemotron 3 Super's latent MoE has projections kvsim does not count: refused, not read as a plain MoE.
  const std::string latent =
      parse_error("nemotron_latent", nemotron_moe_config("M*E", experts + R"(, "moe_latent_size": 16)"));
  EXPECT_NE(latent.find("moe_latent_size: the latent mixture of experts"), std::string::npos) << latent;
  const std::string shared =
      parse_error("nemotron_two_shared", nemotron_moe_config("M*E", experts + R"(, "n_shared_experts": 2)"));
  EXPECT_NE(shared.find("n_shared_experts: expected 1"), std::string::npos) << shared;
  // The MoE keys are Nemotron-H's and DeepSeek's only.
  const std::string foreign = parse_error("llama_shared_width", R"({"architectures": ["LlamaForCausalLM"],
    "hidden_size": 64, "intermediate_size": 64, "num_attention_heads": 4, "num_hidden_layers": 2, "vocab_size": 100,
    "max_position_embeddings": 128, "moe_shared_expert_intermediate_size": 64})");
  EXPECT_NE(foreign.find("moe_shared_expert_intermediate_size: changes the model's size"), std::string::npos)
      << foreign;
}

TEST(HybridConfigs, NemotronH_MoeBlockCountsExpertsSharedExpertAndRouterOnce) {
  const std::string path = ::testing::TempDir() + "/nemotron_small_moe.config.json";
  const auto counts = [&](const std::string& pattern) {
    std::ofstream(path) << nemotron_moe_config(pattern, R"(, "n_routed_experts": 8, "num_experts_per_tok": 2,
      "moe_intermediate_size": 32, "moe_shared_expert_intermediate_size": 48)");
    const ModelSpec m = parse_hf_config(path);
    return std::make_pair(m, parameter_counts(m));
  };
  const auto [one, p1] = counts("M*E");
  const auto [two, p2] = counts("M*EE");
  std::remove(path.c_str());
  EXPECT_EQ(one.num_moe_layers(), 1);
  EXPECT_EQ(one.num_dense_mlp_layers(), 0);
  EXPECT_EQ(one.num_mlp_free_layers, 2);
  // One more 'E' block adds exactly one block's experts (8 x up + down, squared ReLU: no gate), shared expert (up +
  // down), router and norm, and leaves KV and state alone.
  EXPECT_EQ(p2.experts - p1.experts, 8u * 2 * 64 * 32);
  EXPECT_EQ(p2.shared_experts - p1.shared_experts, 2u * 64 * 48);
  EXPECT_EQ(p2.router - p1.router, 64u * 8);
  EXPECT_EQ(p2.total() - p1.total(), 8u * 2 * 64 * 32 + 2u * 64 * 48 + 64u * 8 + 64u);
  EXPECT_EQ(p2.active(two) - p1.active(one), 2u * 2 * 64 * 32 + 2u * 64 * 48 + 64u * 8 + 64u);
  EXPECT_DOUBLE_EQ(kv_bytes_per_token(two, DType::kBf16), kv_bytes_per_token(one, DType::kBf16));
  EXPECT_DOUBLE_EQ(state_bytes_per_sequence(two, DType::kBf16), state_bytes_per_sequence(one, DType::kBf16));
}

TEST(HybridConfigs, Nemotron3Nano_LayoutAndPublishedCounts) {
  const ModelSpec m = parse_hf_config(fixture("nemotron-3-nano-30b-a3b"));
  EXPECT_EQ(m.num_state_layers(), 23);
  EXPECT_EQ(m.num_attention_layers(), 6);
  EXPECT_EQ(m.num_moe_layers(), 23);
  EXPECT_EQ(m.num_dense_mlp_layers(), 0);
  EXPECT_EQ(m.num_experts, 128);
  EXPECT_EQ(m.experts_per_token, 6);
  EXPECT_EQ(m.shared_expert_intermediate_size, 3712);
  EXPECT_EQ(m.head_dim, 128);  // its head_dim key, not hidden_size / heads = 84
  const ParamCounts p = parameter_counts(m);
  // NVIDIA, Nemotron 3 Nano technical report (arXiv:2512.20848) and the Nemotron 3 family page: "3.2B active (3.6B
  // with embeddings), 31.6B total parameter model". The model card's rounder "3.5B active, 30B total" is not used.
  expect_near_published(p.total(), 31.6, 0.1, "Nemotron 3 Nano total");
  expect_near_published(p.active(m), 3.2, 0.1, "Nemotron 3 Nano active");
  expect_near_published(p.active_with_embedding(m), 3.6, 0.1, "Nemotron 3 Nano active with embeddings");
  // Routed experts are nearly all of it: 23 blocks x 128 experts x (up + down) of 2688 x 1856.
  EXPECT_EQ(p.experts, uint64_t{23} * 128 * 2 * 2688 * 1856);
  // KV: 6 attention layers x K and V x 2 KV heads x 128 x 2 bytes; the 23 Mamba-2 layers hold a fixed state.
  EXPECT_DOUBLE_EQ(kv_bytes_per_token(m, DType::kBf16), 6.0 * 2 * 2 * 128 * 2);
  const StateElements e = state_elements_per_layer(m);
  EXPECT_DOUBLE_EQ(e.conv, 3.0 * (64 * 64 + 2 * 8 * 128));
  EXPECT_DOUBLE_EQ(e.ssm, 64.0 * 64 * 128);
  EXPECT_DOUBLE_EQ(state_bytes_per_sequence(m, DType::kBf16), 23 * (e.conv + e.ssm) * 2);
}

}  // namespace
}  // namespace kvsim::models
