// Hugging Face configs kvsim must refuse rather than size wrongly (issue 18): an unknown model_type, an MLA config
// without its latent sizes, a size-changing key the architecture's reader does not read.
#include <filesystem>
#include <fstream>
#include <string>

#include <gtest/gtest.h>

#include "tests/test_support.h"

#include "models/model_loader.h"
#include "sim/core/error.h"

namespace kvsim::models {
namespace {

namespace fs = std::filesystem;
using kvsim::testing::error_of;

std::string write_temp(const std::string& file_name, const std::string& text) {
  const fs::path dir = fs::temp_directory_path() /
                       ("kvsim_hf_refusals_" + std::to_string(::testing::UnitTest::GetInstance()->random_seed()));
  fs::create_directories(dir);
  const fs::path path = dir / file_name;
  std::ofstream(path) << text;
  return path.string();
}

constexpr const char* kDeepseekHead = R"({
  "architectures": ["DeepseekV2ForCausalLM"], "model_type": "deepseek_v2", "hidden_size": 2048,
  "intermediate_size": 10944, "max_position_embeddings": 163840, "num_attention_heads": 16, "num_hidden_layers": 27,
  "vocab_size": 102400, "n_routed_experts": 64, "num_experts_per_tok": 6, "moe_intermediate_size": 1408,
)";

TEST(HfConfigRefusals, MlaWithoutKvLoraRankNamesTheKey) {
  const std::string path = write_temp("no-kv-lora.json", std::string(kDeepseekHead) + R"(
  "qk_rope_head_dim": 64, "qk_nope_head_dim": 128, "v_head_dim": 128
})");
  const std::string msg = error_of([&] { parse_hf_config(path); });
  EXPECT_NE(msg.find("kv_lora_rank: required key is missing"), std::string::npos) << msg;
}

TEST(HfConfigRefusals, MlaWithoutRopeHeadDimNamesTheKey) {
  const std::string path = write_temp("no-rope.json", std::string(kDeepseekHead) + R"(
  "kv_lora_rank": 512, "qk_nope_head_dim": 128, "v_head_dim": 128
})");
  const std::string msg = error_of([&] { parse_hf_config(path); });
  EXPECT_NE(msg.find("qk_rope_head_dim: required key is missing"), std::string::npos) << msg;
}

TEST(HfConfigRefusals, UnknownModelTypeNamesKeyAndValue) {
  const std::string path = write_temp("mt.json", R"({
  "model_type": "falcon_mamba", "hidden_size": 4096, "intermediate_size": 14336, "max_position_embeddings": 4096,
  "num_attention_heads": 32, "num_hidden_layers": 32, "vocab_size": 65536
})");
  const std::string msg = error_of([&] { parse_hf_config(path); });
  EXPECT_NE(msg.find("model_type: unknown architecture 'falcon_mamba'"), std::string::npos) << msg;
  EXPECT_NE(msg.find("qwen3_moe"), std::string::npos) << msg;
}

TEST(HfConfigRefusals, SizeKeyTheArchitectureDoesNotReadIsRefused) {
  const std::string path = write_temp("llama-moe.json", R"({
  "architectures": ["LlamaForCausalLM"], "hidden_size": 4096, "intermediate_size": 14336,
  "max_position_embeddings": 4096, "num_attention_heads": 32, "num_hidden_layers": 32, "vocab_size": 32000,
  "moe_intermediate_size": 1408
})");
  const std::string msg = error_of([&] { parse_hf_config(path); });
  EXPECT_NE(msg.find(":4:28: moe_intermediate_size: changes the model's size"), std::string::npos) << msg;
}

TEST(HfConfigRefusals, NeutralValuesOfForeignKeysAreAccepted) {
  // Qwen3 dense configs carry MoE keys at values that change nothing.
  const std::string path = write_temp("qwen3-dense.json", R"({
  "architectures": ["Qwen3ForCausalLM"], "hidden_size": 4096, "intermediate_size": 12288, "head_dim": 128,
  "max_position_embeddings": 40960, "num_attention_heads": 32, "num_key_value_heads": 8, "num_hidden_layers": 36,
  "vocab_size": 151936, "mlp_only_layers": [], "decoder_sparse_step": 1, "num_experts": 0, "sliding_window": null,
  "use_sliding_window": false, "max_window_layers": 36
})");
  const ModelSpec m = parse_hf_config(path);
  EXPECT_FALSE(m.is_moe());
  EXPECT_TRUE(m.qk_norm);
  EXPECT_EQ(m.num_sliding_layers(), 0);
}

TEST(HfConfigRefusals, QwenMoeDenseLayersFollowSparseStepAndMlpOnlyLayers) {
  const std::string path = write_temp("qwen2-moe.json", R"({
  "architectures": ["Qwen2MoeForCausalLM"], "hidden_size": 2048, "intermediate_size": 5632,
  "max_position_embeddings": 8192, "num_attention_heads": 16, "num_hidden_layers": 24, "vocab_size": 151936,
  "num_experts": 60, "num_experts_per_tok": 4, "moe_intermediate_size": 1408, "shared_expert_intermediate_size": 5632,
  "decoder_sparse_step": 2, "mlp_only_layers": [0]
})");
  const ModelSpec m = parse_hf_config(path);
  // Layers 0, 2, 4, ... are dense by the step ((i + 1) % 2 != 0); layer 0 also by mlp_only_layers: 12 dense.
  EXPECT_EQ(m.num_dense_layers, 12);
  EXPECT_TRUE(m.shared_expert_gate);
  EXPECT_EQ(m.shared_expert_intermediate_size, 5632);
}

}  // namespace
}  // namespace kvsim::models
