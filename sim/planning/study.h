// Named studies for `kvsim compare --study NAME`: a grid of scenarios over models, request rates and cache policies at
// several sparsity levels. Every point is a loaded, validated Scenario before anything runs.
// "paper": the comparative study of vLLM, InfiniGen and H2O (request rate x model size x sparsity level). That study
// does not publish its exact grid, so kvsim defines one here; the rules are stated with paper_study_models() and
// paper_study_lengths() and repeated in the generated study.md.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "models/model_spec.h"
#include "sim/scenario.h"
#include "traces/length_dist.h"

namespace kvsim::sim {

// One model of a study and the request rates it is run at.
struct StudyModel {
  std::string model;     // catalog name
  std::string hardware;  // catalog name
  int64_t tensor_parallel = 1;
  double knee_rate = 0;       // req/s: the highest rate at which vllm still (almost) never preempts
  std::vector<double> rates;  // req/s, about {0.5, 0.8, 1, 1.5} x knee_rate
};

struct StudyPoint {
  std::string model;
  int64_t tensor_parallel = 1;
  std::string policy;  // vllm | h2o | infinigen
  // Share of each sequence's KV (in % of its prompt) that h2o keeps (heavy_ratio + recent_ratio, half each) or
  // infinigen fetches per step (max_kv_ratio); 100 = the full cache (vllm).
  int sparsity_pct = 100;
  double rate = 0;  // req/s
  Scenario scenario;
  std::string dir;  // <out>/<model>/<label>/rate-<rate>
  // The scenarios study (sim/planning/deployment_study.h): the deployment scenario the point belongs to, and the
  // label of a strategy that is not one preset alone ("h2o+kivi"); both empty in the paper study.
  std::string group;
  std::string variant;

  std::string label() const;  // "vllm", "h2o-s10", "infinigen-s50", or the variant
};

struct StudyOptions {
  std::string out_dir;
  std::vector<std::string> overrides;  // --set / --seed: applied to every point after the grid's own keys
  std::optional<int64_t> requests;     // per point (default kPaperStudyRequests)
};

inline constexpr int64_t kPaperStudyRequests = 600;  // as many as the built-in study
inline constexpr std::array<int, 3> kPaperStudySparsityPct = {10, 20, 50};

std::vector<std::string> study_names();

// llama-3.1-8b and llama-2-13b on one h100-sxm5-80gb, llama-3.1-70b on four (tensor parallel).
const std::vector<StudyModel>& paper_study_models();

// Long prompts as in the built-in study (lognormal mean 12000, stddev 6000, clip [1024, 32768]; output mean 300,
// stddev 150, clip [16, 2048]) when prompt + output fit the model's context (max_position_embeddings). A shorter
// context C keeps the output at most min(2048, C / 8) tokens and scales the whole prompt distribution (mean,
// stddev, min, max) by (C - output max) / 32768, so every prompt + output fits in C and the prompts keep their shape
// instead of piling up at the cap. llama-2-13b (C = 4096): output <= 512, prompt lognormal(1313, 656, [112, 3584]).
struct StudyLengths {
  traces::LengthDist prompt_tokens, output_tokens;
};
StudyLengths paper_study_lengths(const models::ModelSpec& model);

// Every point of the paper study: per model, vllm, h2o and infinigen at each sparsity, each at every rate.
std::vector<StudyPoint> paper_study_grid(const StudyOptions& options);

// An unknown study name is a kvsim::Error placed at "--study" that lists the valid names.
void require_study_name(const std::string& name);

// The grid of study `name` (require_study_name first).
std::vector<StudyPoint> study_grid(const std::string& name, const StudyOptions& options);

}  // namespace kvsim::sim
