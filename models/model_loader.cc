#include "models/model_loader.h"

#include <algorithm>
#include <filesystem>
#include <optional>
#include <string_view>
#include <utility>

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

// Per-layer mixer names of `layer_attention` lists (ModelSpec AttentionKind).
const std::vector<std::pair<std::string, AttentionKind>> kLayerKinds = {{"full", AttentionKind::kFull},
                                                                        {"sliding", AttentionKind::kSliding},
                                                                        {"state", AttentionKind::kState},
                                                                        {"none", AttentionKind::kNone}};

std::vector<std::string> layer_kind_names() {
  std::vector<std::string> out;
  for (const auto& [name, kind] : kLayerKinds) out.push_back(name);
  return out;
}

std::vector<AttentionKind> read_layer_attention(const yaml::Map& map, int64_t layers, int64_t sliding_window) {
  const YAML::Node node = map.raw("layer_attention");
  if (!node.IsDefined() || node.IsNull()) {
    // A window without a per-layer list means every layer slides (Mistral 7B v0.1).
    return sliding_window > 0 ? layer_pattern("all-sliding", layers) : std::vector<AttentionKind>{};
  }
  const std::string list_of = fmt::format("a list of {}", join(layer_kind_names(), "/"));
  if (node.IsScalar()) {
    const std::string& s = node.Scalar();
    if (std::find(kLayerPatterns.begin(), kLayerPatterns.end(), s) == kLayerPatterns.end()) {
      map.fail("layer_attention",
               fmt::format("expected one of {} or {}, found '{}'{}", join(kLayerPatterns), list_of, s,
                           did_you_mean(s, kLayerPatterns)));
    }
    return layer_pattern(s, layers);
  }
  if (!node.IsSequence()) map.fail_expected("layer_attention", fmt::format("a pattern name or {}", list_of));
  std::vector<AttentionKind> out;
  for (size_t i = 0; i < node.size(); ++i) {
    const YAML::Node item = node[i];
    const std::string text = item.IsScalar() ? item.Scalar() : "";
    const auto hit =
        std::find_if(kLayerKinds.begin(), kLayerKinds.end(), [&](const auto& k) { return k.first == text; });
    if (hit == kLayerKinds.end()) {
      throw Error(yaml::place_of_node(item, *map.source()),
                  fmt::format("{}[{}]: expected one of {}, found {}{}", map.path_of("layer_attention"), i,
                              join(layer_kind_names()), yaml::describe(item), did_you_mean(text, layer_kind_names())));
    }
    out.push_back(hit->second);
  }
  return out;
}

// The mixer of `state` layers (models/state_space.h): its kind and the keys that kind has. A key another kind has
// is refused by name; other keys are unknown keys.
struct MixerKind {
  const char* name;
  StateMixerKind kind;
  std::vector<std::string> keys;
};

const std::vector<MixerKind>& mixer_kinds() {
  static const std::vector<MixerKind> kinds = {
      {"mamba1",
       StateMixerKind::kMamba1,
       {"inner_size", "state_size", "conv_kernel", "dt_rank", "conv_bias", "proj_bias", "dt_norms"}},
      {"mamba2",
       StateMixerKind::kMamba2,
       {"num_heads", "head_dim", "inner_size", "state_size", "conv_kernel", "n_groups", "conv_bias", "proj_bias"}},
      {"gated_delta_net",
       StateMixerKind::kGatedDeltaNet,
       {"num_k_heads", "num_heads", "state_size", "head_dim", "conv_kernel"}},
  };
  return kinds;
}

void read_state_mixer(const yaml::Map& map, StateMixer& s) {
  std::vector<std::string> names;
  for (const auto& k : mixer_kinds()) names.emplace_back(k.name);
  const auto text = map.opt_string("kind");
  if (!text) map.fail("kind", fmt::format("required: one of {}", join(names)));
  const auto hit =
      std::find_if(mixer_kinds().begin(), mixer_kinds().end(), [&](const MixerKind& k) { return *text == k.name; });
  if (hit == mixer_kinds().end()) {
    map.fail("kind", fmt::format("expected one of {}, found '{}'{}", join(names), *text, did_you_mean(*text, names)));
  }
  for (const auto& other : mixer_kinds()) {
    for (const std::string& key : other.keys) {
      if (std::find(hit->keys.begin(), hit->keys.end(), key) == hit->keys.end() && map.has(key)) {
        map.fail(key, fmt::format("not a key of a {} mixer (it has {})", hit->name, join(hit->keys)));
      }
    }
  }
  s.kind = hit->kind;
  const auto has = [&](const char* key) {
    return std::find(hit->keys.begin(), hit->keys.end(), key) != hit->keys.end();
  };
  const auto size = [&](const char* key) { return has(key) ? map.req_int(key, 1, limits::kMaxIntermediate) : 0; };
  s.num_heads = size("num_heads");
  s.head_dim = size("head_dim");
  s.num_k_heads = size("num_k_heads");
  s.state_size = size("state_size");
  s.dt_rank = size("dt_rank");
  s.n_groups = size("n_groups");
  s.conv_kernel = map.get_int("conv_kernel", 4, 2, 1024);  // the causal conv1d width of all three mixers
  // Mamba-2's inner width is its heads x head_dim (NemotronHMamba2Mixer); Mamba's is mamba_expand x hidden_size.
  if (s.kind == StateMixerKind::kMamba2) {
    s.inner_size = map.get_int("inner_size", s.num_heads * s.head_dim, 1, limits::kMaxIntermediate);
  } else if (has("inner_size")) {
    s.inner_size = map.req_int("inner_size", 1, limits::kMaxIntermediate);
  }
  if (has("conv_bias")) s.conv_bias = map.get_bool("conv_bias", true);  // JambaConfig / NemotronHConfig default
  if (has("proj_bias")) s.proj_bias = map.get_bool("proj_bias", false);
  if (has("dt_norms")) s.dt_norms = map.get_bool("dt_norms", false);
  map.finish();
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
  const std::string position = map.get_choice("position", "rope", {"rope", "learned", "none"});
  m.position = position == "learned" ? PositionKind::kLearned
               : position == "none"  ? PositionKind::kNone
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

  m.shared_expert_gate = map.get_bool("shared_expert_gate", false);
  m.sliding_window = map.get_int("sliding_window", 0, 0, limits::kMaxPositions);
  m.layer_attention = read_layer_attention(map, m.num_layers, m.sliding_window);
  // One representation of "all layers full" (a list of the wrong length is left for the check to name).
  if (static_cast<int64_t>(m.layer_attention.size()) == m.num_layers &&
      m.count_layers(AttentionKind::kFull) == m.num_layers) {
    m.layer_attention.clear();
  }
  std::optional<yaml::Map> mixer;
  if (map.has("state_mixer")) {
    mixer.emplace(map.child("state_mixer"));
    read_state_mixer(*mixer, m.state_mixer);
  } else {
    map.raw("state_mixer");  // null: no state mixer
  }
  m.num_mlp_free_layers = map.get_int("num_mlp_free_layers", 0, 0, limits::kMaxLayers);
  m.norms_per_layer = map.get_int("norms_per_layer", 2, 1, 4);
  m.attention_output_gate = map.get_bool("attention_output_gate", false);

  m.dtype = read_dtype(map, "dtype", DType::kBf16);
  if (map.has("expert_dtype")) {
    m.has_expert_dtype = true;
    m.expert_dtype = read_dtype(map, "expert_dtype", m.dtype);
  }
  if (map.has("weight_dtype")) {
    m.has_weight_dtype = true;
    m.weight_dtype = read_dtype(map, "weight_dtype", m.dtype);
  }
  map.finish();
  // A state mixer's own sizes are reported at their place inside state_mixer.
  const auto problem = find_spec_problem(m);
  if (problem && mixer && problem->field.starts_with("state_mixer.")) {
    mixer->fail(problem->field.substr(std::string_view("state_mixer.").size()), problem->message);
  }
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
