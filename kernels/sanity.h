// Sanity checks of a measured profile against its GPU's datasheet: the first numbers from a new GPU are trusted only
// when they land where a healthy card and correct microbenchmarks put them. `kvsim calibrate --sanity PROFILE.yaml`
// prints them, and scripts/gpu-measure.sh fails on any that does not pass.
#pragma once

#include <string>
#include <vector>

#include "hw/hardware_profile.h"

namespace kvsim::kernels {

struct SanityCheck {
  std::string name;          // "hbm_read_at_1gib"
  std::string what;          // "HBM read bandwidth at >= 1 GiB"
  double value = 0;          // measured (NaN when not measured)
  double low = 0, high = 0;  // the accepted range, inclusive (high = inf: no upper bound)
  std::string unit;          // "bytes_per_s", "ns", "flops_per_s", "ratio"
  std::string basis;         // where the range comes from
  bool measured = false;
  bool passed = false;
};

// The checks, each against `profile`'s datasheet numbers (gpu, pcie) and its measured samples; a check without the
// samples it needs has measured = false and passed = false.
std::vector<SanityCheck> sanity_checks(const hw::HardwareProfile& profile);

// A table of the checks, one per line: PASS/FAIL/MISSING, name, value, range, basis.
std::string format_sanity(const std::vector<SanityCheck>& checks);

}  // namespace kvsim::kernels
