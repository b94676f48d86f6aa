// `kvsim calibrate`: run the microbenchmark suites on this machine, fit their raw samples into the curves of a
// hw::MeasuredProfile (bandwidth vs size, gather, GEMM, attention, launch, host memcpy) with a held-out check of each
// bandwidth fit, and write a hardware profile with `source: measured` (atomically; never over a file without force).
#pragma once

#include <ostream>
#include <string>
#include <vector>

#include "hw/hardware_profile.h"
#include "hw/measured.h"
#include "kernels/fit.h"
#include "kernels/suite.h"

namespace kvsim::kernels {

struct CalibrateOptions {
  std::string out_path;             // the profile YAML to write
  std::string base;                 // catalog name of the base profile (for the description and logs)
  bool quick = false;               // fewer sizes and repeats
  bool host_only = false;           // skip the GPU suites even when a GPU is present
  int device = 0;                   // CUDA device ordinal
  std::vector<std::string> suites;  // subset of calibrate_suite_names(); empty = all
  bool force = false;               // overwrite an existing out_path
  std::string command_line;         // recorded in the profile ("kvsim calibrate --out ...")
  SuiteOptions suite;               // quick and device are copied in from above
};

// The suites in the order they run: the most valuable curves first, so a run cut short still yields them.
const std::vector<std::string>& calibrate_suite_names();

// The checks calibrate makes before measuring anything: out_path given, not an existing file unless force, every
// suite name known. Throws kvsim::Error.
void check_calibrate_options(const CalibrateOptions& options);

// Measure, fit and write. The returned profile is `base` with source "measured", the output file's stem as its name
// and `measured` set. Throws kvsim::Error before measuring when out_path exists and force is off, or a suite name is
// unknown; a suite that fails is logged on `log` and skipped.
hw::HardwareProfile calibrate(const CalibrateOptions& options, const hw::HardwareProfile& base, std::ostream& log);

// "2025-01-31T12:34:56Z"
std::string utc_now_iso8601();

}  // namespace kvsim::kernels
