// `kvsim calibrate --import vidur DIR`: a measured hardware profile from Vidur's published operator profiles (no GPU
// needed). Reads the profiles (models/vidur_profiles.h), fits the operator model's parameters on them
// (models/operator_fit.h), prints its leave-one-model-out errors per op family and, with --check, its errors on another
// GPU predicted from that GPU's datasheet alone, and writes the base profile with `source: measured`, the fitted
// parameters, GEMM points, decode and prefill attention curves, and where the data came from.
#include <cmath>
#include <filesystem>
#include <map>
#include <set>

#include <fmt/format.h>

#include "apps/commands.h"
#include "hw/hardware_loader.h"
#include "hw/measured_yaml.h"
#include "kernels/calibrate.h"
#include "models/operator_fit.h"
#include "sim/core/atomic_file.h"
#include "sim/core/input_file.h"
#include "sim/core/error.h"
#include "sim/core/yaml.h"

namespace kvsim::app {

namespace {

// GEMM points kept per shape: M = 1, 2, 3, 4, 6, 8, 12, ... (powers of two and 1.5x them) keep the profile small.
bool kept_m(double m) {
  const double l = std::log2(m);
  return std::abs(l - std::round(l)) < 1e-9 || std::abs(std::log2(m / 3.0) - std::round(std::log2(m / 3.0))) < 1e-9;
}

hw::MeasuredProfile measured_from(const std::vector<models::OpSample>& samples, const models::OperatorParams& p) {
  hw::MeasuredProfile m;
  std::map<std::tuple<int64_t, int64_t, int64_t>, std::vector<double>> gemm;
  std::vector<std::pair<double, double>> decode, prefill;
  for (const auto& s : samples) {
    if (s.family == "gemm" && kept_m(s.m)) {
      gemm[{static_cast<int64_t>(s.n), static_cast<int64_t>(s.k), static_cast<int64_t>(s.m)}].push_back(
          2.0 * s.m * s.n * s.k / s.seconds);
    } else if (s.family == "attention_decode" && s.tokens >= 32) {
      decode.emplace_back(s.kv_tokens / s.tokens, s.kv_bytes / s.seconds);
    } else if (s.family == "attention_prefill") {
      prefill.emplace_back(s.tokens_per_seq, s.flops / s.seconds);
    }
  }
  for (auto& [key, v] : gemm) {
    std::sort(v.begin(), v.end());
    const auto& [n, k, mm] = key;
    m.gemm.push_back(hw::GemmPoint{"fp16", mm, n, k, v[v.size() / 2]});
  }
  if (!decode.empty()) m.decode_attention[16] = hw::fit_curve(decode, true, false);
  if (!prefill.empty()) {
    m.prefill_attention = hw::fit_curve(prefill, true, false);
    m.prefill_attention_kernel = "vidur-flashinfer";
  }
  for (const std::string& family : models::operator_families()) {
    const std::vector<std::string>& names = models::family_params(family);
    const std::vector<double> values = p.get(family);
    for (size_t i = 0; i < names.size(); ++i) m.operator_model[family][names[i]] = values[i];
  }
  return m;
}

std::string percent(double v) { return fmt::format("{:.1f} %", 100 * v); }

}  // namespace

int cmd_import_profiles(const CalibrateArgs& args, std::ostream& out, std::ostream& err) {
  if (args.import.size() != 2 || args.import[0] != "vidur") {
    throw Error(Place{"--import"}, fmt::format("expected 'vidur DIR', found '{}'", join(args.import)));
  }
  if (args.base.empty())
    throw Error(Place{"--base"}, "required with --import: the catalog profile of the measured GPU");
  if (args.check.empty() != args.check_base.empty()) {
    throw Error(Place{args.check.empty() ? "--check" : "--check-base"}, "--check and --check-base go together");
  }
  if (args.out.empty()) throw Error(Place{"--out"}, "required: the profile YAML to write");
  std::error_code ec;
  if (!args.force && std::filesystem::exists(args.out, ec)) {
    throw Error(Place{args.out}, "exists: pass --force to overwrite it");
  }
  const hw::HardwareProfile base = hw::load_hardware(args.base);
  std::vector<models::OpSample> samples = models::read_vidur_profiles(args.import[1]);
  for (const std::string& dir : args.also) {
    for (auto& s : models::read_vidur_profiles(dir)) samples.push_back(std::move(s));
  }
  const models::GpuRates rates = models::gpu_rates(base.gpu, base.peak_flops(DType::kFp16));
  err << fmt::format("calibrate --import: {} operator samples from {}; fitting the operator model\n", samples.size(),
                     args.import[1]);
  const models::OperatorParams start = models::fitted_operator_params();
  models::OperatorParams p = models::fit_all(samples, rates, start);
  const std::vector<models::ErrorStats> lomo = models::leave_one_model_out(samples, rates, start);
  std::vector<models::ErrorStats> check;
  if (!args.check.empty()) {
    const hw::HardwareProfile other = hw::load_hardware(args.check_base);
    check = models::errors(p, models::gpu_rates(other.gpu, other.peak_flops(DType::kFp16)),
                           models::read_vidur_profiles(args.check));
  }

  out << fmt::format("operator model fitted on {} ({}):\n", args.base, args.import[1]);
  for (const std::string& family : models::operator_families()) {
    const std::vector<std::string>& names = models::family_params(family);
    const std::vector<double> v = p.get(family);
    std::string line;
    for (size_t i = 0; i < names.size(); ++i) line += fmt::format("{}{} {:.4g}", i ? ", " : "", names[i], v[i]);
    out << fmt::format("  {:<18} {}\n", family, line);
  }
  out << fmt::format("\n|predicted / measured - 1| per op family{}:\n",
                     check.empty() ? "" : ", and on " + args.check_base);
  out << fmt::format("  {:<18} {:>8} {:>12} {:>12}", "family", "samples", "LOMO median", "LOMO p95");
  if (!check.empty()) out << fmt::format(" {:>8} {:>12} {:>12}", "samples", "check median", "check p95");
  out << "\n";
  for (const std::string& family : models::operator_families()) {
    const auto find = [&](const std::vector<models::ErrorStats>& v) -> const models::ErrorStats* {
      for (const auto& e : v) {
        if (e.family == family) return &e;
      }
      return nullptr;
    };
    const models::ErrorStats* a = find(lomo);
    const models::ErrorStats* c = find(check);
    if (!a && !c) continue;
    out << fmt::format("  {:<18} {:>8} {:>12} {:>12}", family, a ? a->samples : 0, a ? percent(a->median) : "-",
                       a ? percent(a->p95) : "-");
    if (!check.empty()) {
      out << fmt::format(" {:>8} {:>12} {:>12}", c ? c->samples : 0, c ? percent(c->median) : "-",
                         c ? percent(c->p95) : "-");
    }
    out << "\n";
  }

  hw::HardwareProfile profile = base;
  profile.source = "measured";
  profile.name = std::filesystem::path(args.out).stem().string();
  hw::MeasuredProfile m = measured_from(samples, p);
  m.device = base.gpu.model;
  m.date = kernels::utc_now_iso8601();
  m.command = args.command_line;
  m.suites = {"vidur-import"};
  std::string dirs = args.import[1];
  for (const auto& d : args.also) dirs += ", " + d;
  m.origin = "Vidur operator profiles (github.com/microsoft/vidur data/profiling, MIT): " + dirs;
  profile.description = fmt::format("{} with operator times imported from Vidur's profiles", base.description);
  profile.file = args.out;
  profile.measured = std::move(m);
  YAML::Emitter emitter;
  emitter << hw::hardware_to_yaml(profile);
  const std::string content = fmt::format("# written by: {}\n{}\n", args.command_line, emitter.c_str());
  auto source = std::make_shared<yaml::Source>();
  source->file = args.out;
  hw::parse_hardware_yaml(yaml::load_string(content, source->file), source);  // what we write must load back
  check_may_write(args.out, args.force);
  write_file_atomic(args.out, content);
  out << fmt::format("\nwrote {}: {} GEMM points, decode and prefill attention curves, the fitted operator model\n",
                     args.out, profile.measured->gemm.size());
  return 0;
}

}  // namespace kvsim::app
