// Vidur's published operator profiles (Agrawal et al., MLSys 2024; github.com/microsoft/vidur, data/profiling/, MIT):
// per-layer operator times measured with CUDA events (mlp.csv: GEMMs, norms, rope, activation, residual add,
// embedding over num_tokens x tensor-parallel degree), attention times (attention.csv: FlashInfer prefill and paged
// decode over batch x context) and collective times (all_reduce.csv over message size x GPUs). Read into one
// OpSample per (row, operator) with the operator's shape (GEMM M x N x K, bytes moved, KV bytes and tokens read,
// attention FLOPs), from which the operator model is fitted (models/operator_fit.h) and a measured profile written.
// Files may be plain or gzip-compressed (`.csv.gz`).
#pragma once

#include <string>
#include <vector>

#include "models/operator_model.h"

namespace kvsim::models {

struct OpSample {
  std::string family;  // gemm | elementwise | attention_decode | attention_prefill | allreduce
  std::string op;      // Vidur's operator name: attn_pre_proj, mlp_up_proj, input_layernorm, attn_decode, all_reduce...
  std::string model;   // org/model as in Vidur's folders; the collective's folder for allreduce
  int tp = 1;
  double tokens = 0;  // num_tokens of an mlp row; batch x chunk of a prefill row; batch of a decode row
  // gemm: M x K times K x N, fp16.
  double m = 0, n = 0, k = 0;
  // elementwise: bytes read and written; kind.
  double bytes = 0;
  ElementKind kind = ElementKind::kPointwise;
  // attention: KV bytes and tokens read (decode), FLOPs and new tokens per sequence (prefill).
  double kv_bytes = 0, kv_tokens = 0, flops = 0, tokens_per_seq = 0;
  // allreduce: message bytes, GPUs.
  double message_bytes = 0;
  int gpus = 0;
  double seconds = 0;  // measured (median over Vidur's repeats)
};

// Every mlp.csv, attention.csv and all_reduce.csv (or .csv.gz) under `dir`, recursively (a folder like
// vidur-profiles/compute/a100, a model's folder, or network/a100_dgx). Rows with num_tokens above 16,384 are skipped;
// all-reduce rows spanning more than one node are skipped (kvsim's all-reduce is within a node). A malformed file
// throws kvsim::Error naming file:line and the column.
std::vector<OpSample> read_vidur_profiles(const std::string& dir);

// Model shapes Vidur's columns give for an mlp row: head_dim = n_embd / n_head; QKV N = (n_head + 2 n_kv_head)
// head_dim / tp, K = n_embd; O: N = n_embd, K = n_head head_dim / tp; up: N = (gated ? 2 : 1) n_expanded_embd / tp;
// down: K = n_expanded_embd / tp. Exposed for tests.
struct VidurShape {
  double n_head = 0, n_kv_head = 0, n_embd = 0, n_expanded_embd = 0;
  bool gated = true;
  int tp = 1;
};
std::vector<OpSample> mlp_row_samples(const VidurShape& shape, double num_tokens,
                                      const std::vector<std::pair<std::string, double>>& op_ms,
                                      const std::string& model);

}  // namespace kvsim::models
