// kvsim model-info CONFIG.json|CATALOG_NAME: what kvsim makes of a model (issue 18): parameter counts (total and
// active per token), weight bytes per storage dtype, KV bytes per token (MLA's compressed latent) per layer type (full
// attention, sliding window, state per sequence of hybrid models), layer counts by kind, and the input key each number
// was read from.
#include <algorithm>
#include <map>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "apps/commands.h"
#include "models/model_loader.h"
#include "models/model_spec.h"
#include "models/state_space.h"
#include "sim/core/dtype.h"

namespace kvsim::app {

namespace {

constexpr double kGiB = 1024.0 * 1024.0 * 1024.0;

double billions(uint64_t params) { return static_cast<double>(params) / 1e9; }

// Storage formats a model's weights are reported in: its checkpoint dtype, its quantised format if any, and the
// common serving formats (bf16, fp8 as vLLM's Fp8Config stores linear layers).
std::vector<DType> weight_dtypes(const models::ModelSpec& m) {
  std::vector<DType> out;
  for (DType t : {m.dtype, m.has_weight_dtype ? m.weight_dtype : m.dtype, DType::kBf16, DType::kFp8}) {
    if (std::find(out.begin(), out.end(), t) == out.end()) out.push_back(t);
  }
  return out;
}

// The spec fields reported, with the input key each came from.
const std::vector<std::string> kFields = {"num_layers",
                                          "hidden_size",
                                          "num_attention_heads",
                                          "num_kv_heads",
                                          "head_dim",
                                          "intermediate_size",
                                          "vocab_size",
                                          "num_experts",
                                          "experts_per_token",
                                          "moe_intermediate_size",
                                          "shared_expert_intermediate_size",
                                          "num_dense_layers",
                                          "kv_lora_rank",
                                          "q_lora_rank",
                                          "qk_rope_head_dim",
                                          "qk_nope_head_dim",
                                          "v_head_dim",
                                          "layer_attention"};

const char* mixer_name(models::StateMixerKind k) {
  switch (k) {
    case models::StateMixerKind::kMamba1: return "mamba1";
    case models::StateMixerKind::kMamba2: return "mamba2";
    case models::StateMixerKind::kGatedDeltaNet: return "gated_delta_net";
    case models::StateMixerKind::kNone: break;
  }
  return "none";
}

// One row per layer type that holds cache: bytes per token (attention) or per sequence (state), and its source.
struct LayerTypeRow {
  std::string type;  // "full", "sliding(4096)", "state(mamba1)"
  int64_t layers = 0;
  double bytes_per_token = 0;     // attention layers, all of this type
  double bytes_per_sequence = 0;  // state layers (and a sliding type's most per sequence), all of this type
  std::string from;
};

std::vector<LayerTypeRow> layer_type_rows(const models::ModelSpec& m, const std::map<std::string, std::string>& keys,
                                          DType kv_dtype) {
  auto key_of = [&](const std::string& field, const std::string& def) {
    const auto it = keys.find(field);
    return it == keys.end() ? def : it->second;
  };
  const double per_layer = models::kv_bytes_per_token_layer(m, kv_dtype);
  const std::string kv_from = m.is_mla() ? "kv_lora_rank + qk_rope_head_dim"
                                         : fmt::format("2 x {} x {}", key_of("num_kv_heads", "num_kv_heads"),
                                                       key_of("head_dim", "head_dim"));
  std::vector<LayerTypeRow> rows;
  if (m.num_full_layers() > 0) {
    const double t = per_layer * static_cast<double>(m.num_full_layers());
    rows.push_back({"full", m.num_full_layers(), t, 0, fmt::format("{}; layers: {}", kv_from,
                                                                   key_of("layer_attention", "num_layers"))});
  }
  if (m.num_sliding_layers() > 0) {
    const double t = per_layer * static_cast<double>(m.num_sliding_layers());
    rows.push_back({fmt::format("sliding({})", m.sliding_window), m.num_sliding_layers(), t,
                    t * static_cast<double>(m.sliding_window),
                    fmt::format("{}; window: sliding_window; layers: {}", kv_from,
                                key_of("layer_attention", "layer_attention"))});
  }
  if (m.num_state_layers() > 0) {
    const models::StateElements e = models::state_elements_per_layer(m);
    rows.push_back({fmt::format("state({})", mixer_name(m.state_mixer.kind)), m.num_state_layers(), 0,
                    models::state_bytes_per_sequence(m, m.dtype),
                    fmt::format("conv {:.0f} + ssm {:.0f} elements per layer (vLLM MambaStateShapeCalculator) from {}; "
                                "layers: {}",
                                e.conv, e.ssm, key_of("state_mixer", "state_mixer"),
                                key_of("layer_attention", "layer_attention"))});
  }
  return rows;
}

int64_t field_value(const models::ModelSpec& m, const std::string& f) {
  if (f == "num_layers") return m.num_layers;
  if (f == "hidden_size") return m.hidden_size;
  if (f == "num_attention_heads") return m.num_attention_heads;
  if (f == "num_kv_heads") return m.num_kv_heads;
  if (f == "head_dim") return m.head_dim;
  if (f == "intermediate_size") return m.intermediate_size;
  if (f == "vocab_size") return m.vocab_size;
  if (f == "num_experts") return m.num_experts;
  if (f == "experts_per_token") return m.experts_per_token;
  if (f == "moe_intermediate_size") return m.expert_intermediate_size() * (m.is_moe() ? 1 : 0);
  if (f == "shared_expert_intermediate_size") return m.shared_expert_intermediate_size;
  if (f == "num_dense_layers") return m.num_dense_layers;
  if (f == "kv_lora_rank") return m.kv_lora_rank;
  if (f == "q_lora_rank") return m.q_lora_rank;
  if (f == "qk_rope_head_dim") return m.qk_rope_head_dim;
  if (f == "qk_nope_head_dim") return m.qk_nope_head_dim;
  if (f == "v_head_dim") return m.v_head_dim;
  return m.num_sliding_layers();  // layer_attention
}

}  // namespace

int cmd_model_info(const ModelInfoArgs& args, std::ostream& out) {
  std::map<std::string, std::string> keys;
  const bool hf = args.model.ends_with(".json");
  const models::ModelSpec m = hf ? models::parse_hf_config(args.model, &keys) : models::load_model(args.model);
  const models::ParamCounts p = models::parameter_counts(m);
  const DType kv_dtype = m.dtype;
  const double kv_layer = models::kv_bytes_per_token_layer(m, kv_dtype);
  const double kv_total = models::kv_bytes_per_token(m, kv_dtype);
  auto key_of = [&](const std::string& field) {
    const auto it = keys.find(field);
    return it == keys.end() ? field : it->second;
  };

  nlohmann::ordered_json j;
  j["name"] = m.name;
  j["architecture"] = m.architecture;
  j["source"] = m.source;
  j["params"] = {{"total", p.total()},
                 {"active_per_token", p.active(m)},
                 {"active_with_embedding", p.active_with_embedding(m)},
                 {"embedding", p.embedding},
                 {"lm_head", p.lm_head},
                 {"attention", p.attention},
                 {"mlp_dense", p.mlp_dense},
                 {"experts", p.experts},
                 {"shared_experts", p.shared_experts},
                 {"router", p.router},
                 {"norms", p.norms},
                 {"state_mixers", p.state_mixers}};
  nlohmann::ordered_json weights = nlohmann::ordered_json::object();
  for (DType t : weight_dtypes(m)) weights[std::string(dtype_name(t))] = models::weight_bytes_per_gpu(m, t);
  j["weight_bytes"] = weights;
  j["kv"] = {{"dtype", std::string(dtype_name(kv_dtype))},
             {"mla", m.is_mla()},
             {"bytes_per_token_layer", kv_layer},
             {"bytes_per_token", kv_total}};
  const std::vector<LayerTypeRow> rows = layer_type_rows(m, keys, kv_dtype);
  nlohmann::ordered_json types = nlohmann::ordered_json::array();
  for (const LayerTypeRow& r : rows) {
    types.push_back({{"type", r.type},
                     {"layers", r.layers},
                     {"bytes_per_token", r.bytes_per_token},
                     {"max_bytes_per_sequence", r.bytes_per_sequence},
                     {"from", r.from}});
  }
  j["kv"]["layer_types"] = types;
  j["layers"] = {{"total", m.num_layers},
                 {"dense_mlp", m.num_dense_mlp_layers()},
                 {"moe", m.num_moe_layers()},
                 {"sliding", m.num_sliding_layers()},
                 {"full_attention", m.num_full_layers()},
                 {"state", m.num_state_layers()}};
  nlohmann::ordered_json from = nlohmann::ordered_json::object();
  for (const std::string& f : kFields) from[f] = {{"value", field_value(m, f)}, {"key", key_of(f)}};
  j["read_from"] = from;

  if (args.format == "json") {
    out << j.dump(2) << "\n";
    return 0;
  }
  if (args.format == "yaml") {
    // A catalog entry (models/catalog/*.yaml format) that loads back to this spec.
    out << models::model_spec_yaml(m);
    return 0;
  }
  out << fmt::format("{} ({})\n", m.name, m.architecture.empty() ? "no architecture named" : m.architecture);
  out << fmt::format("parameters        total {:.3f} B, active per token {:.3f} B ({:.3f} B with the embedding)\n",
                     billions(p.total()), billions(p.active(m)), billions(p.active_with_embedding(m)));
  out << fmt::format(
      "  embedding {:.3f} B, lm_head {:.3f} B, attention {:.3f} B, dense MLP {:.3f} B, experts {:.3f} B, "
      "shared experts {:.3f} B, router {:.4f} B, norms {:.4f} B{}\n",
      billions(p.embedding), billions(p.lm_head), billions(p.attention), billions(p.mlp_dense), billions(p.experts),
      billions(p.shared_experts), billions(p.router), billions(p.norms),
      p.state_mixers > 0 ? fmt::format(", state mixers {:.3f} B", billions(p.state_mixers)) : std::string());
  for (DType t : weight_dtypes(m)) {
    out << fmt::format("weights {:<9} {:.2f} GiB\n", dtype_name(t), models::weight_bytes_per_gpu(m, t) / kGiB);
  }
  out << fmt::format("KV per token      {:.0f} bytes per layer, {:.0f} bytes over {} layers ({}{})\n", kv_layer,
                     kv_total, m.num_attention_layers(), dtype_name(kv_dtype),
                     m.is_mla() ? ", MLA latent: kv_lora_rank + qk_rope_head_dim" : "");
  if (m.num_sliding_layers() > 0 || m.num_state_layers() > 0) {
    for (const LayerTypeRow& r : rows) {
      const std::string amount =
          r.bytes_per_token > 0
              ? fmt::format("{:.0f} bytes per token{}", r.bytes_per_token,
                            r.bytes_per_sequence > 0 ? fmt::format(", at most {:.0f} per sequence", r.bytes_per_sequence)
                                                     : std::string(" of the whole context"))
              : fmt::format("{:.0f} bytes per sequence, whatever its length", r.bytes_per_sequence);
      out << fmt::format("  {:<22} {:>3} layers: {}  <- {}\n", r.type, r.layers, amount, r.from);
    }
  }
  out << fmt::format("layers            {} dense MLP, {} MoE, {} sliding-window, {} full attention{}\n",
                     m.num_dense_mlp_layers(), m.num_moe_layers(), m.num_sliding_layers(), m.num_full_layers(),
                     m.num_state_layers() > 0 ? fmt::format(", {} state ({})", m.num_state_layers(),
                                                            mixer_name(m.state_mixer.kind))
                                              : std::string());
  out << "read from\n";
  for (const std::string& f : kFields) {
    const int64_t v = field_value(m, f);
    if (v == 0 && f != "num_experts") continue;
    out << fmt::format("  {:<32} {:>8}  <- {}\n", f, v, key_of(f));
  }
  return 0;
}

}  // namespace kvsim::app
