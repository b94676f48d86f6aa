#include "sim/planning/deployment_study.h"

#include <fmt/format.h>

#include "sim/cache/presets.h"
#include "sim/core/error.h"
#include "sim/core/yaml.h"
#include "sim/run.h"

namespace kvsim::sim {

namespace {

// Where the survey's per-scenario recommendations come from: its full text was not reachable, its abstract names
// five scenarios and no method per scenario, so the methods are those of a third-party walkthrough of the paper.
constexpr const char* kWalkthrough = "(per a third-party walkthrough of the survey, n.cqs.es, 2026)";

std::vector<DeploymentScenario> build_scenarios() {
  std::vector<DeploymentScenario> out;
  {
    DeploymentScenario s;
    s.id = "long-context";
    s.name = "long-context single requests";
    s.why =
        "One user at a time with documents of 16K-124K tokens (lognormal, mean 64K) on a 70B model across four "
        "H100s: each prompt's KV (up to 40 GiB) and its prefill dominate; at 0.02 req/s requests rarely overlap.";
    s.survey_recommends =
        fmt::format("eviction combined with compression, or a linear-attention model {}", kWalkthrough);
    s.recommended_categories = {"eviction", "compression", "combination"};
    s.model = "llama-3.1-70b";
    s.hardware = "h100-sxm5-80gb";
    s.tensor_parallel = 4;
    s.prompt_tokens = traces::lognormal_lengths(64000, 32000, 16384, 126976);
    s.output_tokens = traces::lognormal_lengths(500, 250, 32, 4096);
    s.rate = 0.02;
    s.requests = 40;
    s.max_model_len = 131072;
    s.ttft_ms = 30000;
    s.tpot_ms = 100;
    s.min_retention = 0.9;
    out.push_back(s);
  }
  {
    DeploymentScenario s;
    s.id = "datacenter";
    s.name = "high-throughput datacenter serving";
    s.why =
        "Many concurrent chat requests with the Azure 2023 conversation trace's lengths (fitted lognormals, mean "
        "1,155 prompt and 211 output tokens) on an 8B model on one H100, offered at 20 req/s: the knee of vLLM on "
        "this setting (`kvsim run` at 15 / 20 / 25 req/s: 0 / 25 / 107 preemptions, SLO met 1.000 / 0.997 / "
        "0.264); planner-style SLO; multi-tenant output must not change, so lossless only.";
    s.survey_recommends =
        fmt::format("PagedAttention (vLLM), hybrid memory (Oneiros) and combinations (ShadowKV) {}", kWalkthrough);
    s.recommended_categories = {"paging", "hybrid memory", "combination"};
    s.model = "llama-3.1-8b";
    s.hardware = "h100-sxm5-80gb";
    s.dataset = "azure-conv";
    s.rate = 20;
    s.requests = 3000;
    s.max_model_len = 32768;
    s.ttft_ms = 2000;
    s.tpot_ms = 100;
    s.min_retention = 0.9;
    s.lossless = true;
    s.lossless_why = "the walkthrough's reason for its datacenter picks: \"large batches, lossless, multi-tenant\"";
    out.push_back(s);
  }
  {
    DeploymentScenario s;
    s.id = "edge";
    s.name = "edge devices";
    s.why =
        "A single user's long documents (4K-124K tokens, mean 32K) on an 8B model on one 24 GB consumer GPU "
        "(RTX 4090): 15 GiB of weights leave about 5 GiB, some 40K tokens, of KV.";
    s.survey_recommends = fmt::format(
        "InfiniPot (fixed-size compressed cache) and TailorKV (quantisation + "
        "offload) for an 8B model at 128K on a 24 GB GPU {}",
        kWalkthrough);
    s.recommended_categories = {"eviction", "compression", "combination"};
    s.model = "llama-3.1-8b";
    s.hardware = "rtx-4090-24gb";
    s.prompt_tokens = traces::lognormal_lengths(32000, 16000, 4096, 126976);
    s.output_tokens = traces::lognormal_lengths(300, 150, 16, 2048);
    s.rate = 0.01;
    s.requests = 30;
    s.max_model_len = 129024;
    s.ttft_ms = 60000;
    s.tpot_ms = 100;
    s.min_retention = 0.9;
    out.push_back(s);
  }
  {
    DeploymentScenario s;
    s.id = "multi-turn";
    s.name = "multi-turn conversations";
    s.why =
        "Chat sessions of 8 turns (ShareGPT lengths per message and answer, 30 s think time, one of 4 shared "
        "2,000-token system prompts) on an 8B model on one L40S 48 GB: each turn resends the whole conversation, so "
        "its prefix is either cached (on the GPU or a lower tier) or recomputed.";
    s.survey_recommends = fmt::format("multi-turn-aware combinations (RocketKV-MT) {}", kWalkthrough);
    s.recommended_categories = {"combination"};
    s.model = "llama-3.1-8b";
    s.hardware = "l40s-48gb";
    s.dataset = "sharegpt";
    s.session_turns = 8;
    s.think_time_s = 30;
    s.system_prompt_tokens = 2000;
    s.system_prompts = 4;
    s.rate = 0.4;
    s.requests = 1600;
    s.max_model_len = 32768;
    s.ttft_ms = 1000;
    s.tpot_ms = 100;
    s.min_retention = 0.9;
    out.push_back(s);
  }
  {
    DeploymentScenario s;
    s.id = "reasoning";
    s.name = "accuracy-critical reasoning";
    s.why =
        "Short problems (mean 600 tokens) with long reasoning chains (lognormal, mean 6,000 output tokens, up to "
        "28K) on an 8B model on one H100; an answer is only useful if the chain kept its context.";
    s.survey_recommends = "not known here (the walkthrough's excerpt ends before this scenario)";
    s.model = "llama-3.1-8b";
    s.hardware = "h100-sxm5-80gb";
    s.prompt_tokens = traces::lognormal_lengths(600, 400, 64, 4096);
    s.output_tokens = traces::lognormal_lengths(6000, 3000, 512, 28672);
    s.rate = 0.5;
    s.requests = 300;
    s.max_model_len = 32768;
    s.ttft_ms = 2000;
    s.tpot_ms = 50;
    s.min_retention = 0.99;
    s.lossless = true;
    s.lossless_why =
        "accuracy-critical: 2-bit KV and evicted context both cost reasoning accuracy (KVFundaBench, arXiv "
        "2502.01941: arithmetic reasoning drops 17.4-43.3 % under aggressive KV compression)";
    out.push_back(s);
  }
  return out;
}

const char* preset_category(const std::string& name) {
  if (name == "vllm" || name == "vllm-swap") return "paging";
  if (name == "h2o" || name == "streamingllm") return "eviction";
  if (name == "kivi") return "compression";
  if (name == "quest") return "selection";
  if (name == "infinigen" || name == "flexgen" || name == "tiered") return "hybrid memory";
  if (name == "adaptive") return "combination";
  return "full-kv baseline";  // hf-static, hf-transformers, fastertransformer, orca-*
}

std::vector<DeploymentStrategy> build_strategies() {
  std::vector<DeploymentStrategy> out;
  for (const cache::Preset& p : cache::presets()) out.push_back({p.name, p.name, preset_category(p.name), {}, ""});
  // KIVI's 2-bit KV with its 128-token full-precision residual (the kivi preset's precision), on an evicting cache.
  out.push_back({"h2o+kivi",
                 "h2o",
                 "combination",
                 {"cache.precision=int2"},
                 "H2O's heavy hitters + recent tokens, stored in KIVI's 2-bit KV (eviction + quantisation)"});
  out.push_back({"streamingllm+kivi",
                 "streamingllm",
                 "combination",
                 {"cache.precision=int2"},
                 "StreamingLLM's sinks + window in KIVI's 2-bit KV (eviction + quantisation)"});
  out.push_back({"infinigen-v0",
                 "infinigen",
                 "hybrid memory",
                 {"engine.version=v0"},
                 "InfiniGen's offloaded KV and speculative fetch under continuous batching (vLLM v0's scheduler) "
                 "instead of its static batches (offload + selection)"});
  out.push_back({"tiered+kivi",
                 "tiered",
                 "combination",
                 {"cache.precision=int2"},
                 "the GPU -> host -> disk prefix tier, in KIVI's 2-bit KV (tiered + prefix caching + quantisation)"});
  return out;
}

YAML::Node point_yaml(const DeploymentScenario& s, const std::string& policy, int64_t requests) {
  YAML::Node n;
  n["model"] = s.model;
  n["hardware"] = s.hardware;
  n["seed"] = 1;
  n["cache"]["policy"] = policy;
  n["cluster"]["tensor_parallel"] = s.tensor_parallel;
  if (s.max_model_len > 0) n["engine"]["max_model_len"] = s.max_model_len;
  YAML::Node workload;
  workload["requests"] = requests;
  workload["arrival"]["process"] = "poisson";
  workload["arrival"]["rate"] = yaml::number(s.rate);
  if (!s.dataset.empty()) {
    workload["dataset"] = s.dataset;
  } else {
    workload["prompt_tokens"] = traces::length_dist_to_yaml(s.prompt_tokens);
    workload["output_tokens"] = traces::length_dist_to_yaml(s.output_tokens);
  }
  if (s.session_turns > 0) {
    workload["sessions"]["turns"] = s.session_turns;
    workload["sessions"]["think_time_s"] = yaml::number(s.think_time_s);
    workload["sessions"]["system_prompt_tokens"] = s.system_prompt_tokens;
    workload["sessions"]["system_prompts"] = s.system_prompts;
  }
  n["workload"] = workload;
  n["slo"]["ttft_ms"] = yaml::number(s.ttft_ms);
  n["slo"]["tpot_ms"] = yaml::number(s.tpot_ms);
  return n;
}

}  // namespace

const std::vector<DeploymentScenario>& deployment_scenarios() {
  static const std::vector<DeploymentScenario> kScenarios = build_scenarios();
  return kScenarios;
}

const std::vector<DeploymentStrategy>& deployment_strategies() {
  static const std::vector<DeploymentStrategy> kStrategies = build_strategies();
  return kStrategies;
}

const std::string& deployment_category(const std::string& label) {
  for (const DeploymentStrategy& s : deployment_strategies()) {
    if (s.label == label) return s.category;
  }
  throw Error(fmt::format("scenarios study: no strategy labelled '{}'", label));
}

std::vector<StudyPoint> deployment_study_grid(const StudyOptions& options) {
  const std::string base = options.out_dir.empty() ? "kvsim-out/study" : options.out_dir;
  std::vector<StudyPoint> points;
  for (const DeploymentScenario& s : deployment_scenarios()) {
    const std::string file = fmt::format("<study scenarios: {}>", s.id);
    for (const DeploymentStrategy& strategy : deployment_strategies()) {
      StudyPoint p;
      p.model = s.model;
      p.tensor_parallel = s.tensor_parallel;
      p.policy = strategy.policy;
      p.rate = s.rate;
      p.group = s.id;
      p.variant = strategy.label;
      std::vector<std::string> overrides = strategy.keys;
      overrides.insert(overrides.end(), options.overrides.begin(), options.overrides.end());
      p.scenario =
          parse_scenario(point_yaml(s, strategy.policy, options.requests.value_or(s.requests)), file, overrides);
      p.dir = fmt::format("{}/{}/{}", base, s.id, strategy.label);
      points.push_back(std::move(p));
    }
  }
  return points;
}

nlohmann::ordered_json run_deployment_point(const StudyPoint& point) {
  try {
    return run_scenario(point.scenario, point.dir).summary;
  } catch (const Error& e) {
    nlohmann::ordered_json j;
    j["error"] = e.what();
    return j;
  }
}

}  // namespace kvsim::sim
