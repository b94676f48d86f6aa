// Catalog-format YAML of hybrid and other non-plain models: a spec imported from a Hugging Face config.json, written as
// catalog YAML (model_spec_yaml) and read back (parse_model_yaml), is the same spec with the same weight, KV and state
// bytes; a hand-written catalog entry reads as the config it describes; bad values and keys name their place.
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "tests/test_support.h"

#include "models/model_loader.h"
#include "models/model_spec.h"
#include "models/state_space.h"
#include "sim/core/error.h"

namespace kvsim::models {
namespace {

namespace fs = std::filesystem;
using kvsim::testing::error_of;

std::string fixture(const std::string& name) {
  return std::string(KVSIM_TEST_SOURCE_DIR) + "/tests/models/fixtures/" + name + ".config.json";
}

ModelSpec parse_yaml_text(const std::string& text, const std::string& file = "bad.yaml") {
  auto source = std::make_shared<yaml::Source>();
  source->file = file;
  return parse_model_yaml(yaml::load_string(text, file), source);
}

// Every ModelSpec field, the state mixer's included.
void expect_same_spec(const ModelSpec& a, const ModelSpec& b, const std::string& what) {
  SCOPED_TRACE(what);
  EXPECT_EQ(a.name, b.name);
  EXPECT_EQ(a.source, b.source);
  EXPECT_EQ(a.architecture, b.architecture);
  const std::pair<int64_t, int64_t> sizes[] = {
      {a.num_layers, b.num_layers},
      {a.hidden_size, b.hidden_size},
      {a.num_attention_heads, b.num_attention_heads},
      {a.num_kv_heads, b.num_kv_heads},
      {a.head_dim, b.head_dim},
      {a.intermediate_size, b.intermediate_size},
      {a.vocab_size, b.vocab_size},
      {a.max_position_embeddings, b.max_position_embeddings},
      {a.num_experts, b.num_experts},
      {a.experts_per_token, b.experts_per_token},
      {a.moe_intermediate_size, b.moe_intermediate_size},
      {a.shared_expert_intermediate_size, b.shared_expert_intermediate_size},
      {a.num_dense_layers, b.num_dense_layers},
      {a.kv_lora_rank, b.kv_lora_rank},
      {a.q_lora_rank, b.q_lora_rank},
      {a.qk_rope_head_dim, b.qk_rope_head_dim},
      {a.qk_nope_head_dim, b.qk_nope_head_dim},
      {a.v_head_dim, b.v_head_dim},
      {a.sliding_window, b.sliding_window},
      {a.num_mlp_free_layers, b.num_mlp_free_layers},
      {a.norms_per_layer, b.norms_per_layer},
  };
  for (size_t i = 0; i < std::size(sizes); ++i) EXPECT_EQ(sizes[i].first, sizes[i].second) << "size #" << i;
  EXPECT_EQ(a.mlp, b.mlp);
  EXPECT_EQ(a.norm, b.norm);
  EXPECT_EQ(a.position, b.position);
  const std::pair<bool, bool> flags[] = {
      {a.qkv_bias, b.qkv_bias},
      {a.tie_word_embeddings, b.tie_word_embeddings},
      {a.attention_out_bias, b.attention_out_bias},
      {a.mlp_bias, b.mlp_bias},
      {a.attention_sinks, b.attention_sinks},
      {a.shared_expert_gate, b.shared_expert_gate},
      {a.qk_norm, b.qk_norm},
      {a.attention_output_gate, b.attention_output_gate},
      {a.has_expert_dtype, b.has_expert_dtype},
      {a.has_weight_dtype, b.has_weight_dtype},
  };
  for (size_t i = 0; i < std::size(flags); ++i) EXPECT_EQ(flags[i].first, flags[i].second) << "flag #" << i;
  EXPECT_EQ(a.layer_attention, b.layer_attention);
  EXPECT_EQ(a.dtype, b.dtype);
  if (a.has_expert_dtype) {
    EXPECT_EQ(a.expert_dtype, b.expert_dtype);
  }
  if (a.has_weight_dtype) {
    EXPECT_EQ(a.weight_dtype, b.weight_dtype);
  }
  const StateMixer &s = a.state_mixer, &t = b.state_mixer;
  EXPECT_EQ(s.kind, t.kind);
  const std::pair<int64_t, int64_t> mixer[] = {{s.inner_size, t.inner_size},   {s.state_size, t.state_size},
                                               {s.conv_kernel, t.conv_kernel}, {s.dt_rank, t.dt_rank},
                                               {s.n_groups, t.n_groups},       {s.num_heads, t.num_heads},
                                               {s.head_dim, t.head_dim},       {s.num_k_heads, t.num_k_heads}};
  for (size_t i = 0; i < std::size(mixer); ++i) EXPECT_EQ(mixer[i].first, mixer[i].second) << "mixer size #" << i;
  EXPECT_EQ(s.conv_bias, t.conv_bias);
  EXPECT_EQ(s.proj_bias, t.proj_bias);
  EXPECT_EQ(s.dt_norms, t.dt_norms);
}

// What the simulator takes from a spec: parameters, weight bytes per GPU, KV and state bytes per sequence.
void expect_same_bytes(const ModelSpec& a, const ModelSpec& b, const std::string& what) {
  SCOPED_TRACE(what);
  const ParamCounts p = parameter_counts(a), q = parameter_counts(b);
  EXPECT_EQ(p.total(), q.total());
  EXPECT_EQ(p.active(a), q.active(b));
  EXPECT_EQ(p.state_mixers, q.state_mixers);
  for (int tp : {1, 2, 8}) {
    for (DType w : {DType::kBf16, DType::kFp8}) {
      EXPECT_EQ(weight_bytes_per_gpu(a, w, tp), weight_bytes_per_gpu(b, w, tp)) << "tp " << tp;
      EXPECT_EQ(layer_weight_bytes_per_gpu(a, w, tp), layer_weight_bytes_per_gpu(b, w, tp)) << "tp " << tp;
    }
    EXPECT_EQ(state_bytes_per_sequence(a, DType::kBf16, tp), state_bytes_per_sequence(b, DType::kBf16, tp));
    for (int64_t tokens : {1, 4095, 4097, 131072}) {
      EXPECT_EQ(cache_bytes_for_sequence(a, tokens, DType::kFp8, DType::kBf16, tp),
                cache_bytes_for_sequence(b, tokens, DType::kFp8, DType::kBf16, tp))
          << tokens << " tokens, tp " << tp;
    }
  }
  EXPECT_EQ(linear_flops_per_token(a), linear_flops_per_token(b));
}

TEST(CatalogYaml, ImportedConfigsRoundTripToTheSameSpecAndBytes) {
  // Hybrid state-space (Jamba, Nemotron-H with and without MoE blocks, Qwen3-Next), sliding layouts (Gemma-2,
  // gpt-oss), MLA with shared experts (DeepSeek-V3), a quantised checkpoint (FP8 Llama).
  for (const char* name : {"jamba-v0.1", "nemotron-h-8b", "nemotron-3-nano-30b-a3b", "qwen3-next-80b-a3b",
                           "gemma-2-9b-it", "gpt-oss-20b", "gpt-oss-120b", "deepseek-v3", "llama-3.3-70b-fp8"}) {
    const ModelSpec imported = parse_hf_config(fixture(name));
    const std::string text = model_spec_yaml(imported);
    const ModelSpec back = parse_yaml_text(text, std::string(name) + ".yaml");
    expect_same_spec(imported, back, text);
    expect_same_bytes(imported, back, name);
    // Written again, it is the same text: nothing drifts on a second trip.
    EXPECT_EQ(model_spec_yaml(back), text) << name;
  }
}

TEST(CatalogYaml, WrittenFileLoadsByPathLikeACatalogEntry) {
  const ModelSpec imported = parse_hf_config(fixture("nemotron-3-nano-30b-a3b"));
  const fs::path dir = fs::path(::testing::TempDir()) / "kvsim_catalog_yaml";
  fs::create_directories(dir);
  const fs::path path = dir / "nemotron-3-nano.yaml";
  std::ofstream(path) << model_spec_yaml(imported);
  const ModelSpec loaded = load_model(path.string());
  expect_same_spec(imported, loaded, path.string());
  expect_same_bytes(imported, loaded, path.string());
  fs::remove_all(dir);
}

// Jamba-v0.1 as a user writes it: a flow list of layer kinds and the mixer's sizes, its defaults left out
// (conv_kernel 4 and conv_bias true, as JambaConfig's).
constexpr const char* kJambaYaml = R"(name: jamba-hand
architecture: JambaForCausalLM
num_layers: 32
hidden_size: 4096
num_attention_heads: 32
num_kv_heads: 8
intermediate_size: 14336
vocab_size: 65536
max_position_embeddings: 262144
num_experts: 16
experts_per_token: 2
num_dense_layers: 16
layer_attention: [state, state, state, state, full, state, state, state,
                  state, state, state, state, full, state, state, state,
                  state, state, state, state, full, state, state, state,
                  state, state, state, state, full, state, state, state]
state_mixer:
  kind: mamba1
  inner_size: 8192
  state_size: 16
  dt_rank: 256
  dt_norms: true
position: none
)";

TEST(CatalogYaml, HandWrittenJambaReadsAsItsConfig) {
  const ModelSpec hf = parse_hf_config(fixture("jamba-v0.1"));
  ModelSpec yaml = parse_yaml_text(kJambaYaml, "jamba-hand.yaml");
  yaml.name = hf.name;
  yaml.source = hf.source;
  expect_same_spec(hf, yaml, "jamba");
  expect_same_bytes(hf, yaml, "jamba");
}

// The Jamba entry with `replace` put in place of `find`.
std::string jamba_with(const std::string& find, const std::string& replace) {
  std::string text = kJambaYaml;
  const auto at = text.find(find);
  EXPECT_NE(at, std::string::npos) << find;
  return text.replace(at, find.size(), replace);
}

TEST(CatalogYaml, BadHybridValuesNamePlaceKeyExpectedAndFound) {
  // A layer kind typo (line 13 holds the first row of the list).
  EXPECT_EQ(error_of([] {
              parse_yaml_text(jamba_with("state, state, state, state, full", "state, stat, state, state, full"));
            }),
            "bad.yaml:13:26: layer_attention[1]: expected one of full, sliding, state, none, found 'stat' (did you "
            "mean 'state'?)");
  // A misspelt required size reads as missing; any other unknown key gets the nearest of the mixer's keys.
  EXPECT_EQ(error_of([] { parse_yaml_text(jamba_with("  state_size: 16", "  state_sise: 16")); }),
            "bad.yaml:18:3: state_mixer.state_size: required key is missing (expected an integer in [1 .. "
            "4194304])");
  EXPECT_EQ(error_of([] { parse_yaml_text(jamba_with("  dt_norms: true", "  dt_norms: true\n  dt_nroms: true")); }),
            "bad.yaml:23:3: state_mixer.dt_nroms: unknown key (did you mean 'dt_norms'?)");
  EXPECT_EQ(error_of([] { parse_yaml_text(jamba_with("kind: mamba1", "kind: mamba3")); }),
            "bad.yaml:18:9: state_mixer.kind: expected one of mamba1, mamba2, gated_delta_net, found 'mamba3' (did "
            "you mean 'mamba1'?)");
  // A key of another kind of mixer is named, not silently dropped.
  EXPECT_EQ(error_of([] { parse_yaml_text(jamba_with("  dt_norms: true", "  dt_norms: true\n  n_groups: 8")); }),
            "bad.yaml:23:13: state_mixer.n_groups: not a key of a mamba1 mixer (it has inner_size, state_size, "
            "conv_kernel, dt_rank, conv_bias, proj_bias, dt_norms)");
  EXPECT_EQ(error_of([] { parse_yaml_text(jamba_with("  inner_size: 8192", "  inner_size: wide")); }),
            "bad.yaml:19:15: state_mixer.inner_size: expected an integer in [1 .. 4194304], found 'wide'");
  const std::string jamba = kJambaYaml;
  EXPECT_EQ(error_of([&] { parse_yaml_text(jamba.substr(0, jamba.find("state_mixer:")) + "state_mixer: mamba1\n"); }),
            "bad.yaml:17:14: state_mixer: expected a mapping, found 'mamba1'");
  // State layers need a mixer; a mixer needs state layers.
  EXPECT_EQ(error_of([&] { parse_yaml_text(jamba.substr(0, jamba.find("state_mixer:"))); }),
            "bad.yaml:1:1: state_mixer: 28 state layers but no state mixer is set");
  const std::string all_full = jamba_with("layer_attention: [", "layer_attention: all-full\nx: [");
  EXPECT_EQ(
      error_of([&] {
        parse_yaml_text(all_full.substr(0, all_full.find("x: [")) + all_full.substr(all_full.find("state_mixer:")));
      }),
      "bad.yaml:15:3: state_mixer: set, but no layer is a state layer");
}

TEST(CatalogYaml, Mamba2SizesAndBlockCountsAreChecked) {
  const std::string nemotron = model_spec_yaml(parse_hf_config(fixture("nemotron-h-8b")));
  const auto with = [&](const std::string& find, const std::string& replace) {
    std::string text = nemotron;
    const auto at = text.find(find);
    EXPECT_NE(at, std::string::npos) << find << " in\n" << text;
    return text.replace(at, find.size(), replace);
  };
  // Mamba-2's inner width is heads x head_dim; a contradicting inner_size is named at its place.
  const std::string inner = error_of([&] { parse_yaml_text(with("inner_size: 8192", "inner_size: 4096")); });
  EXPECT_NE(inner.find("state_mixer.inner_size: must be num_heads x head_dim = 8192, found 4096"), std::string::npos)
      << inner;
  EXPECT_NE(inner.find("bad.yaml:"), std::string::npos) << inner;
  // Left out, it is derived.
  EXPECT_EQ(parse_yaml_text(with("  inner_size: 8192\n", "")).state_mixer.inner_size, 8192);
  // 24 MLP blocks and 28 blocks without an MLP fill the 52 layers; 29 without an MLP leave a block with nothing.
  const std::string none =
      error_of([&] { parse_yaml_text(with("num_mlp_free_layers: 28", "num_mlp_free_layers: 29")); });
  EXPECT_NE(none.find("num_mlp_free_layers: 29 layers without an MLP and 24 without a mixer"), std::string::npos)
      << none;
  const std::string norms = error_of([&] { parse_yaml_text(with("norms_per_layer: 1", "norms_per_layer: 0")); });
  EXPECT_NE(norms.find("norms_per_layer: expected an integer in [1 .. 4], found '0'"), std::string::npos) << norms;
}

}  // namespace
}  // namespace kvsim::models
