// `kvsim calibrate`: run the microbenchmark suites on this machine, fit their raw samples into the curves of a
// hw::MeasuredProfile (bandwidth vs size, gather, GEMM, attention, launch, host memcpy) with a held-out check of each
// bandwidth fit, and write a hardware profile with `source: measured` (atomically; never over a file without force).
#pragma once

#include <functional>
#include <optional>
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
  bool require_gpu = false;         // no usable GPU, or a GPU measurement that failed, is an error (exit 2)
  int device = 0;                   // CUDA device ordinal
  std::vector<std::string> suites;  // subset of calibrate_suite_names(); empty = all
  bool force = false;               // overwrite an existing out_path
  std::string command_line;         // recorded in the profile ("kvsim calibrate --out ...")
  SuiteOptions suite;               // quick and device are copied in from above
  // Tests only: stands in for the suites (and PyTorch's prefill), with `fake_device` as the GPU found; may throw.
  std::function<std::vector<hw::RawSample>(const std::string& suite, const SuiteOptions&)> fake_suites;
  std::optional<DeviceInfo> fake_device;
};

// The suites in the order they run: the most valuable curves first, so a run cut short still yields them.
const std::vector<std::string>& calibrate_suite_names();

// The checks calibrate makes before measuring anything: out_path given, not an existing file unless force, every
// suite name known. Throws kvsim::Error.
void check_calibrate_options(const CalibrateOptions& options);

// Measure, fit and write. The returned profile is `base` with source "measured", the output file's stem as its name
// and `measured` set. Throws kvsim::Error before measuring when out_path exists and force is off, or a suite name is
// unknown. The profile is rewritten after every suite, marked `complete: false` until the last, so a run that is
// stopped keeps what it measured; a shape or suite that fails is logged on `log`, recorded in `measured.failures` and
// skipped. With require_gpu, no usable GPU throws before anything is measured, and any failure throws after the
// profile is written.
hw::HardwareProfile calibrate(const CalibrateOptions& options, const hw::HardwareProfile& base, std::ostream& log);

// One profile from the raw samples of several measured profiles of one GPU (e.g. one `kvsim calibrate --suites X`
// run per suite, each under its own timeout): samples, suites and failures pooled and fitted again; the datasheet
// numbers from `base`, else from the first input. Writes options.out_path (force as in calibrate).
hw::HardwareProfile refit_profiles(const std::vector<std::string>& inputs, const CalibrateOptions& options,
                                   const std::optional<hw::HardwareProfile>& base, std::ostream& log);

// "2025-01-31T12:34:56Z"
std::string utc_now_iso8601();

}  // namespace kvsim::kernels
