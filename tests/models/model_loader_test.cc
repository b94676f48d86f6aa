// Model loading: the shipped catalog, catalog-format YAML with its errors, and Hugging Face config.json import
// checked against the catalog entry of the same model.
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

std::string fixture(const std::string& name) {
  return std::string(KVSIM_TEST_SOURCE_DIR) + "/tests/models/fixtures/" + name + ".config.json";
}

// Error message of `fn`, or "" when it does not throw kvsim::Error.
using kvsim::testing::error_of;

std::string write_temp(const std::string& file_name, const std::string& text) {
  const fs::path dir = fs::temp_directory_path() /
                       ("kvsim_models_test_" + std::to_string(::testing::UnitTest::GetInstance()->random_seed()));
  fs::create_directories(dir);
  const fs::path path = dir / file_name;
  std::ofstream(path) << text;
  return path.string();
}

ModelSpec parse_yaml_text(const std::string& text, const std::string& file = "bad.yaml") {
  auto source = std::make_shared<yaml::Source>();
  source->file = file;
  return parse_model_yaml(yaml::load_string(text, file), source);
}

// Everything but name and source, which say where a spec came from.
void expect_same_architecture(const ModelSpec& a, const ModelSpec& b) {
  EXPECT_EQ(a.architecture, b.architecture);
  EXPECT_EQ(a.num_layers, b.num_layers);
  EXPECT_EQ(a.hidden_size, b.hidden_size);
  EXPECT_EQ(a.num_attention_heads, b.num_attention_heads);
  EXPECT_EQ(a.num_kv_heads, b.num_kv_heads);
  EXPECT_EQ(a.head_dim, b.head_dim);
  EXPECT_EQ(a.intermediate_size, b.intermediate_size);
  EXPECT_EQ(a.vocab_size, b.vocab_size);
  EXPECT_EQ(a.max_position_embeddings, b.max_position_embeddings);
  EXPECT_EQ(a.mlp, b.mlp);
  EXPECT_EQ(a.norm, b.norm);
  EXPECT_EQ(a.position, b.position);
  EXPECT_EQ(a.qkv_bias, b.qkv_bias);
  EXPECT_EQ(a.attention_out_bias, b.attention_out_bias);
  EXPECT_EQ(a.mlp_bias, b.mlp_bias);
  EXPECT_EQ(a.attention_sinks, b.attention_sinks);
  EXPECT_EQ(a.tie_word_embeddings, b.tie_word_embeddings);
  EXPECT_EQ(a.num_experts, b.num_experts);
  EXPECT_EQ(a.experts_per_token, b.experts_per_token);
  EXPECT_EQ(a.sliding_window, b.sliding_window);
  EXPECT_EQ(a.layer_attention, b.layer_attention);
  EXPECT_EQ(a.dtype, b.dtype);
  EXPECT_EQ(a.has_expert_dtype, b.has_expert_dtype);
  if (a.has_expert_dtype && b.has_expert_dtype) {
    EXPECT_EQ(a.expert_dtype, b.expert_dtype);
  }
  EXPECT_EQ(parameter_counts(a).total(), parameter_counts(b).total());
}

TEST(ModelCatalog, HoldsExactlyTheShippedModels) {
  const std::vector<std::string> expected = {
      "codellama-34b", "gpt-oss-20b", "llama-2-13b", "llama-2-70b", "llama-2-7b", "llama-3.1-70b", "llama-3.1-8b", "mistral-7b",
      "opt-13b",     "opt-175b",    "opt-30b",     "opt-6.7b",   "opt-66b",       "qwen2.5-72b",  "qwen2.5-7b"};
  EXPECT_EQ(model_catalog_names(), expected);
}

TEST(ModelCatalog, EveryModelLoadsValidWithASource) {
  for (const auto& name : model_catalog_names()) {
    SCOPED_TRACE(name);
    const ModelSpec m = load_model(name);
    EXPECT_EQ(m.name, name);
    EXPECT_FALSE(m.source.empty());
    EXPECT_FALSE(m.architecture.empty());
    EXPECT_FALSE(find_spec_problem(m).has_value());
    EXPECT_GT(parameter_counts(m).total(), 1000000000u);
  }
}

TEST(ModelCatalog, LoadsByPathToo) {
  const ModelSpec by_name = load_model("qwen2.5-72b");
  const ModelSpec by_path = load_model(model_catalog_dir() + "/qwen2.5-72b.yaml");
  EXPECT_EQ(by_path.name, "qwen2.5-72b");
  expect_same_architecture(by_name, by_path);
}

TEST(ModelCatalog, UnknownNameSuggestsNearestAndListsValid) {
  const std::string msg = error_of([] { load_model("llama-3-8b"); });
  EXPECT_NE(msg.find("unknown model 'llama-3-8b'"), std::string::npos) << msg;
  EXPECT_NE(msg.find("did you mean 'llama-3.1-8b'?"), std::string::npos) << msg;
  EXPECT_NE(msg.find("valid: codellama-34b, gpt-oss-20b, llama-2-13b"), std::string::npos) << msg;
  EXPECT_NE(msg.find("qwen2.5-7b"), std::string::npos) << msg;
}

TEST(HfConfig, ImportMatchesCatalog) {
  for (const std::string name : {"llama-3.1-8b", "opt-13b", "qwen2.5-7b", "gpt-oss-20b"}) {
    SCOPED_TRACE(name);
    const ModelSpec hf = parse_hf_config(fixture(name));
    EXPECT_EQ(hf.name, fixture(name));
    expect_same_architecture(hf, load_model(name));
    expect_same_architecture(load_model(fixture(name)), hf);  // load_model dispatches on .json
  }
}

TEST(HfConfig, Qwen2WindowIgnoredWithoutUseSlidingWindow) {
  const ModelSpec m = parse_hf_config(fixture("qwen2.5-7b"));  // sliding_window 131072, use_sliding_window false
  EXPECT_EQ(m.sliding_window, 0);
  EXPECT_EQ(m.num_sliding_layers(), 0);
  EXPECT_TRUE(m.qkv_bias);
  EXPECT_FALSE(m.attention_out_bias);
}

TEST(HfConfig, GptOssLayerTypesAndMxfp4Experts) {
  const ModelSpec m = parse_hf_config(fixture("gpt-oss-20b"));
  ASSERT_EQ(m.layer_attention.size(), 24u);
  EXPECT_EQ(m.layer_attention[0], AttentionKind::kSliding);
  EXPECT_EQ(m.layer_attention[1], AttentionKind::kFull);
  EXPECT_TRUE(m.has_expert_dtype);
  EXPECT_EQ(m.expert_dtype, DType::kMxfp4);
  EXPECT_EQ(m.dtype, DType::kBf16);  // no torch_dtype in this config
}

TEST(HfConfig, MistralV01WindowAppliesToEveryLayer) {
  const std::string path = write_temp("mistral-v0.1.json", R"({
  "architectures": ["MistralForCausalLM"], "hidden_size": 4096, "intermediate_size": 14336,
  "max_position_embeddings": 32768, "num_attention_heads": 32, "num_hidden_layers": 32,
  "num_key_value_heads": 8, "sliding_window": 4096, "torch_dtype": "bfloat16", "vocab_size": 32000
})");
  const ModelSpec m = parse_hf_config(path);
  EXPECT_EQ(m.num_sliding_layers(), 32);
  EXPECT_EQ(m.sliding_window, 4096);
  EXPECT_EQ(m.head_dim, 128);
  EXPECT_EQ(kv_bytes_for_sequence(m, 10000, DType::kBf16), 4096 * kv_bytes_per_token(m, DType::kBf16));
}

TEST(HfConfig, UnknownArchitectureIsRefusedListingTheKnownOnes) {
  // Issue 18: an architecture kvsim does not know may carry size keys it does not read; refuse it.
  const std::string path = write_temp("custom.json", R"({
  "architectures": ["SomeNewForCausalLM"], "hidden_size": 2048, "intermediate_size": 8192,
  "max_position_embeddings": 8192, "num_attention_heads": 16, "num_hidden_layers": 24,
  "vocab_size": 50000, "torch_dtype": "float16", "some_future_key": {"nested": [1, 2]}
})");
  const std::string msg = error_of([&] { parse_hf_config(path); });
  EXPECT_NE(msg.find(path + ":2:20: architectures: unknown architecture 'SomeNewForCausalLM'"), std::string::npos)
      << msg;
  EXPECT_NE(msg.find("LlamaForCausalLM"), std::string::npos) << msg;
  EXPECT_NE(msg.find("DeepseekV3ForCausalLM"), std::string::npos) << msg;
}

TEST(HfConfig, NoArchitectureNamedReadsCommonKeysLlamaLike) {
  const std::string path = write_temp("bare.json", R"({
  "hidden_size": 2048, "intermediate_size": 8192, "max_position_embeddings": 8192, "num_attention_heads": 16,
  "num_hidden_layers": 24, "vocab_size": 50000, "torch_dtype": "float16", "some_future_key": {"nested": [1, 2]}
})");
  const ModelSpec m = parse_hf_config(path);
  EXPECT_EQ(m.num_kv_heads, 16);  // MHA when num_key_value_heads is absent
  EXPECT_EQ(m.head_dim, 128);
  EXPECT_EQ(m.dtype, DType::kFp16);
  EXPECT_EQ(m.mlp, MlpKind::kGated);
}

TEST(HfConfig, MissingNumHiddenLayersNamesFileAndKey) {
  const std::string path = write_temp("no-layers.json", R"({
  "architectures": ["LlamaForCausalLM"], "hidden_size": 4096, "intermediate_size": 14336,
  "max_position_embeddings": 131072, "num_attention_heads": 32, "vocab_size": 128256
})");
  const std::string msg = error_of([&] { parse_hf_config(path); });
  EXPECT_NE(msg.find(path + ":1:1: num_hidden_layers: required key is missing"), std::string::npos) << msg;
}

TEST(HfConfig, BadKvHeadsNamesHfKeyAndLine) {
  const std::string path = write_temp("bad-kv.json", R"({
  "architectures": ["LlamaForCausalLM"], "hidden_size": 4096, "intermediate_size": 14336,
  "max_position_embeddings": 131072, "num_attention_heads": 32, "num_hidden_layers": 32,
  "num_key_value_heads": 6, "vocab_size": 128256
})");
  const std::string msg = error_of([&] { parse_hf_config(path); });
  EXPECT_NE(msg.find(path + ":4:26: num_key_value_heads: must divide num_attention_heads (32), found 6"),
            std::string::npos)
      << msg;
}

TEST(HfConfig, MissingFileAndSyntaxErrorNameTheFile) {
  EXPECT_NE(error_of([] { load_model("/nonexistent/config.json"); }).find("/nonexistent/config.json"),
            std::string::npos);
  const std::string path = write_temp("broken.json", "{\n  \"hidden_size\": [1, 2\n}\n");
  EXPECT_NE(error_of([&] { parse_hf_config(path); }).find(path + ":"), std::string::npos);
}

constexpr const char* kMinimalYaml =
    "num_layers: 2\n"
    "hidden_size: 64\n"
    "num_attention_heads: 4\n"
    "intermediate_size: 128\n"
    "vocab_size: 100\n"
    "max_position_embeddings: 256\n";

TEST(ModelYaml, MinimalFileGetsDefaults) {
  const ModelSpec m = parse_yaml_text(kMinimalYaml, "dir/tiny.yaml");
  EXPECT_EQ(m.name, "tiny");
  EXPECT_EQ(m.num_kv_heads, 4);
  EXPECT_EQ(m.head_dim, 16);
  EXPECT_EQ(m.dtype, DType::kBf16);
  EXPECT_TRUE(m.layer_attention.empty());
  EXPECT_FALSE(m.is_moe());
}

TEST(ModelYaml, UnknownKeyNamesPlaceAndSuggests) {
  const std::string msg = error_of([] { parse_yaml_text(std::string(kMinimalYaml) + "qkv_bais: true\n"); });
  EXPECT_EQ(msg, "bad.yaml:7:1: qkv_bais: unknown key (did you mean 'qkv_bias'?)");
}

TEST(ModelYaml, WrongTypeNamesPlaceAndKey) {
  const std::string text =
      "num_layers: many\n" + std::string(kMinimalYaml).substr(std::string("num_layers: 2\n").size());
  EXPECT_EQ(error_of([&] { parse_yaml_text(text); }),
            "bad.yaml:1:13: num_layers: expected an integer in [1 .. 4096], found 'many'");
  EXPECT_EQ(error_of([] { parse_yaml_text(std::string(kMinimalYaml) + "dtype: bf61\n"); }),
            "bad.yaml:7:8: dtype: expected one of fp32, fp16, bf16, fp8, int8, int4, mxfp4, int2, found 'bf61' (did "
            "you mean 'bf16'?)");
}

TEST(ModelYaml, InconsistentShapesNameTheKey) {
  EXPECT_EQ(error_of([] { parse_yaml_text(std::string(kMinimalYaml) + "num_kv_heads: 3\n"); }),
            "bad.yaml:7:15: num_kv_heads: must divide num_attention_heads (4), found 3");
  EXPECT_EQ(error_of([] {
              parse_yaml_text(std::string(kMinimalYaml) +
                              "layer_attention: [full, sliding, full]\n"
                              "sliding_window: 8\n");
            }),
            "bad.yaml:7:18: layer_attention: has 3 entries but num_layers is 2");
  EXPECT_EQ(error_of([] { parse_yaml_text(std::string(kMinimalYaml) + "layer_attention: [full, slidin]\n"); }),
            "bad.yaml:7:25: layer_attention[1]: expected one of full, sliding, state, none, found 'slidin' (did you "
            "mean 'sliding'?)");
  EXPECT_EQ(error_of([] { parse_yaml_text(std::string(kMinimalYaml) + "layer_attention: alternate-sliding-full\n"); }),
            "bad.yaml:1:1: sliding_window: 1 layers use sliding attention but no window is set");
  EXPECT_EQ(error_of([] { parse_yaml_text(std::string(kMinimalYaml) + "num_experts: 4\nexperts_per_token: 5\n"); }),
            "bad.yaml:8:20: experts_per_token: expected an integer in [1 .. num_experts = 4], found 5");
  EXPECT_EQ(error_of([] { parse_yaml_text(std::string(kMinimalYaml) + "head_dim: 8\nposition: learned\n"); }),
            "bad.yaml:7:11: head_dim: head_dim x num_attention_heads (8 x 4) must equal hidden_size (64) for this "
            "architecture");
}

TEST(ModelYaml, LayerPatternsAndLists) {
  const ModelSpec alt =
      parse_yaml_text(std::string(kMinimalYaml) + "sliding_window: 16\nlayer_attention: alternate-full-sliding\n");
  EXPECT_EQ(alt.layer_attention, (std::vector<AttentionKind>{AttentionKind::kFull, AttentionKind::kSliding}));
  const ModelSpec list =
      parse_yaml_text(std::string(kMinimalYaml) + "sliding_window: 16\nlayer_attention: [full, sliding]\n");
  EXPECT_EQ(list.layer_attention, alt.layer_attention);
  const ModelSpec window_only = parse_yaml_text(std::string(kMinimalYaml) + "sliding_window: 16\n");
  EXPECT_EQ(window_only.num_sliding_layers(), 2);
  const ModelSpec all_full = parse_yaml_text(std::string(kMinimalYaml) + "layer_attention: all-full\n");
  EXPECT_TRUE(all_full.layer_attention.empty());
}

}  // namespace
}  // namespace kvsim::models
