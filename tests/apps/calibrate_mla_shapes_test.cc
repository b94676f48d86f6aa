// `kvsim calibrate`'s GEMM shapes of an MLA model: DeepSeek-V2's own projections, holding exactly its attention
// weights.
#include <cstdint>
#include <string>

#include <gtest/gtest.h>

#include "apps/commands.h"
#include "models/model_loader.h"
#include "models/model_shapes.h"

namespace kvsim::app {
namespace {

models::ModelSpec fixture(const std::string& name) {
  return models::parse_hf_config(std::string(KVSIM_TEST_SOURCE_DIR) + "/tests/models/fixtures/" + name +
                                 ".config.json");
}

bool has_op(const std::string& label, const std::string& op) { return label.find("/" + op + "/") != std::string::npos; }

TEST(MlaGemmShapes, ListTheLatentProjectionsAndNoPerHeadQkv) {
  for (const char* name : {"deepseek-v2-lite", "deepseek-v3"}) {
    const models::ModelSpec m = fixture(name);
    ASSERT_TRUE(m.is_mla()) << name;
    const auto shapes = model_gemm_shapes(m, name);
    const int64_t gqa_qkv = (m.num_attention_heads + 2 * m.num_kv_heads) * m.head_dim;
    // At tp 1 the attention GEMMs hold the attention's weights (models/model_shapes.h), each once.
    const models::detail::AttentionShapes a = models::detail::attention_shapes(m, m.num_kv_heads);
    uint64_t attention_params = 0;
    bool latent = false;
    for (const auto& s : shapes) {
      EXPECT_FALSE(has_op(s.name, "qkv_proj")) << s.name;
      EXPECT_FALSE(s.n == gqa_qkv && s.k == m.hidden_size) << s.name;
      if (s.name.ends_with("/tp1") && !has_op(s.name, "lm_head") && s.name.find("gate_up") == std::string::npos &&
          s.name.find("down") == std::string::npos) {
        attention_params += static_cast<uint64_t>(s.n * s.k);
      }
      if (has_op(s.name, "kv_a_proj_with_mqa")) {
        latent = true;
        EXPECT_EQ(s.n, m.kv_lora_rank + m.qk_rope_head_dim);  // 512 + 64: the cached latent and the rotary key
        EXPECT_EQ(s.k, m.hidden_size);
      }
      if (has_op(s.name, "o_proj") && s.name.ends_with("/tp1")) {
        EXPECT_EQ(s.k, m.num_attention_heads * m.v_head_dim);  // over v_head_dim, not head_dim
      }
    }
    EXPECT_TRUE(latent) << name;
    EXPECT_EQ(attention_params, a.q_weight + a.kv_weight + a.o_weight) << name;
  }
}

TEST(MlaGemmShapes, GqaModelKeepsItsFusedQkv) {
  const models::ModelSpec m = fixture("llama-3.1-8b");
  bool qkv = false;
  for (const auto& s : model_gemm_shapes(m, "llama")) {
    if (s.name == "llama/qkv_proj/tp1") {
      qkv = true;
      EXPECT_EQ(s.n, (32 + 2 * 8) * 128);
      EXPECT_EQ(s.k, 4096);
    }
  }
  EXPECT_TRUE(qkv);
}

}  // namespace
}  // namespace kvsim::app
