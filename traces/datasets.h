// Named request-length datasets (`workload.dataset`): the prompt and output length distributions of public
// datasets, as lognormals with each dataset's published mean. Where the source publishes only the mean, the spread is
// an assumption (coefficient of variation 1) and says so; the Azure mixes are fitted (mean and standard deviation)
// from the real traces. For a dataset's exact shape, use `dist: empirical` on its file.
//
// An agentic dataset also brings a session shape (traces/sessions.h): turns per run, tool durations between calls,
// tokens each call appends. Its prompt_tokens are the first call's (the task) and output_tokens every call's.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "traces/length_dist.h"
#include "traces/sessions.h"

namespace kvsim::traces {

struct Dataset {
  std::string name;
  std::string source;  // where the numbers come from
  LengthDist prompt_tokens, output_tokens;
  double prompt_mean = 0, output_mean = 0;  // the published (or fitted) means the lognormals are built on
  // The session shape the dataset's source measured (workload.sessions' keys override its fields); nullopt for
  // single-request datasets.
  std::optional<SessionSpec> sessions;
};

const std::vector<Dataset>& datasets();
std::vector<std::string> dataset_names();
// nullptr when unknown.
const Dataset* find_dataset(const std::string& name);

}  // namespace kvsim::traces
