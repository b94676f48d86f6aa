#include "sim/planning/study.h"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>

#include "hw/measured_yaml.h"
#include "models/model_loader.h"
#include "sim/planning/deployment_study.h"
#include "sim/core/error.h"
#include "sim/core/yaml.h"

namespace kvsim::sim {

namespace {

// The built-in study's lengths (sim/scenario.cc), the long-context workload the paper study starts from.
constexpr double kPromptMean = 12000, kPromptStddev = 6000;
constexpr int64_t kPromptMin = 1024, kPromptMax = 32768;
constexpr double kOutputMean = 300, kOutputStddev = 150;
constexpr int64_t kOutputMin = 16, kOutputMax = 2048;

std::string rate_label(double rate) { return fmt::format("{:g}", rate); }


// The scenario of one point, as a YAML document: the grid's keys only; parse_scenario fills the preset defaults
// (h2o and infinigen bring their static engine) and then applies the user's overrides.
YAML::Node point_yaml(const StudyModel& m, const StudyLengths& lengths, const std::string& policy, int sparsity_pct,
                      double rate, int64_t requests) {
  YAML::Node n;
  n["model"] = m.model;
  n["hardware"] = m.hardware;
  n["seed"] = 1;
  YAML::Node cache;
  cache["policy"] = policy;
  const double share = sparsity_pct / 100.0;
  if (policy == "h2o") {
    cache["heavy_ratio"] = yaml::number(share / 2);
    cache["recent_ratio"] = yaml::number(share / 2);
  } else if (policy == "infinigen") {
    // The sparsity level is the share InfiniGen fetches: its threshold opened wide, so every step fetches the cap
    // (at its scripts' alpha 4 the synthetic selection would fetch less than any of the levels and erase the axis).
    cache["max_kv_ratio"] = yaml::number(share);
    cache["alpha"] = 1e6;
  }
  n["cache"] = cache;
  YAML::Node cluster;
  cluster["tensor_parallel"] = m.tensor_parallel;
  n["cluster"] = cluster;
  YAML::Node workload;
  workload["requests"] = requests;
  YAML::Node arrival;
  arrival["process"] = "poisson";
  arrival["rate"] = yaml::number(rate);
  workload["arrival"] = arrival;
  workload["prompt_tokens"] = traces::length_dist_to_yaml(lengths.prompt_tokens);
  workload["output_tokens"] = traces::length_dist_to_yaml(lengths.output_tokens);
  n["workload"] = workload;
  // The built-in study's SLO, for every model.
  YAML::Node slo;
  slo["ttft_ms"] = 5000;
  slo["tpot_ms"] = 100;
  n["slo"] = slo;
  return n;
}

}  // namespace

std::string StudyPoint::label() const {
  if (!variant.empty()) return variant;
  return sparsity_pct >= 100 ? policy : fmt::format("{}-s{}", policy, sparsity_pct);
}

std::vector<std::string> study_names() { return {"paper", "scenarios"}; }

// Rates: each model's knee was found with `kvsim run` sweeps of the vllm point (600 requests, seed 1) on the
// datasheet h100-sxm5-80gb profile: the highest rate with at most one preemption (one step further, preemptions run
// into the hundreds and TTFT jumps from seconds to minutes). The rates sit at about 0.5, 0.8, 1 and 1.5 x the knee:
// well below, approaching, at and past saturation. Scaling the built-in study's rates by KV capacity alone does not
// work here: llama-3.1-70b on four GPUs holds as many tokens as llama-3.1-8b on one (482K vs 447K) but saturates at
// half the rate, because each of its steps is slower.
const std::vector<StudyModel>& paper_study_models() {
  static const std::vector<StudyModel> kModels = {
      // vllm: 1.2 req/s 0 preemptions, 352 tok/s; 1.25 and 1.3 req/s 3; 1.35 req/s 775, p50 TTFT 41 s.
      {"llama-3.1-8b", "h100-sxm5-80gb", 1, 1.2, {0.6, 1.0, 1.2, 1.8}},
      // vllm (prompts <= 3584 tokens): 3.3 req/s 0 preemptions, 913 tok/s; 3.4 req/s 3; 3.6 req/s 8.
      {"llama-2-13b", "h100-sxm5-80gb", 1, 3.3, {1.6, 2.6, 3.3, 5.0}},
      // vllm: 0.55 req/s 0 preemptions, 161 tok/s; 0.58 req/s 2; 0.6 req/s 828, p50 TTFT 108 s.
      {"llama-3.1-70b", "h100-sxm5-80gb", 4, 0.55, {0.28, 0.44, 0.55, 0.83}},
      // InfiniGen's testbed (Lee et al., OSDI 2024: OPT-13B on an RTX A6000 48 GB, PCIe 3.0), where 26 GB of weights
      // leave room for the KV of about 20,000 tokens: past the knee the KV does not fit on the GPU, the regime an
      // offloaded KV is for. vllm: 1.0 req/s 0 preemptions, 215 tok/s; 1.1 req/s 3; 1.2 req/s 10.
      {"opt-13b", "rtx-a6000-48gb", 1, 1.0, {0.5, 0.8, 1.0, 1.5}},
  };
  return kModels;
}

StudyLengths paper_study_lengths(const models::ModelSpec& model) {
  const int64_t context = model.max_position_embeddings;
  if (context >= kPromptMax + kOutputMax) {
    return {traces::lognormal_lengths(kPromptMean, kPromptStddev, kPromptMin, kPromptMax),
            traces::lognormal_lengths(kOutputMean, kOutputStddev, kOutputMin, kOutputMax)};
  }
  const int64_t output_max = std::min(kOutputMax, context / 8);
  const int64_t prompt_max = context - output_max;
  if (output_max < kOutputMin || prompt_max < 1) {
    throw Error(Place{"--study"}, fmt::format("{} has a context of {} tokens, too short for the study's long prompts",
                                              model.name, context));
  }
  const double f = static_cast<double>(prompt_max) / static_cast<double>(kPromptMax);
  return {traces::lognormal_lengths(std::round(kPromptMean * f), std::round(kPromptStddev * f),
                    std::max<int64_t>(1, std::llround(static_cast<double>(kPromptMin) * f)), prompt_max),
          traces::lognormal_lengths(kOutputMean, kOutputStddev, kOutputMin, output_max)};
}

std::vector<StudyPoint> paper_study_grid(const StudyOptions& options) {
  const std::string file = "<study paper>";
  const int64_t requests = options.requests.value_or(kPaperStudyRequests);
  const std::string base = options.out_dir.empty() ? "kvsim-out/study" : options.out_dir;
  std::vector<std::pair<std::string, int>> settings = {{"vllm", 100}};
  for (const char* policy : {"h2o", "infinigen"}) {
    for (int pct : kPaperStudySparsityPct) settings.emplace_back(policy, pct);
  }
  std::vector<StudyPoint> points;
  for (const StudyModel& m : paper_study_models()) {
    const StudyLengths lengths = paper_study_lengths(models::load_model(m.model));
    for (const auto& [policy, pct] : settings) {
      for (double rate : m.rates) {
        StudyPoint p;
        p.model = m.model;
        p.tensor_parallel = m.tensor_parallel;
        p.policy = policy;
        p.sparsity_pct = pct;
        p.rate = rate;
        p.scenario = parse_scenario(point_yaml(m, lengths, policy, pct, rate, requests), file, options.overrides);
        p.dir = fmt::format("{}/{}/{}/rate-{}", base, m.model, p.label(), rate_label(rate));
        points.push_back(std::move(p));
      }
    }
  }
  return points;
}

void require_study_name(const std::string& name) {
  const std::vector<std::string> names = study_names();
  if (std::find(names.begin(), names.end(), name) != names.end()) return;
  throw Error(Place{"--study"},
              fmt::format("unknown study '{}'{}; valid: {}", name, did_you_mean(name, names), join(names)));
}

std::vector<StudyPoint> study_grid(const std::string& name, const StudyOptions& options) {
  require_study_name(name);
  return name == "scenarios" ? deployment_study_grid(options) : paper_study_grid(options);
}

}  // namespace kvsim::sim
