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
using Points = std::vector<std::pair<double, double>>;

// A held-out check needs at least two points to fit and two to predict.
constexpr size_t kMinHeldOutSizes = 4;
// Decode attention is memory-bound, and comparable to production kernels, only with enough sequences in the batch.
constexpr double kMinDecodeBatch = 32;

double param(const hw::RawSample& s, const char* key, double def) {
  const auto it = s.params.find(key);
  return it == s.params.end() ? def : it->second;
}

double median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 == 1 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

size_t distinct_x(const Points& points) {
  std::vector<double> xs;
  for (const auto& p : points) {
    if (std::isfinite(p.first) && p.first > 0) xs.push_back(p.first);
  }
  std::sort(xs.begin(), xs.end());
  return static_cast<size_t>(std::unique(xs.begin(), xs.end()) - xs.begin());
}

// Median latency over the samples at the two smallest sizes, where the fixed per-copy cost dominates.
double small_copy_latency_ns(Points latency) {
  std::sort(latency.begin(), latency.end());
  std::vector<double> values;
  int sizes = 0;
  double last = -1;
  for (const auto& [bytes, ns] : latency) {
    if (bytes != last) {
      if (++sizes > 2) break;
      last = bytes;
    }
    values.push_back(ns);
  }
  return median(values);
}

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

hw::MeasuredProfile fit_measurements(const std::vector<hw::RawSample>& samples) {
  hw::MeasuredProfile m;
  std::map<std::string, Points> bandwidth, gather, prefill;
  std::map<int64_t, Points> decode;
  std::map<std::tuple<std::string, int64_t, int64_t, int64_t>, std::vector<double>> gemm;  // (dtype, n, k, m)
  Points latency, host;
  std::vector<double> launch, graph, pinned;

  for (const auto& s : samples) {
    if (!std::isfinite(s.value)) continue;
    m.samples.push_back(s);
    if (s.series == "pinned_alloc") {
      // bytes/s directly, or the time to allocate `bytes`.
      const double bytes = param(s, "bytes", 0);
      if (s.unit == "bytes_per_s" && s.value > 0) pinned.push_back(s.value);
      if (s.unit == "ns" && s.value > 0 && bytes > 0) pinned.push_back(bytes / (s.value * 1e-9));
      continue;
    }
    const bool positive = s.value > 0;
    if (s.suite == "pcie" || s.suite == "hbm") {
      if (s.series.rfind("latency", 0) == 0) {
        if (positive) latency.emplace_back(param(s, "bytes", 0), s.value);
      } else if (positive) {
        // Copies on several streams at once are their own curve per stream count: "pcie/streams_h2d/streams4".
        const double streams = param(s, "streams", 0);
        const std::string key = s.suite + "/" + s.series + (streams > 0 ? fmt::format("/streams{}", streams) : "");
        bandwidth[key].emplace_back(param(s, "bytes", NAN), s.value);
      }
    } else if (s.suite == "gather") {
      if (positive) gather[s.series].emplace_back(param(s, "bytes", NAN), s.value);
    } else if (s.suite == "gemm") {
      const auto dm = static_cast<int64_t>(param(s, "m", 0));
      const auto dn = static_cast<int64_t>(param(s, "n", 0));
      const auto dk = static_cast<int64_t>(param(s, "k", 0));
      const std::string dtype = s.series.substr(0, s.series.find('/'));
      if (positive && dm > 0 && dn > 0 && dk > 0 && !dtype.empty()) gemm[{dtype, dn, dk, dm}].push_back(s.value);
    } else if (s.suite == "attention") {
      if (s.series.rfind("decode/bs", 0) == 0) {
        int64_t block_size = 0;
        try {
          block_size = std::stoll(s.series.substr(9));
        } catch (const std::exception&) {
          continue;
        }
        if (positive && block_size > 0 && param(s, "batch", kMinDecodeBatch) >= kMinDecodeBatch) {
          decode[block_size].emplace_back(param(s, "context", NAN), s.value);
        }
      } else if (s.series.rfind("prefill/", 0) == 0 && s.series.size() > 8 && positive) {
        prefill[s.series.substr(8)].emplace_back(param(s, "tokens", NAN), s.value);
      }
    } else if (s.suite == "launch") {
      if (positive) (s.series.rfind("graph", 0) == 0 ? graph : launch).push_back(s.value);
    } else if (s.suite == "host") {
      if (s.series == "memcpy" && positive) host.emplace_back(param(s, "threads", NAN), s.value);
    }
  }

  for (const auto& [key, points] : bandwidth) {
    hw::Curve c = hw::fit_curve(points, true, true);
    if (c.empty()) continue;
    m.bandwidth[key] = std::move(c);
    if (distinct_x(points) >= kMinHeldOutSizes) {
      m.held_out.push_back(hw::held_out_check("bandwidth/" + key, points, true, true));
    }
  }
  for (const auto& [key, points] : gather) {
    hw::Curve c = hw::fit_curve(points, true, true);
    if (c.empty()) continue;
    m.gather[key] = std::move(c);
    if (distinct_x(points) >= kMinHeldOutSizes) {
      m.held_out.push_back(hw::held_out_check("gather/" + key, points, true, true));
    }
  }
  for (const auto& [key, values] : gemm) {
    const auto& [dtype, n, k, gm] = key;
    m.gemm.push_back(hw::GemmPoint{dtype, gm, n, k, median(values)});
  }
  for (const auto& [block_size, points] : decode) {
    hw::Curve c = hw::fit_curve(points, true, false);
    if (!c.empty()) m.decode_attention[block_size] = std::move(c);
  }
  // A production kernel's curve (PyTorch SDPA flash) when the validation harness measured one, else the kernel with
  // the most points.
  const std::pair<const std::string, Points>* chosen = nullptr;
  for (const auto& entry : prefill) {
    if (entry.first == "sdpa-flash") {
      chosen = &entry;
      break;
    }
    if (chosen == nullptr || entry.second.size() > chosen->second.size()) chosen = &entry;
  }
  if (chosen != nullptr) {
    m.prefill_attention = hw::fit_curve(chosen->second, true, false);
    if (!m.prefill_attention.empty()) m.prefill_attention_kernel = chosen->first;
  }
  if (!host.empty()) m.host_memcpy = hw::fit_curve(host, false, false);
  m.pcie_latency_ns = small_copy_latency_ns(latency);
  m.launch_ns = median(launch);
  m.graph_replay_ns = median(graph);
  m.pinned_alloc_bytes_per_s = median(pinned);
  return m;
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
