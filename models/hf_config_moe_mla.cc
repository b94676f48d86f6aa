// Mixture-of-experts and multi-head-latent-attention keys of Hugging Face config.json files, and the refusal of
// size-changing keys a family does not read. Key names and layer rules follow transformers' MixtralConfig,
// Qwen2MoeConfig / Qwen3MoeConfig (Qwen2MoeDecoderLayer), DeepseekV2Config / DeepseekV3Config (DeepseekV3DecoderLayer)
// and vLLM's model files of the same names.
#include <algorithm>
#include <set>
#include <vector>

#include <fmt/format.h>

#include "models/hf_config_internal.h"
#include "sim/core/error.h"
#include "sim/core/limits.h"

namespace kvsim::models::detail {

namespace {

// mlp_only_layers: a list of layer indices whose MLP is dense (Qwen2MoeConfig).
std::set<int64_t> read_layer_list(const yaml::Map& map, const std::string& key, int64_t layers) {
  std::set<int64_t> out;
  const YAML::Node node = map.raw(key);
  if (!node.IsDefined() || node.IsNull()) return out;
  if (!node.IsSequence()) map.fail_expected(key, "a list of layer indices");
  for (size_t i = 0; i < node.size(); ++i) {
    int64_t v = -1;
    if (node[i].IsScalar()) {
      try {
        v = std::stoll(node[i].Scalar());
      } catch (const std::exception&) {
        v = -1;
      }
    }
    if (v < 0 || v >= layers) {
      throw Error(yaml::place_of_node(node[i], *map.source()),
                  fmt::format("{}[{}]: expected a layer index in [0 .. {}], found {}", key, i, layers - 1,
                              yaml::describe(node[i])));
    }
    out.insert(v);
  }
  return out;
}

void read_qwen_moe(const yaml::Map& map, HfFamily family, ModelSpec& m, HfKeys& keys) {
  m.num_experts = map.get_int("num_experts", 0, 0, limits::kMaxExperts);
  keys["num_experts"] = "num_experts";
  if (m.num_experts == 0) return;
  m.experts_per_token = map.req_int("num_experts_per_tok", 1, limits::kMaxExperts);
  m.moe_intermediate_size = map.req_int("moe_intermediate_size", 1, limits::kMaxIntermediate);
  if (family == HfFamily::kQwen2Moe || family == HfFamily::kQwen3Next) {
    // Qwen2MoeSparseMoeBlock / Qwen3NextSparseMoeBlock: one shared expert of this width, scaled by a sigmoid gate Linear(hidden, 1).
    m.shared_expert_intermediate_size = map.req_int("shared_expert_intermediate_size", 0, limits::kMaxIntermediate);
    m.shared_expert_gate = m.shared_expert_intermediate_size > 0;
    keys["shared_expert_intermediate_size"] = "shared_expert_intermediate_size";
  }
  // Qwen2MoeDecoderLayer: layer i has experts iff i is not in mlp_only_layers and (i + 1) % decoder_sparse_step == 0.
  const int64_t step = map.get_int("decoder_sparse_step", 1, 1, limits::kMaxLayers);
  const std::set<int64_t> dense_only = read_layer_list(map, "mlp_only_layers", m.num_layers);
  for (int64_t i = 0; i < m.num_layers; ++i) {
    if (dense_only.count(i) > 0 || (i + 1) % step != 0) ++m.num_dense_layers;
  }
  keys["num_dense_layers"] = dense_only.empty() ? "decoder_sparse_step" : "mlp_only_layers";
}

// The routed experts as DeepSeek's and Nemotron-H's configs name them: n_routed_experts (0 or null: none; false
// then), and with experts num_experts_per_tok and moe_intermediate_size.
bool read_routed_experts(const yaml::Map& map, ModelSpec& m, HfKeys& keys) {
  m.num_experts = map.get_int("n_routed_experts", 0, 0, limits::kMaxExperts);
  keys["num_experts"] = "n_routed_experts";
  if (m.num_experts == 0) return false;
  m.experts_per_token = map.req_int("num_experts_per_tok", 1, limits::kMaxExperts);
  m.moe_intermediate_size = map.req_int("moe_intermediate_size", 1, limits::kMaxIntermediate);
  return true;
}

void read_deepseek_moe(const yaml::Map& map, ModelSpec& m, HfKeys& keys) {
  // DeepSeek's configuration_deepseek.py: n_routed_experts null = a dense model; n_shared_experts null = none.
  if (!read_routed_experts(map, m, keys)) return;
  // DeepseekV2MoE: the shared experts run as one DeepseekV2MLP of n_shared_experts x moe_intermediate_size.
  const int64_t shared = map.get_int("n_shared_experts", 0, 0, limits::kMaxExperts);
  m.shared_expert_intermediate_size = shared * m.moe_intermediate_size;
  keys["shared_expert_intermediate_size"] = "n_shared_experts";
  // DeepseekV2DecoderLayer: layer i has experts iff i >= first_k_dense_replace and i % moe_layer_freq == 0.
  const int64_t first_moe = map.get_int("first_k_dense_replace", 0, 0, limits::kMaxLayers);
  const int64_t freq = map.get_int("moe_layer_freq", 1, 1, limits::kMaxLayers);
  for (int64_t i = 0; i < m.num_layers; ++i) {
    if (i < first_moe || i % freq != 0) ++m.num_dense_layers;
  }
  keys["num_dense_layers"] = "first_k_dense_replace";
  // num_nextn_predict_layers: DeepSeek-V3's multi-token-prediction module (14B parameters, outside the 671B the
  // technical report counts, sec. 2.2 and 4.2) serves only as a speculative-decoding draft, which vLLM loads only
  // when asked for (--speculative-config method deepseek_mtp). It is read and left out: kvsim serves without it.
  map.get_int("num_nextn_predict_layers", 0, 0, limits::kMaxLayers);
  // topk_method noaux_tc adds e_score_correction_bias, n_routed_experts floats per MoE layer (15K parameters in
  // DeepSeek-V3): below the precision of these counts, not modelled.
}

// Jamba (JambaConfig): num_experts experts (1 = a dense MLP) in layers with i % expert_layer_period ==
// expert_layer_offset, each of width intermediate_size; the other layers have a dense MLP of that width.
void read_jamba_moe(const yaml::Map& map, ModelSpec& m, HfKeys& keys) {
  const int64_t experts = map.get_int("num_experts", 16, 1, limits::kMaxExperts);
  const int64_t top_k = map.get_int("num_experts_per_tok", 2, 1, limits::kMaxExperts);
  const int64_t period = map.get_int("expert_layer_period", 2, 1, limits::kMaxLayers);
  const int64_t offset = map.get_int("expert_layer_offset", 1, 0, period - 1);
  keys["num_experts"] = "num_experts";
  if (experts == 1) return;
  m.num_experts = experts;
  m.experts_per_token = top_k;
  for (int64_t i = 0; i < m.num_layers; ++i) {
    if (i % period != offset) ++m.num_dense_layers;
  }
  keys["num_dense_layers"] = "expert_layer_period, expert_layer_offset";
}

// Nemotron 3 (NemotronHConfig with 'E' blocks in hybrid_override_pattern): each 'E' block is a NemotronHMOE of
// n_routed_experts squared-ReLU experts of width moe_intermediate_size (up_proj, down_proj: the model's plain MLP),
// num_experts_per_tok of them per token, a router of hidden_size x n_routed_experts, and one shared expert, a
// NemotronHMLP of width moe_shared_expert_intermediate_size. Which blocks have experts comes with the pattern
// (hf_config_hybrid.cc). The router's e_score_correction_bias (n_routed_experts floats per MoE block) is below the
// precision of these counts, as for DeepSeek-V3.
void read_nemotron_moe(const yaml::Map& map, ModelSpec& m, HfKeys& keys) {
  if (!read_routed_experts(map, m, keys)) return;
  m.shared_expert_intermediate_size =
      map.get_int("moe_shared_expert_intermediate_size", 0, 0, limits::kMaxIntermediate);
  keys["shared_expert_intermediate_size"] = "moe_shared_expert_intermediate_size";
  // The shared expert is one MLP of moe_shared_expert_intermediate_size (Nemotron 3 Nano writes n_shared_experts 1);
  // another count would leave its meaning open.
  const int64_t shared = map.get_int("n_shared_experts", 1, 0, limits::kMaxExperts);
  if (shared != 1 && m.shared_expert_intermediate_size > 0) {
    map.fail("n_shared_experts", fmt::format("expected 1 (one shared-expert MLP of moe_shared_expert_intermediate_size "
                                             "{}), found {}",
                                             m.shared_expert_intermediate_size, shared));
  }
  // Nemotron 3 Super / Ultra's latent MoE runs the experts in a narrower space behind two extra projections.
  if (const YAML::Node latent = map.raw("moe_latent_size"); latent.IsDefined() && !latent.IsNull()) {
    map.fail("moe_latent_size", "the latent mixture of experts (experts behind fc1/fc2 latent projections) is not "
                                "modelled: kvsim reads Nemotron-H configs without it");
  }
}

struct SizeKey {
  const char* key;
  std::vector<HfFamily> readers;
  const char* neutral;  // a value that leaves the size alone besides 0 / false / [] / null, or ""
};

const std::vector<SizeKey>& size_keys() {
  using F = HfFamily;
  const std::vector<F> deepseek = {F::kDeepseekV2, F::kDeepseekV3};
  const std::vector<F> deepseek_nemotron = {F::kDeepseekV2, F::kDeepseekV3, F::kNemotronH};
  const std::vector<F> qwen_moe = {F::kQwen2Moe, F::kQwen3Moe, F::kQwen3Next};
  static const std::vector<SizeKey> keys = {
      {"num_local_experts", {F::kMixtral, F::kGptOss}, ""},
      {"num_experts", {F::kQwen2Moe, F::kQwen3Moe, F::kQwen3Next, F::kJamba}, ""},
      {"num_experts_per_tok",
       {F::kMixtral, F::kGptOss, F::kQwen2Moe, F::kQwen3Moe, F::kQwen3Next, F::kDeepseekV2, F::kDeepseekV3,
        F::kJamba, F::kNemotronH},
       ""},
      {"experts_per_token", {F::kGptOss}, ""},
      {"moe_intermediate_size",
       {F::kQwen2Moe, F::kQwen3Moe, F::kQwen3Next, F::kDeepseekV2, F::kDeepseekV3, F::kNemotronH},
       ""},
      {"moe_shared_expert_intermediate_size", {F::kNemotronH}, ""},
      {"shared_expert_intermediate_size", {F::kQwen2Moe, F::kQwen3Next}, ""},
      {"expert_layer_period", {F::kJamba}, "1"},
      {"attn_layer_period", {F::kJamba}, ""},
      {"mamba_d_state", {F::kJamba}, ""},
      {"mamba_expand", {F::kJamba}, ""},
      {"hybrid_override_pattern", {F::kNemotronH}, ""},
      {"mamba_num_heads", {F::kNemotronH}, ""},
      {"ssm_state_size", {F::kNemotronH}, ""},
      {"linear_num_key_heads", {F::kQwen3Next}, ""},
      {"linear_num_value_heads", {F::kQwen3Next}, ""},
      {"full_attention_interval", {F::kQwen3Next}, ""},
      {"sliding_window_pattern", {F::kGemma3}, "1"},
      {"decoder_sparse_step", qwen_moe, "1"},
      {"mlp_only_layers", qwen_moe, ""},
      {"n_routed_experts", deepseek_nemotron, ""},
      {"n_shared_experts", deepseek_nemotron, ""},
      {"first_k_dense_replace", deepseek, ""},
      {"moe_layer_freq", deepseek, "1"},
      {"num_nextn_predict_layers", deepseek, ""},
      {"kv_lora_rank", deepseek, ""},
      {"q_lora_rank", deepseek, ""},
      {"qk_rope_head_dim", deepseek, ""},
      {"qk_nope_head_dim", deepseek, ""},
      {"v_head_dim", deepseek, ""},
  };
  return keys;
}

bool leaves_size_alone(const YAML::Node& node, const char* neutral) {
  if (!node.IsDefined() || node.IsNull()) return true;
  if (node.IsSequence() || node.IsMap()) return node.size() == 0;
  const std::string& s = node.Scalar();
  return s == "0" || s == "false" || (neutral[0] != '\0' && s == neutral);
}

}  // namespace

const char* family_label(HfFamily f) {
  switch (f) {
    case HfFamily::kLlama: return "Llama/Mistral";
    case HfFamily::kMixtral: return "Mixtral";
    case HfFamily::kQwen2: return "Qwen2";
    case HfFamily::kQwen2Moe: return "Qwen2-MoE";
    case HfFamily::kQwen3: return "Qwen3";
    case HfFamily::kQwen3Moe: return "Qwen3-MoE";
    case HfFamily::kOpt: return "OPT";
    case HfFamily::kGptOss: return "gpt-oss";
    case HfFamily::kDeepseekV2: return "DeepSeek-V2";
    case HfFamily::kDeepseekV3: return "DeepSeek-V3";
    case HfFamily::kGemma2: return "Gemma-2";
    case HfFamily::kGemma3: return "Gemma-3";
    case HfFamily::kJamba: return "Jamba";
    case HfFamily::kNemotronH: return "Nemotron-H";
    case HfFamily::kQwen3Next: return "Qwen3-Next";
  }
  return "?";
}

bool is_qwen(HfFamily f) {
  return f == HfFamily::kQwen2 || f == HfFamily::kQwen2Moe || f == HfFamily::kQwen3 || f == HfFamily::kQwen3Moe;
}

void read_hf_moe(const yaml::Map& map, HfFamily family, ModelSpec& m, HfKeys& keys) {
  switch (family) {
    case HfFamily::kMixtral:
    case HfFamily::kGptOss:
      // MixtralSparseMoeBlock / GptOssMLP: every layer has experts of width intermediate_size, no shared expert.
      m.num_experts = map.req_int("num_local_experts", 1, limits::kMaxExperts);
      keys["num_experts"] = "num_local_experts";
      // GptOssConfig writes experts_per_token beside num_experts_per_tok; either gives top-k.
      if (family == HfFamily::kGptOss && !map.has("num_experts_per_tok")) {
        m.experts_per_token = map.req_int("experts_per_token", 1, limits::kMaxExperts);
        keys["experts_per_token"] = "experts_per_token";
      } else {
        m.experts_per_token = map.req_int("num_experts_per_tok", 1, limits::kMaxExperts);
        if (family == HfFamily::kGptOss) map.get_int("experts_per_token", 1, 1, limits::kMaxExperts);
      }
      return;
    case HfFamily::kQwen2Moe:
    case HfFamily::kQwen3Moe:
    case HfFamily::kQwen3Next:
      read_qwen_moe(map, family, m, keys);
      return;
    case HfFamily::kJamba:
      read_jamba_moe(map, m, keys);
      return;
    case HfFamily::kDeepseekV2:
    case HfFamily::kDeepseekV3:
      read_deepseek_moe(map, m, keys);
      return;
    case HfFamily::kLlama:
    case HfFamily::kQwen2:
    case HfFamily::kQwen3:
    case HfFamily::kOpt:
    case HfFamily::kGemma2:
    case HfFamily::kGemma3:
      return;
    case HfFamily::kNemotronH:
      read_nemotron_moe(map, m, keys);
      return;
  }
}

void read_hf_mla(const yaml::Map& map, ModelSpec& m, HfKeys& keys) {
  // DeepSeek-V2 (arXiv:2405.04434, sec. 2.1): keys and values come from a kv_lora_rank latent; the decoupled rotary
  // key (qk_rope_head_dim) is shared by all heads. Both are what the KV cache holds.
  m.kv_lora_rank = map.req_int("kv_lora_rank", 1, limits::kMaxHidden);
  m.qk_rope_head_dim = map.req_int("qk_rope_head_dim", 1, limits::kMaxHidden);
  m.qk_nope_head_dim = map.req_int("qk_nope_head_dim", 1, limits::kMaxHidden);
  m.v_head_dim = map.req_int("v_head_dim", 1, limits::kMaxHidden);
  m.q_lora_rank = map.get_int("q_lora_rank", 0, 0, limits::kMaxHidden);  // null: q_proj straight from the hidden state
  m.head_dim = m.qk_nope_head_dim + m.qk_rope_head_dim;
  // num_key_value_heads (= num_attention_heads in DeepSeek's configs) has no cache meaning under MLA: every head's
  // keys and values are decompressed from the one latent.
  map.get_int("num_key_value_heads", 0, 0, limits::kMaxHeads);
  m.num_kv_heads = m.num_attention_heads;
  keys["head_dim"] = "qk_nope_head_dim + qk_rope_head_dim";
}

void refuse_unread_size_keys(const yaml::Map& map, HfFamily family, const std::string& family_name) {
  for (const SizeKey& k : size_keys()) {
    if (std::find(k.readers.begin(), k.readers.end(), family) != k.readers.end()) continue;
    if (leaves_size_alone(map.raw(k.key), k.neutral)) continue;
    std::vector<std::string> readers;
    for (HfFamily r : k.readers) readers.emplace_back(family_label(r));
    map.fail(k.key, fmt::format("changes the model's size, but kvsim does not read it for {} configs (it does for "
                                "the architectures that define it: {})",
                                family_name, join(readers)));
  }
}

}  // namespace kvsim::models::detail
