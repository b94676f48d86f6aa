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

namespace {

// The profile of `samples`: fitted, described, checked to load back (a fitting bug surfaces here, before anything is
// on disk), then written atomically. `complete` is false while suites are still to run.
hw::HardwareProfile write_profile(const std::vector<hw::RawSample>& samples, hw::MeasuredProfile meta,
                                  const hw::HardwareProfile& base, const std::string& out_path,
                                  const std::string& command_line) {
  hw::MeasuredProfile m = fit_measurements(samples);
  m.device = std::move(meta.device);
  m.driver_version = std::move(meta.driver_version);
  m.cuda_version = std::move(meta.cuda_version);
  m.date = meta.date.empty() ? utc_now_iso8601() : meta.date;
  m.command = command_line;
  m.suites = std::move(meta.suites);
  m.complete = meta.complete;
  m.failures = std::move(meta.failures);
  if (!meta.prefill_attention_note.empty() && m.prefill_attention_kernel != "sdpa-flash") {
    m.prefill_attention_note = meta.prefill_attention_note;
  }
  hw::HardwareProfile profile = base;
  profile.source = "measured";
  profile.name = fs::path(out_path).stem().string();
  profile.description = fmt::format("Measured by kvsim calibrate on {} at {} (base profile {}){}", m.device, m.date,
                                    base.name, m.complete ? "" : "; partial: calibration did not finish");
  profile.file = out_path;
  profile.measured = std::move(m);

  YAML::Emitter emitter;
  emitter << hw::hardware_to_yaml(profile);
  const std::string content =
      fmt::format("# written by: {}\n# date: {}\n{}\n", command_line, profile.measured->date, emitter.c_str());
  auto source = std::make_shared<yaml::Source>();
  source->file = out_path;
  hw::parse_hardware_yaml(yaml::load_string(content, source->file), source);
  write_file_atomic(out_path, content);
  return profile;
}

void log_held_out(const hw::MeasuredProfile& m, std::ostream& log) {
  for (const auto& h : m.held_out) {
    log << fmt::format("held-out check {}: {} points, mean |error| {:.1f} %, max {:.1f} %\n", h.curve, h.points,
                       100 * h.mean_abs_rel_error, 100 * h.max_abs_rel_error);
  }
}

}  // namespace

hw::HardwareProfile calibrate(const CalibrateOptions& options, const hw::HardwareProfile& base, std::ostream& log) {
  check_calibrate_options(options);
  const auto& names = calibrate_suite_names();
  SuiteOptions suite = options.suite;
  suite.quick = options.quick;
  suite.device = options.device;
  std::string why = "--host-only";
  std::optional<DeviceInfo> device;
  if (options.fake_suites) {
    device = options.fake_device;
    why = "no fake device";
  } else if (!options.host_only) {
    device = probe_device(options.device, &why);
  }
  std::vector<std::string> to_run;
  if (!device) {
    if (options.require_gpu) {
      throw Error(Place{"--require-gpu"}, fmt::format("no usable GPU: {}", why));
    }
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

  hw::MeasuredProfile meta;
  meta.device = device ? device->name : host_cpu_name();
  if (device) {
    meta.driver_version = device->driver_version;
    meta.cuda_version = device->cuda_version;
  }
  meta.date = utc_now_iso8601();
  // A shape that fails (an allocation, a shape the library refuses) is recorded and its suite goes on.
  std::string current;
  suite.failed = [&](const std::string& what) { meta.failures.push_back(current + ": " + what); };
  std::vector<hw::RawSample> samples, pending;  // pending: the running suite's samples so far
  hw::HardwareProfile profile;
  // A partial profile of everything measured so far: after each suite, every kPartialEvery within a suite, and when
  // the run is stopped (the interrupt watchdog allows 2 s; fitting and writing take milliseconds).
  constexpr auto kPartialEvery = std::chrono::seconds(20);
  auto last_write = std::chrono::steady_clock::now();
  auto write_partial = [&] {
    std::vector<hw::RawSample> all = samples;
    all.insert(all.end(), pending.begin(), pending.end());
    hw::MeasuredProfile partial = meta;
    partial.complete = false;
    if (!pending.empty()) partial.suites.push_back(current + " (partial)");
    profile = write_profile(all, partial, base, options.out_path, options.command_line);
    last_write = std::chrono::steady_clock::now();
  };
  bool partial_write_failed = false;
  suite.sample = [&](const hw::RawSample& s) {
    pending.push_back(s);
    if (std::chrono::steady_clock::now() - last_write < kPartialEvery) return;
    try {  // never into the suite: a failed write there would count as a failed shape
      write_partial();
    } catch (const Error& e) {
      last_write = std::chrono::steady_clock::now();
      if (!partial_write_failed) log << fmt::format("calibrate: could not write the partial profile: {}\n", e.what());
      partial_write_failed = true;
    }
  };
  for (size_t i = 0; i < to_run.size(); ++i) {
    throw_if_interrupted();
    current = to_run[i];
    pending.clear();
    const auto start = std::chrono::steady_clock::now();
    const size_t failures_before = meta.failures.size();
    try {
      auto got = options.fake_suites ? options.fake_suites(current, suite) : suite_function(current)(suite);
      if (current == "attention" && !options.fake_suites) {
        // Prefill from a production kernel where PyTorch is present; the simple kernel's curve stays the fallback,
        // also when the script's output cannot be read.
        std::string sdpa_why;
        std::vector<hw::RawSample> sdpa;
        try {
          sdpa = run_sdpa_prefill(suite, &sdpa_why);
        } catch (const Error& e) {
          sdpa_why = e.what();
        }
        if (sdpa.empty()) {
          meta.prefill_attention_note = fmt::format(
              "PyTorch flash SDPA not measured ({}); curve from kvsim's simple kernel, slower than production flash "
              "kernels",
              sdpa_why);
        }
        log << (sdpa.empty()
                    ? fmt::format("calibrate: prefill attention from kvsim's simple kernel ({})\n", sdpa_why)
                    : fmt::format("calibrate: prefill attention from PyTorch flash SDPA ({} samples)\n", sdpa.size()));
        got.insert(got.end(), sdpa.begin(), sdpa.end());
      }
      const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      log << fmt::format("calibrate [{}/{}] {}: {} samples in {:.1f} s{}\n", i + 1, to_run.size(), current, got.size(),
                         seconds,
                         meta.failures.size() > failures_before
                             ? fmt::format(", {} shapes failed", meta.failures.size() - failures_before)
                             : "");
      samples.insert(samples.end(), got.begin(), got.end());
      pending.clear();
      meta.suites.push_back(current);
    } catch (const Interrupted&) {
      // Ctrl-C or a timeout's SIGINT: keep what was measured, marked partial, and stop.
      write_partial();
      log << fmt::format("calibrate: stopped during {}; {} wrote what was measured ({} samples), marked partial\n",
                         current, options.out_path, profile.measured->samples.size());
      throw;
    } catch (const Error& e) {
      meta.failures.push_back(fmt::format("{}: {}", current, e.what()));
      log << fmt::format("calibrate [{}/{}] {}: failed, skipped: {}\n", i + 1, to_run.size(), current, e.what());
      // The samples measured before the failure stay, and say so.
      if (!pending.empty()) meta.suites.push_back(current + " (failed)");
      samples.insert(samples.end(), pending.begin(), pending.end());
      pending.clear();
    }
    // Written after every suite: a run cut short (Ctrl-C, a timeout, a crash in the next suite) keeps what it
    // measured, marked partial.
    meta.complete = i + 1 == to_run.size() && !interrupted();  // a suite's child (PyTorch SDPA) may have been stopped
    profile = write_profile(samples, meta, base, options.out_path, options.command_line);
    last_write = std::chrono::steady_clock::now();
    log.flush();
    throw_if_interrupted();
  }
  log_held_out(*profile.measured, log);
  if (options.require_gpu && !profile.measured->failures.empty()) {
    throw Error(Place{options.out_path},
                fmt::format("written, but {} measurement(s) failed (--require-gpu): {}",
                            profile.measured->failures.size(), profile.measured->failures.front()));
  }
  return profile;
}

hw::HardwareProfile refit_profiles(const std::vector<std::string>& inputs, const CalibrateOptions& options,
                                   const std::optional<hw::HardwareProfile>& base, std::ostream& log) {
  if (inputs.empty()) throw Error(Place{"--refit"}, "expected one or more measured profiles, found none");
  check_calibrate_options(options);
  std::vector<hw::RawSample> samples;
  hw::MeasuredProfile meta;
  std::optional<hw::HardwareProfile> first;
  meta.complete = true;
  for (const auto& path : inputs) {
    hw::HardwareProfile p = hw::load_hardware(path);
    if (!p.measured) throw Error(Place{path}, "expected a measured profile (source: measured), found none");
    const hw::MeasuredProfile& m = *p.measured;
    if (first && m.device != first->measured->device) {
      throw Error(Place{path}, fmt::format("measured on '{}', but {} was measured on '{}': refit one GPU at a time",
                                           m.device, first->file, first->measured->device));
    }
    samples.insert(samples.end(), m.samples.begin(), m.samples.end());
    for (const auto& s : m.suites) {
      if (std::find(meta.suites.begin(), meta.suites.end(), s) == meta.suites.end()) meta.suites.push_back(s);
    }
    meta.failures.insert(meta.failures.end(), m.failures.begin(), m.failures.end());
    meta.complete = meta.complete && m.complete;
    if (meta.prefill_attention_note.empty()) meta.prefill_attention_note = m.prefill_attention_note;
    log << fmt::format("refit: {} samples of {} from {}\n", m.samples.size(), join(m.suites), path);
    if (!first) first = std::move(p);
  }
  meta.device = first->measured->device;
  meta.driver_version = first->measured->driver_version;
  meta.cuda_version = first->measured->cuda_version;
  meta.date = first->measured->date;
  hw::HardwareProfile b = base ? *base : *first;
  b.measured.reset();
  const hw::HardwareProfile profile = write_profile(samples, meta, b, options.out_path, options.command_line);
  log_held_out(*profile.measured, log);
  return profile;
}

}  // namespace kvsim::kernels
