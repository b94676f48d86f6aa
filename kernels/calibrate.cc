#include "kernels/calibrate.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <tuple>

#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

#include "hw/hardware_loader.h"
#include "kernels/sdpa.h"
#include "sim/core/atomic_file.h"
#include "sim/core/error.h"
#include "sim/core/interrupt.h"
#include "sim/core/yaml.h"

namespace kvsim::kernels {

namespace {

namespace fs = std::filesystem;
std::string host_cpu_name() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("model name", 0) == 0) {
      const size_t colon = line.find(':');
      if (colon != std::string::npos && colon + 2 <= line.size()) return "host CPU: " + line.substr(colon + 2);
    }
  }
  return "host CPU";
}

using SuiteFn = std::vector<hw::RawSample> (*)(const SuiteOptions&);

SuiteFn suite_function(const std::string& name) {
  static const std::map<std::string, SuiteFn> kSuites = {{"pcie", run_pcie_suite},
                                                         {"hbm", run_hbm_suite},
                                                         {"gather", run_gather_suite},
                                                         {"gemm", run_gemm_suite},
                                                         {"attention", run_attention_suite},
                                                         {"launch", run_launch_suite},
                                                         {"host", run_host_suite}};
  return kSuites.at(name);
}

}  // namespace

const std::vector<std::string>& calibrate_suite_names() {
  static const std::vector<std::string> kNames = {"pcie", "hbm", "gather", "gemm", "attention", "launch", "host"};
  return kNames;
}

std::string utc_now_iso8601() {
  const std::time_t now = std::time(nullptr);
  std::tm utc{};
  gmtime_r(&now, &utc);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &utc);
  return buf;
}


void check_calibrate_options(const CalibrateOptions& options) {
  if (options.out_path.empty()) throw Error("calibrate: an output path is required (--out PROFILE.yaml)");
  if (!options.force && fs::exists(options.out_path)) {
    throw Error(Place{options.out_path}, "already exists; pass --force to overwrite it");
  }
  const auto& names = calibrate_suite_names();
  for (const auto& s : options.suites) {
    if (std::find(names.begin(), names.end(), s) == names.end()) {
      throw Error(Place{"--suites"},
                  fmt::format("unknown suite '{}'{}; valid: {}", s, did_you_mean(s, names), join(names)));
    }
  }
}

hw::HardwareProfile calibrate(const CalibrateOptions& options, const hw::HardwareProfile& base, std::ostream& log) {
  check_calibrate_options(options);
  const auto& names = calibrate_suite_names();
  SuiteOptions suite = options.suite;
  suite.quick = options.quick;
  suite.device = options.device;
  std::string why = "--host-only";
  std::optional<DeviceInfo> device;
  if (!options.host_only) device = probe_device(options.device, &why);
  std::vector<std::string> to_run;
  if (!device) {
    log << fmt::format("no GPU ({}): running the host suite only\n", why);
    to_run = {"host"};
  } else {
    for (const auto& name : names) {
      if (options.suites.empty() ||
          std::find(options.suites.begin(), options.suites.end(), name) != options.suites.end()) {
        to_run.push_back(name);
      }
    }
    if (suite.gemm_dtypes.empty()) {
      suite.gemm_dtypes = {"bf16", "fp16"};
      if (device->cc_major * 10 + device->cc_minor >= 89) suite.gemm_dtypes.push_back("fp8");
    }
    if (suite.gemm_tokens.empty()) {
      suite.gemm_tokens =
          options.quick ? std::vector<int64_t>{1, 16, 128, 1024, 8192}
                        : std::vector<int64_t>{1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384};
    }
  }

  std::vector<hw::RawSample> samples;
  std::vector<std::string> ran;
  for (size_t i = 0; i < to_run.size(); ++i) {
    throw_if_interrupted();
    const auto& name = to_run[i];
    const auto start = std::chrono::steady_clock::now();
    try {
      auto got = suite_function(name)(suite);
      if (name == "attention") {
        // Prefill from a production kernel where PyTorch is present; the simple kernel's curve stays the fallback.
        std::string sdpa_why;
        const auto sdpa = run_sdpa_prefill(suite, &sdpa_why);
        log << (sdpa.empty()
                    ? fmt::format("calibrate: prefill attention from kvsim's simple kernel ({})\n", sdpa_why)
                    : fmt::format("calibrate: prefill attention from PyTorch flash SDPA ({} samples)\n", sdpa.size()));
        got.insert(got.end(), sdpa.begin(), sdpa.end());
      }
      const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      log << fmt::format("calibrate [{}/{}] {}: {} samples in {:.1f} s\n", i + 1, to_run.size(), name, got.size(),
                         seconds);
      samples.insert(samples.end(), got.begin(), got.end());
      ran.push_back(name);
    } catch (const Interrupted&) {
      throw;  // Ctrl-C: nothing is written (the profile is written whole, at the end, or not at all)
    } catch (const Error& e) {
      log << fmt::format("calibrate [{}/{}] {}: failed, skipped: {}\n", i + 1, to_run.size(), name, e.what());
    }
    log.flush();
  }

  throw_if_interrupted();  // a suite's child process (PyTorch SDPA) may have been the one stopped
  hw::MeasuredProfile m = fit_measurements(samples);
  for (const auto& h : m.held_out) {
    log << fmt::format("held-out check {}: {} points, mean |error| {:.1f} %, max {:.1f} %\n", h.curve, h.points,
                       100 * h.mean_abs_rel_error, 100 * h.max_abs_rel_error);
  }
  m.device = device ? device->name : host_cpu_name();
  if (device) {
    m.driver_version = device->driver_version;
    m.cuda_version = device->cuda_version;
  }
  m.date = utc_now_iso8601();
  m.command = options.command_line;
  m.suites = ran;

  hw::HardwareProfile profile = base;
  profile.source = "measured";
  profile.name = fs::path(options.out_path).stem().string();
  profile.description =
      fmt::format("Measured by kvsim calibrate on {} at {} (base profile {})", m.device, m.date, base.name);
  profile.file = options.out_path;
  profile.measured = std::move(m);

  YAML::Emitter emitter;
  emitter << hw::hardware_to_yaml(profile);
  const std::string content =
      fmt::format("# written by: {}\n# date: {}\n{}\n", options.command_line, profile.measured->date, emitter.c_str());
  // What we write must load back: a fitting bug surfaces here, before anything is on disk.
  auto source = std::make_shared<yaml::Source>();
  source->file = options.out_path;
  hw::parse_hardware_yaml(yaml::load_string(content, source->file), source);
  write_file_atomic(options.out_path, content);
  return profile;
}

}  // namespace kvsim::kernels
