#include "traces/datasets.h"

#include <cmath>

namespace kvsim::traces {

namespace {
LengthDist lognormal(double mean, double stddev) {
  LengthDist d;
  d.dist = "lognormal";
  d.mean = mean;
  d.stddev = stddev;
  return d;
}

// A dataset whose source gives means only: spread assumed with a coefficient of variation of 1.
Dataset mean_only(std::string name, std::string source, double prompt, double output) {
  return Dataset{std::move(name),
                 std::move(source) + "; spread assumed (CV 1): the source gives means only",
                 lognormal(prompt, prompt),
                 lognormal(output, output),
                 prompt,
                 output,
                 std::nullopt};
}

Dataset fitted(std::string name, std::string source, double pm, double ps, double om, double os) {
  return Dataset{std::move(name), std::move(source), lognormal(pm, ps), lognormal(om, os), pm, om, std::nullopt};
}

// Standard normal quantiles at 0.90 and 0.99 (z such that Phi(z) = p).
constexpr double kZ90 = 1.2815515655446004;
constexpr double kZ99 = 2.3263478740408408;

// The log-space sigma of a lognormal whose median is `median` and whose quantile at z is `q`.
double lognormal_sigma(double median, double q, double z) { return std::log(q / median) / z; }

// A lognormal of this mean and log-space sigma, as the mean and standard deviation LengthDist takes.
LengthDist lognormal_mean_sigma(double mean, double sigma, int64_t min, int64_t max) {
  LengthDist d = lognormal(mean, mean * std::sqrt(std::exp(sigma * sigma) - 1));
  d.min = min;
  d.max = max;
  return d;
}

// Codex (GPT-5.4) solving SWE-bench Pro tasks, 610 successful trials: Inferact's codex_swebenchpro_traces dataset
// card ("Per-Trial Statistics") and the vLLM x Mooncake Store post (vLLM blog, 2026-05-06, Fig. 1 and its list).
// Every figure below is printed there; the fits are derivations and say so.
Dataset codex_swe_bench_pro() {
  // First call ("starting context"): mean 12,367, P50 12,278, P99 13,744 tokens; sigma fitted to P50 and P99.
  constexpr double kStartMean = 12367, kStartP50 = 12278, kStartP99 = 13744;
  // LLM calls per trial: mean 33, P50 30, P90 57, P99 90; sigma fitted to P50 and P90 (the fit's P99 is 96), clipped
  // at SWE-agent's 250-step limit (Scale AI's SWE-Bench Pro runs, SWE-agent v1.1.0).
  constexpr double kTurnsMean = 33, kTurnsP50 = 30, kTurnsP90 = 57;
  constexpr int64_t kTurnsMax = 250;
  // Inter-turn delay (the tool's run): "5.2s median to 81.4s P99"; a lognormal through both.
  constexpr double kGapP50Ms = 5200, kGapP99Ms = 81400;
  // Output tokens per trial, mean 17,239, over the mean 33 calls: 522 per call (a derivation; the card gives no
  // per-call figure). "Average context growth of roughly 2,242 tokens per turn" holds the previous answer and the
  // tool's output: 2,242 - 522 = 1,720 appended per later call. Neither spread is published: CV 1 assumed, as for
  // the mean-only datasets above.
  constexpr double kOutputPerTrial = 17239, kGrowthPerTurn = 2242;
  const double output_mean = kOutputPerTrial / kTurnsMean, appended_mean = kGrowthPerTurn - output_mean;

  SessionSpec s;
  s.turns = lognormal_mean_sigma(kTurnsMean, lognormal_sigma(kTurnsP50, kTurnsP90, kZ90), 1, kTurnsMax);
  const double gap_sigma = lognormal_sigma(kGapP50Ms, kGapP99Ms, kZ99);
  s.think_time_ms =
      lognormal_mean_sigma(kGapP50Ms * std::exp(gap_sigma * gap_sigma / 2), gap_sigma, 1, limits::kMaxRequestTokens);
  s.turn_tokens = lognormal(appended_mean, appended_mean);
  return Dataset{
      "codex-swe-bench-pro",
      "Codex on SWE-bench Pro, 610 runs (Inferact codex_swebenchpro_traces; vLLM blog 2026-05-06): first "
      "call mean 12,367 tokens, 33 calls per run (P50 30, P90 57), tool gaps P50 5.2 s / P99 81.4 s, "
      "2,242 tokens of context growth per call; spreads of the output and appended tokens assumed (CV 1)",
      lognormal_mean_sigma(kStartMean, lognormal_sigma(kStartP50, kStartP99, kZ99), 1, limits::kMaxRequestTokens),
      lognormal(output_mean, output_mean),
      kStartMean,
      output_mean,
      s};
}
}  // namespace

const std::vector<Dataset>& datasets() {
  static const std::vector<Dataset> kDatasets = {
      mean_only("sharegpt",
                "Kwon et al., SOSP 2023 (vLLM), sec. 6.1: ShareGPT mean 161.31 input / 337.99 output tokens", 161.31,
                337.99),
      mean_only("alpaca", "Kwon et al., SOSP 2023 (vLLM), sec. 6.1: Alpaca mean 19.31 input / 58.45 output tokens",
                19.31, 58.45),
      mean_only("lmsys-chat",
                "Agrawal et al., MLSys 2024 (Vidur), workload table: LMSys-Chat-1M mean 786 prompt / 215 decode tokens",
                786, 215),
      mean_only(
          "arxiv-summarization",
          "Agrawal et al., MLSys 2024 (Vidur), workload table: Arxiv-Summarization mean 9,882 prompt / 411 decode "
          "tokens (its filtered 4K-context file in shared data has mean 2,588 / 291)",
          9882, 411),
      mean_only("bwb",
                "Agrawal et al., MLSys 2024 (Vidur), workload table: BWB mean 2,418 prompt / 3,654 decode tokens", 2418,
                3654),
      // Fitted: mean and population standard deviation of ContextTokens / GeneratedTokens over every row of the
      // Azure LLM inference trace 2023 (AzureLLMInferenceTrace_conv.csv, 19,366 rows; _code.csv, 8,819 rows), as
      // computed by `kvsim trace stats FILE --format json` (prompt_tokens.mean / stddev).
      fitted("azure-conv", "Azure LLM inference trace 2023, conversation (19,366 requests), fitted", 1154.70, 1108.79,
             211.13, 162.87),
      fitted("azure-code", "Azure LLM inference trace 2023, code (8,819 requests), fitted", 2047.85, 1973.77, 27.88,
             59.86),
      // An agentic coding workload: runs of tool-using calls (sessions), not single requests.
      codex_swe_bench_pro(),
  };
  return kDatasets;
}

std::vector<std::string> dataset_names() {
  std::vector<std::string> out;
  for (const auto& d : datasets()) out.push_back(d.name);
  return out;
}

const Dataset* find_dataset(const std::string& name) {
  for (const auto& d : datasets()) {
    if (d.name == name) return &d;
  }
  return nullptr;
}

}  // namespace kvsim::traces
