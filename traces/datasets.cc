#include "traces/datasets.h"

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
                 output};
}

Dataset fitted(std::string name, std::string source, double pm, double ps, double om, double os) {
  return Dataset{std::move(name), std::move(source), lognormal(pm, ps), lognormal(om, os), pm, om};
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
