// Named request-length datasets (`workload.dataset`): the prompt and output length distributions of public
// datasets, as lognormals with each dataset's published mean. Where the source publishes only the mean, the spread is
// an assumption (coefficient of variation 1) and says so; the Azure mixes are fitted (mean and standard deviation)
// from the real traces. For a dataset's exact shape, use `dist: empirical` on its file.
#pragma once

#include <string>
#include <vector>

#include "traces/length_dist.h"

namespace kvsim::traces {

struct Dataset {
  std::string name;
  std::string source;  // where the numbers come from
  LengthDist prompt_tokens, output_tokens;
  double prompt_mean = 0, output_mean = 0;  // the published (or fitted) means the lognormals are built on
};

const std::vector<Dataset>& datasets();
std::vector<std::string> dataset_names();
// nullptr when unknown.
const Dataset* find_dataset(const std::string& name);

}  // namespace kvsim::traces
