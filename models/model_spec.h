// An LLM architecture as the performance models see it: shapes of every layer, attention variant (MHA/GQA,
// sliding-window layers, state-space / linear-attention layers of hybrid models), MLP variant (gated SwiGLU, plain fc1/fc2, mixture of experts) and storage formats.
// A ModelSpec is a plain value, filled and validated once by the loader (catalog YAML or Hugging Face config.json).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "sim/core/dtype.h"

namespace kvsim::models {

enum class MlpKind { kGated, kPlain };  // gate_up + act + down (LLaMA SwiGLU) | fc1 + act + fc2 (OPT)
enum class NormKind { kRmsNorm, kLayerNorm };
// rotary (LLaMA) | learned absolute table (OPT) | none in attention (Jamba: positions come from its Mamba layers)
enum class PositionKind { kRope, kLearned, kNone };
// The token mixer of one layer: full attention (KV per token of the whole context), sliding-window attention (KV of
// at most the window), a state-space or linear-attention mixer (a fixed state per sequence, no KV: Mamba layers of
// Jamba / Nemotron-H, Gated DeltaNet layers of Qwen3-Next), or none (Nemotron-H's MLP-only layers).
enum class AttentionKind { kFull, kSliding, kState, kNone };

// The state-space / linear-attention mixer of a hybrid model's kState layers (models/state_space.h).
enum class StateMixerKind {
  kNone,
  kMamba1,         // Mamba (Gu & Dao, arXiv:2312.00752) as Jamba's JambaMambaMixer: in_proj, conv1d, x_proj, dt_proj
  kMamba2,         // Mamba-2 (Dao & Gu, arXiv:2405.21060) as NemotronHMamba2Mixer: in_proj, conv1d, gated norm
  kGatedDeltaNet,  // Gated DeltaNet (Yang et al., arXiv:2412.06464) as Qwen3NextGatedDeltaNet
};
struct StateMixer {
  StateMixerKind kind = StateMixerKind::kNone;
  int64_t inner_size = 0;   // Mamba: d_inner (mamba_expand x hidden_size, Mamba2: heads x head_dim); GDN: unused
  int64_t state_size = 0;   // Mamba: d_state (SSM state per channel or head dim); GDN: key head dim
  int64_t conv_kernel = 0;  // causal conv1d width
  int64_t dt_rank = 0;      // Mamba1: rank of the dt projection
  int64_t n_groups = 0;     // Mamba2: B/C groups
  int64_t num_heads = 0;    // Mamba2: heads; GDN: value heads
  int64_t head_dim = 0;     // Mamba2: head dim; GDN: value head dim
  int64_t num_k_heads = 0;  // GDN: key heads
  bool conv_bias = false;   // conv1d bias
  bool proj_bias = false;   // in_proj / out_proj biases
  bool dt_norms = false;    // Jamba: RMSNorms on dt (dt_rank), B and C (d_state each)
};

struct ModelSpec {
  std::string name;          // catalog name, or the config.json path
  std::string source;        // where the numbers come from (HF repo / paper), for reports
  std::string architecture;  // HF architectures[0], e.g. "LlamaForCausalLM"

  int64_t num_layers = 0;
  int64_t hidden_size = 0;
  int64_t num_attention_heads = 0;
  int64_t num_kv_heads = 0;       // == num_attention_heads for MHA
  int64_t head_dim = 0;           // hidden_size / heads unless the config says otherwise
  int64_t intermediate_size = 0;  // dense MLP width (and each expert's width when moe_intermediate_size is 0)
  int64_t vocab_size = 0;
  int64_t max_position_embeddings = 0;

  MlpKind mlp = MlpKind::kGated;
  NormKind norm = NormKind::kRmsNorm;
  PositionKind position = PositionKind::kRope;
  bool qkv_bias = false;
  bool tie_word_embeddings = false;
  // Further biases and per-head parameters where the architecture has them (OPT: every linear has a bias; gpt-oss:
  // attention_bias covers o_proj too, experts and router carry biases, and each head has a learned sink logit).
  bool attention_out_bias = false;  // bias on the attention output projection (o_proj / out_proj)
  bool mlp_bias = false;            // biases on the MLP linears (dense fc1/fc2, gate/up/down, experts, router)
  bool attention_sinks = false;     // one learned attention-sink logit per query head per layer (gpt-oss)

  // Mixture of experts: 0 experts = dense model.
  int64_t num_experts = 0;            // routed experts per MoE layer
  int64_t experts_per_token = 0;      // routed experts each token runs (top-k)
  int64_t moe_intermediate_size = 0;  // one routed expert's width; 0 = intermediate_size (Mixtral, gpt-oss)
  // Always-active shared expert(s) of every MoE layer, as one gated MLP of this width (DeepSeek: n_shared_experts x
  // moe_intermediate_size; Qwen2-MoE: shared_expert_intermediate_size); 0 = none.
  int64_t shared_expert_intermediate_size = 0;
  bool shared_expert_gate = false;  // Qwen2-MoE: a hidden -> 1 sigmoid gate scales the shared expert's output
  // Layers of an MoE model without experts: a dense MLP (intermediate_size) rather than experts (DeepSeek
  // first_k_dense_replace, Qwen MoE mlp_only_layers / decoder_sparse_step), or no MLP at all (Nemotron-H's mixer
  // blocks, counted in num_mlp_free_layers); the others are MoE layers.
  int64_t num_dense_layers = 0;

  // Multi-head latent attention (DeepSeek-V2, arXiv:2405.04434 sec. 2.1): 0 kv_lora_rank = ordinary attention.
  // The KV cache holds the compressed latent plus the shared rotary key, kv_lora_rank + qk_rope_head_dim elements per
  // token per layer (vLLM's MLA backends cache exactly this); head_dim is then qk_nope_head_dim + qk_rope_head_dim.
  int64_t kv_lora_rank = 0;
  int64_t q_lora_rank = 0;  // 0 = q projected directly from the hidden state (DeepSeek-V2-Lite)
  int64_t qk_rope_head_dim = 0;
  int64_t qk_nope_head_dim = 0;
  int64_t v_head_dim = 0;
  bool qk_norm = false;  // per-head RMSNorm on q and k (Qwen3): head_dim weights each, per layer

  // Sliding-window attention: window size in tokens, and which mixer each layer has (empty = all full attention).
  int64_t sliding_window = 0;
  std::vector<AttentionKind> layer_attention;
  StateMixer state_mixer;  // the kState layers' mixer (kind kNone when there are none)
  // Layers whose block has no MLP (Nemotron-H: each block is a Mamba, an attention or an MLP block).
  int64_t num_mlp_free_layers = 0;
  int64_t norms_per_layer = 2;          // 2 pre-norms; Gemma-2/3: 4 (pre and post); Nemotron-H: 1 per block
  bool attention_output_gate = false;   // Qwen3-Next: q_proj also emits a sigmoid gate per head (2x its width)

  DType dtype = DType::kBf16;  // checkpoint dtype of weights and activations
  // Storage of expert weights where the checkpoint quantises them (gpt-oss: MXFP4); unset = dtype.
  bool has_expert_dtype = false;
  DType expert_dtype = DType::kBf16;
  // Storage of the linear layers' weights where the checkpoint quantises them (quantization_config of an FP8
  // checkpoint); a scenario's weight_dtype defaults to it; unset = dtype.
  bool has_weight_dtype = false;
  DType weight_dtype = DType::kBf16;

  bool is_moe() const { return num_experts > 0; }
  bool is_mla() const { return kv_lora_rank > 0; }
  int64_t expert_intermediate_size() const {
    return moe_intermediate_size > 0 ? moe_intermediate_size : intermediate_size;
  }
  int64_t num_moe_layers() const { return is_moe() ? num_layers - num_dense_layers : 0; }
  int64_t num_dense_mlp_layers() const { return num_layers - num_mlp_free_layers - num_moe_layers(); }
  // The value width of one attention head (v_head_dim under MLA).
  int64_t value_head_dim() const { return is_mla() ? v_head_dim : head_dim; }
  int64_t num_sliding_layers() const { return count_layers(AttentionKind::kSliding); }
  int64_t num_state_layers() const { return count_layers(AttentionKind::kState); }
  int64_t num_mixer_free_layers() const { return count_layers(AttentionKind::kNone); }
  // Layers that hold KV per token (full and sliding attention).
  int64_t num_attention_layers() const { return num_layers - num_state_layers() - num_mixer_free_layers(); }
  int64_t num_full_layers() const { return num_attention_layers() - num_sliding_layers(); }
  int64_t count_layers(AttentionKind kind) const;
};

// The first inconsistency of a spec: `field` is the ModelSpec member name ("num_kv_heads"), so a loader can map it to
// its own key and place; nullopt when the spec is valid.
struct SpecProblem {
  std::string field;
  std::string message;
};
std::optional<SpecProblem> find_spec_problem(const ModelSpec& m);
// Throws kvsim::Error ("<name>: <field>: <message>") when find_spec_problem reports one.
void validate_model_spec(const ModelSpec& m);

// --- derived quantities (pure functions of the spec) ---

// KV heads held by one GPU of a tensor-parallel group: heads split while tp <= kv_heads, replicated beyond
// (vLLM: each rank keeps max(1, kv_heads / tp) heads).
int64_t kv_heads_per_gpu(const ModelSpec& m, int tp);

// Integer KV formats quantise in groups of this many elements, each group carrying an fp16 scale and an fp16 zero
// point (KIVI, Liu et al., ICML 2024, sec. 3-4: keys grouped per channel, values per token, group size 32).
inline constexpr int64_t kKvQuantGroupSize = 32;

// Storage bits of one KV element including its share of group metadata: dtype_bits plus 32 bits (fp16 scale + fp16
// zero point) / kKvQuantGroupSize for int8, int4 and int2; the float formats carry none (fp8 uses a per-tensor
// scale), and mxfp4's dtype_bits already include its E8M0 block scale.
double kv_element_bits(DType kv_dtype);

// K and V bytes of one token in one layer on one GPU: 2 x kv_heads_per_gpu x head_dim x kv_element_bits / 8; under
// MLA the latent, (kv_lora_rank + qk_rope_head_dim) x kv_element_bits / 8, held whole by every tensor-parallel rank
// (vLLM's MLA backends replicate the latent cache across TP ranks: it has a single "head").
double kv_bytes_per_token_layer(const ModelSpec& m, DType kv_dtype, int tp = 1);

// K and V bytes of one token over all attention layers on one GPU (sliding layers counted as if uncapped; state
// layers hold no KV, see state_bytes_per_sequence in models/state_space.h).
double kv_bytes_per_token(const ModelSpec& m, DType kv_dtype, int tp = 1);

// KV bytes of a sequence of `tokens` on one GPU, sliding-window layers capped at the window (no block rounding, no
// state: models/state_space.h adds the state layers' fixed bytes).
double kv_bytes_for_sequence(const ModelSpec& m, int64_t tokens, DType kv_dtype, int tp = 1);

// Parameter counts.
struct ParamCounts {
  uint64_t embedding = 0;       // token (+ learned position) embeddings
  uint64_t lm_head = 0;         // 0 when tied to the embedding
  uint64_t attention = 0;       // all layers: q, k, v, o (+ biases)
  uint64_t mlp_dense = 0;       // all layers: dense MLP weights
  uint64_t experts = 0;         // all layers: routed expert weights
  uint64_t shared_experts = 0;  // all MoE layers: shared expert weights (+ Qwen2-MoE's shared-expert gate)
  uint64_t router = 0;          // all layers: MoE router
  uint64_t norms = 0;           // input/post-attention/final norms, MLA's lora norms, Qwen3's q/k norms
  uint64_t state_mixers = 0;    // all state layers: Mamba / Gated DeltaNet mixer weights (models/state_space.h)
  uint64_t total() const {
    return embedding + lm_head + attention + mlp_dense + experts + shared_experts + router + norms + state_mixers;
  }
  // Parameters touched per token, what decode reads at batch 1: routed experts scaled by experts_per_token /
  // num_experts, shared experts whole; the embedding tables are left out (a lookup reads one row), as in OpenAI's
  // gpt-oss model card, which counts 3.6B active of 20.9B.
  uint64_t active(const ModelSpec& m) const;
  // active() plus the embedding table: the convention of the Qwen3, Mixtral and DeepSeek publications ("activated
  // parameters" 3.3B of Qwen3-30B-A3B, 12.9B of Mixtral-8x7B, 37B of DeepSeek-V3 include the embedding).
  uint64_t active_with_embedding(const ModelSpec& m) const { return active(m) + embedding; }
};
ParamCounts parameter_counts(const ModelSpec& m);

// The storage of the weights a quantised checkpoint leaves unquantised (embeddings, lm_head, norms, biases, sinks,
// MoE router): `weight_dtype` itself when it has 16 bits or more, else the model's 16-bit dtype (bf16 for an fp32
// checkpoint). vLLM quantises only LinearBase layers and experts: Fp8Config.get_quant_method
// (vllm/model_executor/layers/quantization/fp8.py) leaves VocabParallelEmbedding / ParallelLMHead unquantised, and
// FP8 checkpoints list lm_head in quantization_config's ignore list.
DType unquantized_dtype(const ModelSpec& m, DType weight_dtype);

// Bytes of weights on one GPU under tensor parallelism `tp` (embeddings and lm_head split by vocabulary, layers
// split by heads / MLP width; norms replicated). `weight_dtype` overrides the checkpoint dtype of the linear layers'
// matrices; the rest is stored as unquantized_dtype; MXFP4 experts stay MXFP4 unless the override is narrower.
double weight_bytes_per_gpu(const ModelSpec& m, DType weight_dtype, int tp = 1);

// The part of weight_bytes_per_gpu that belongs to the decoder layers (all of them): everything but the embedding
// tables, the lm_head and the final norm. Divided by num_layers it is one layer's weights on one GPU (sliding-window
// layers hold the same weights as the others; an MoE model's dense layers are averaged in), what a layer-wise weight
// stream (FlexGen) moves.
double layer_weight_bytes_per_gpu(const ModelSpec& m, DType weight_dtype, int tp = 1);

// Forward FLOPs per token excluding attention's score/value products (2 x active parameters touched by a
// matrix multiply, lm_head included).
double linear_flops_per_token(const ModelSpec& m);

}  // namespace kvsim::models
