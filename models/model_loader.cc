#include "models/model_loader.h"

#include <algorithm>
#include <filesystem>

#include <fmt/format.h>

#include "sim/core/error.h"
#include "sim/core/limits.h"
#include "sim/core/paths.h"

namespace kvsim::models {

namespace fs = std::filesystem;

namespace {

// Compact forms of `layer_attention`; layer 0 is the first word of an alternating pattern.
const std::vector<std::string> kLayerPatterns = {"all-full", "all-sliding", "alternate-sliding-full",
                                                 "alternate-full-sliding"};

std::vector<AttentionKind> layer_pattern(const std::string& pattern, int64_t layers) {
  std::vector<AttentionKind> out(static_cast<size_t>(layers), AttentionKind::kFull);
  for (int64_t i = 0; i < layers; ++i) {
    const bool even = i % 2 == 0;
    const bool sliding = pattern == "all-sliding" || (pattern == "alternate-sliding-full" && even) ||
                         (pattern == "alternate-full-sliding" && !even);
    if (sliding) out[static_cast<size_t>(i)] = AttentionKind::kSliding;
  }
  return out;
}

std::vector<AttentionKind> read_layer_attention(const yaml::Map& map, int64_t layers, int64_t sliding_window) {
  const YAML::Node node = map.raw("layer_attention");
  if (!node.IsDefined() || node.IsNull()) {
    // A window without a per-layer list means every layer slides (Mistral 7B v0.1).
    return sliding_window > 0 ? layer_pattern("all-sliding", layers) : std::vector<AttentionKind>{};
  }
  if (node.IsScalar()) {
    const std::string& s = node.Scalar();
    if (std::find(kLayerPatterns.begin(), kLayerPatterns.end(), s) == kLayerPatterns.end()) {
      map.fail("layer_attention", fmt::format("expected one of {} or a list of 'full'/'sliding', found '{}'{}",
                                              join(kLayerPatterns), s, did_you_mean(s, kLayerPatterns)));
    }
    return layer_pattern(s, layers);
  }
  if (!node.IsSequence()) map.fail_expected("layer_attention", "a pattern name or a list of 'full'/'sliding'");
  std::vector<AttentionKind> out;
  for (size_t i = 0; i < node.size(); ++i) {
    const YAML::Node item = node[i];
    const std::string text = item.IsScalar() ? item.Scalar() : "";
    if (text != "full" && text != "sliding") {
      throw Error(yaml::place_of_node(item, *map.source()),
                  fmt::format("{}[{}]: expected 'full' or 'sliding', found {}", map.path_of("layer_attention"), i,
                              yaml::describe(item)));
    }
    out.push_back(text == "sliding" ? AttentionKind::kSliding : AttentionKind::kFull);
  }
  return out;
}

DType read_dtype(const yaml::Map& map, std::string_view key, DType def) {
  const auto text = map.opt_string(key);
  if (!text) return def;
  const auto t = parse_dtype(*text);
  if (!t) {
    map.fail(key, fmt::format("expected one of {}, found '{}'{}", join(dtype_names()), *text,
                              did_you_mean(*text, dtype_names())));
  }
  return *t;
}

}  // namespace

namespace detail {

void check_spec_at(const ModelSpec& spec, const yaml::Map& map, const std::map<std::string, std::string>& keys) {
  const auto problem = find_spec_problem(spec);
  if (!problem) return;
  const auto renamed = keys.find(problem->field);
  map.fail(renamed == keys.end() ? problem->field : renamed->second, problem->message);
}

}  // namespace detail

ModelSpec parse_model_yaml(const YAML::Node& node, std::shared_ptr<const yaml::Source> source) {
  const std::string stem = fs::path(source->file).stem().string();
  yaml::Map map(node, source);
  ModelSpec m;
  m.name = map.get_string("name", stem);
  m.source = map.get_string("source", "");
  m.architecture = map.get_string("architecture", "");

  m.num_layers = map.req_int("num_layers", 1, limits::kMaxLayers);
  m.hidden_size = map.req_int("hidden_size", 1, limits::kMaxHidden);
  m.num_attention_heads = map.req_int("num_attention_heads", 1, limits::kMaxHeads);
  m.num_kv_heads = map.get_int("num_kv_heads", m.num_attention_heads, 1, m.num_attention_heads);
  if (auto head_dim = map.opt_int("head_dim", 1, limits::kMaxHidden)) {
    m.head_dim = *head_dim;
  } else if (m.hidden_size % m.num_attention_heads != 0) {
    map.fail("head_dim", fmt::format("required: hidden_size {} is not a multiple of num_attention_heads {}",
                                     m.hidden_size, m.num_attention_heads));
  } else {
    m.head_dim = m.hidden_size / m.num_attention_heads;
  }
  m.intermediate_size = map.req_int("intermediate_size", 1, limits::kMaxIntermediate);
  m.vocab_size = map.req_int("vocab_size", 1, limits::kMaxVocab);
  m.max_position_embeddings = map.req_int("max_position_embeddings", 1, limits::kMaxPositions);

  m.mlp = map.get_choice("mlp", "gated", {"gated", "plain"}) == "plain" ? MlpKind::kPlain : MlpKind::kGated;
  m.norm = map.get_choice("norm", "rmsnorm", {"rmsnorm", "layernorm"}) == "layernorm" ? NormKind::kLayerNorm
                                                                                      : NormKind::kRmsNorm;
  m.position = map.get_choice("position", "rope", {"rope", "learned"}) == "learned" ? PositionKind::kLearned
                                                                                    : PositionKind::kRope;
  m.qkv_bias = map.get_bool("qkv_bias", false);
  m.attention_out_bias = map.get_bool("attention_out_bias", false);
  m.mlp_bias = map.get_bool("mlp_bias", false);
  m.attention_sinks = map.get_bool("attention_sinks", false);
  m.tie_word_embeddings = map.get_bool("tie_word_embeddings", false);

  m.num_experts = map.get_int("num_experts", 0, 0, limits::kMaxExperts);
  m.experts_per_token = map.get_int("experts_per_token", 0, 0, limits::kMaxExperts);
  m.moe_intermediate_size = map.get_int("moe_intermediate_size", 0, 0, limits::kMaxIntermediate);
  m.shared_expert_intermediate_size = map.get_int("shared_expert_intermediate_size", 0, 0, limits::kMaxIntermediate);
  m.num_dense_layers = map.get_int("num_dense_layers", 0, 0, limits::kMaxLayers);
  m.kv_lora_rank = map.get_int("kv_lora_rank", 0, 0, limits::kMaxHidden);
  m.q_lora_rank = map.get_int("q_lora_rank", 0, 0, limits::kMaxHidden);
  m.qk_rope_head_dim = map.get_int("qk_rope_head_dim", 0, 0, limits::kMaxHidden);
  m.qk_nope_head_dim = map.get_int("qk_nope_head_dim", 0, 0, limits::kMaxHidden);
  m.v_head_dim = map.get_int("v_head_dim", 0, 0, limits::kMaxHidden);
  m.qk_norm = map.get_bool("qk_norm", false);

  m.sliding_window = map.get_int("sliding_window", 0, 0, limits::kMaxPositions);
  m.layer_attention = read_layer_attention(map, m.num_layers, m.sliding_window);
  if (m.num_sliding_layers() == 0) m.layer_attention.clear();  // one representation of "all layers full"

  m.dtype = read_dtype(map, "dtype", DType::kBf16);
  if (map.has("expert_dtype")) {
    m.has_expert_dtype = true;
    m.expert_dtype = read_dtype(map, "expert_dtype", m.dtype);
  }
  map.finish();
  detail::check_spec_at(m, map);
  return m;
}

std::string model_catalog_dir() { return (fs::path(data_root()) / "models" / "catalog").string(); }

std::vector<std::string> model_catalog_names() { return catalog_names(model_catalog_dir()); }

ModelSpec load_model(const std::string& name_or_path) {
  const fs::path path(name_or_path);
  std::error_code ec;
  if (fs::is_directory(path, ec)) return parse_hf_config((path / "config.json").string());
  if (name_or_path.ends_with(".json")) return parse_hf_config(name_or_path);
  auto source = std::make_shared<yaml::Source>();
  source->file =
      resolve_catalog_entry(name_or_path, model_catalog_dir(), "model", "a path to a model .yaml or a config.json");
  return parse_model_yaml(yaml::load_file(source->file), source);
}

}  // namespace kvsim::models
