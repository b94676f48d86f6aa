// Prefill attention from a production kernel: runs kernels/scripts/sdpa_prefill.py (PyTorch's flash
// scaled_dot_product_attention) when python3 and PyTorch are present, and reads its JSON-line samples.
#pragma once

#include <istream>
#include <string>
#include <vector>

#include "hw/measured.h"
#include "kernels/suite.h"

namespace kvsim::kernels {

// Samples from the script's output; `skipped` collects its {"skip": reason} lines. Throws kvsim::Error naming the
// line for output that is neither.
std::vector<hw::RawSample> parse_sample_lines(std::istream& in, const std::string& name,
                                              std::vector<std::string>* skipped);

// Run the script for options.device (quick when options.quick). Empty, with `why` set, when it cannot run.
std::vector<hw::RawSample> run_sdpa_prefill(const SuiteOptions& options, std::string* why);

}  // namespace kvsim::kernels
