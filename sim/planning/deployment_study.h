// The scenarios study, `kvsim compare --study scenarios`: the deployment scenarios of the KV-cache optimisation survey
// (Xu, Khaira, Singh, "KV Cache Optimization Strategies for Scalable and Efficient LLM Inference", arXiv 2603.20397,
// 2026), each made concrete (model, GPU, workload, SLO, a quality floor), and each run under every cache preset and
// the combinations the survey groups as "combination strategies". The survey's abstract names five of its seven
// scenarios ("long-context single requests", "high-throughput datacenter serving", "edge devices", "multi-turn
// conversations", "accuracy-critical reasoning"); its per-scenario recommendations are known here only from a
// third-party summary, and study.md says so wherever it quotes them.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "sim/planning/study.h"
#include "traces/length_dist.h"

namespace kvsim::sim {

struct DeploymentScenario {
  std::string id;    // output folder and CSV key: "long-context"
  std::string name;  // the survey's wording: "long-context single requests"
  std::string why;   // what makes the numbers below this scenario (markdown, one sentence or two)
  // What the survey recommends for it, with where that is known from ("" = not known).
  std::string survey_recommends;
  // The strategy categories (DeploymentStrategy::category) that recommendation covers (empty = none known).
  std::vector<std::string> recommended_categories;
  std::string model, hardware;
  int64_t tensor_parallel = 1;
  std::string dataset;  // a named dataset for the lengths, or empty for prompt/output below
  traces::LengthDist prompt_tokens, output_tokens;
  // Multi-turn sessions (traces/sessions.h): turns per session (0 = no sessions), think time, shared system prompts.
  int64_t session_turns = 0;
  double think_time_s = 0;
  int64_t system_prompt_tokens = 0, system_prompts = 1;
  double rate = 0;  // req/s (sessions/s with sessions)
  int64_t requests = 0;
  int64_t max_model_len = 0;  // engine.max_model_len: what the longest prompt + output needs (0 = the model's)
  double ttft_ms = 0, tpot_ms = 0;
  // The attention retention (sim/cache/quality.h, a synthetic proxy) a strategy must keep to be ranked.
  double min_retention = 0;
  // Only lossless strategies are ranked: every token kept (retention 1) in a KV of at least 8 bits. The retention
  // proxy does not see quantisation error, so a 2-bit KV would otherwise pass any floor for free.
  bool lossless = false;
  std::string lossless_why;  // why the scenario demands it
};

// A strategy of the grid: a preset as it is, or a preset with keys that combine it with another technique.
struct DeploymentStrategy {
  std::string label;     // "h2o+kivi"
  std::string policy;    // the preset
  std::string category;  // paging | full-kv baseline | eviction | compression | selection | hybrid memory | combination
  std::vector<std::string> keys;  // "cache.precision=int2", applied before the user's --set
  std::string what;               // for study.md: what the combination is ("" for a preset)
};

const std::vector<DeploymentScenario>& deployment_scenarios();
// Every preset (cache::presets() order), then the combinations.
const std::vector<DeploymentStrategy>& deployment_strategies();

// Every (scenario, strategy) point: StudyPoint::group is the scenario id, StudyPoint::variant the strategy label;
// dirs are <out>/<scenario id>/<label>. options.requests replaces each scenario's own request count.
std::vector<StudyPoint> deployment_study_grid(const StudyOptions& options);

// The ranking of one scenario's points (study.md, the CLI): a point is ranked when it started, served every request
// (study_point_ranked) and kept at least the scenario's min_retention. Ranked points are ordered by goodput; points
// within kStudyTieTolerance of the best remaining goodput are ordered among themselves by the GPU KV memory they
// peaked at (less first), then by retention (more first), then grid order.
struct DeploymentRanking {
  std::vector<size_t> ranked;  // indices into points, best first
  struct Excluded {
    size_t index;
    std::string why;  // "did not start: ...", "rejected 20 of 20 requests", "retention 0.62 < 0.90", "lossy: ..."
  };
  std::vector<Excluded> excluded;
};
// A point that did not start has a summary {"error": message} (run_deployment_point). In a lossless scenario a point
// whose retention is below 1 or whose KV has fewer than 8 bits is excluded as lossy.
DeploymentRanking rank_deployment(const std::vector<StudyPoint>& points,
                                  const std::vector<nlohmann::ordered_json>& summaries, const std::string& scenario_id);

// "winner h2o+kivi (combination): 0.61 req/s goodput; runner-up kivi (compression): 0.55 req/s, the winner +10.9 %";
// or the memory or retention that broke a goodput tie; "no strategy ranked" when none is. The runner-up is the best
// ranked point whose goodput, GPU KV or retention differs from the winner's; those that match it are named.
std::string deployment_verdict(const std::vector<StudyPoint>& points,
                               const std::vector<nlohmann::ordered_json>& summaries, const DeploymentRanking& ranking);

// The category of the strategy labelled `label`.
const std::string& deployment_category(const std::string& label);

// Runs one point and returns its summary, or {"error": message} when it cannot start (a kvsim::Error from planning:
// the strategy cannot hold the scenario's context on its GPU, as vLLM refuses such a max_model_len at start-up).
nlohmann::ordered_json run_deployment_point(const StudyPoint& point);

// study.md and study.csv of the scenarios study.
std::string deployment_study_markdown(const std::vector<StudyPoint>& points,
                                      const std::vector<nlohmann::ordered_json>& summaries);
std::string deployment_study_csv(const std::vector<StudyPoint>& points,
                                 const std::vector<nlohmann::ordered_json>& summaries);

}  // namespace kvsim::sim
