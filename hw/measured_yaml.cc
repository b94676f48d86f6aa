#include "hw/measured_yaml.h"

#include <fmt/format.h>

#include "hw/measured_curves_yaml.h"
#include "sim/core/error.h"
#include "sim/core/limits.h"

namespace kvsim::hw {

namespace {

using detail::curve_node;
using detail::fail_item;
using detail::read_curve;

const std::vector<std::string> kGemmDtypes = {"bf16", "fp16", "fp8", "int8", "fp32"};

// A list of mappings, each read by `read_one` from a yaml::Map named "<key>[i]".
template <typename T, typename F>
std::vector<T> read_list(const yaml::Map& m, std::string_view key, F read_one) {
  std::vector<T> out;
  const YAML::Node n = m.raw(key);
  if (!n.IsDefined() || n.IsNull()) return out;
  if (!n.IsSequence()) m.fail_expected(key, "a list of mappings");
  for (size_t i = 0; i < n.size(); ++i) {
    const yaml::Map item(n[i], m.source(), fmt::format("{}[{}]", m.path_of(key), i));
    out.push_back(read_one(item));
    item.finish();
  }
  return out;
}

std::vector<std::string> read_string_list(const yaml::Map& m, std::string_view key) {
  std::vector<std::string> out;
  const YAML::Node n = m.raw(key);
  if (!n.IsDefined() || n.IsNull()) return out;
  if (!n.IsSequence()) m.fail_expected(key, "a list of strings");
  for (size_t i = 0; i < n.size(); ++i) {
    if (!n[i].IsScalar() || n[i].Scalar().empty()) {
      fail_item(m, key, i, n[i], fmt::format("expected a non-empty string, found {}", yaml::describe(n[i])));
    }
    out.push_back(n[i].Scalar());
  }
  return out;
}

}  // namespace

MeasuredProfile parse_measured_yaml(const yaml::Map& m) {
  MeasuredProfile p;
  p.device = m.get_string("device", "");
  p.driver_version = m.get_string("driver_version", "");
  p.cuda_version = m.get_string("cuda_version", "");
  p.date = m.get_string("date", "");
  p.command = m.get_string("command", "");
  p.suites = read_string_list(m, "suites");
  p.complete = m.get_bool("complete", true);
  p.failures = read_string_list(m, "failures");
  p.bandwidth = detail::read_keyed_curves(m, "bandwidth");
  p.gather = detail::read_keyed_curves(m, "gather");
  p.gemm = read_list<GemmPoint>(m, "gemm", [](const yaml::Map& item) {
    GemmPoint g;
    g.dtype = item.get_choice("dtype", "", kGemmDtypes);
    if (g.dtype.empty()) item.fail("dtype", "required key is missing (expected one of " + join(kGemmDtypes) + ")");
    g.m = item.req_int("m", 1, limits::kMaxPositions);
    g.n = item.req_int("n", 1, limits::kMaxPositions);
    g.k = item.req_int("k", 1, limits::kMaxPositions);
    g.flops_per_s = item.req_double("flops_per_s", 0, limits::kMaxFlopsPerS, true);
    return g;
  });
  p.decode_attention = detail::read_decode_attention(m);
  if (m.has("prefill_attention")) {
    p.prefill_attention = read_curve(m.child("prefill_attention"), "tokens", "flops_per_s", true);
  } else {
    m.raw("prefill_attention");
  }
  p.prefill_attention_kernel = m.get_string("prefill_attention_kernel", "");
  p.prefill_attention_note = m.get_string("prefill_attention_note", "");
  if (m.has("host_memcpy")) {
    p.host_memcpy = read_curve(m.child("host_memcpy"), "threads", "bytes_per_s", false);
  } else {
    m.raw("host_memcpy");
  }
  p.pcie_latency_ns = m.get_double("pcie_latency_ns", 0, 0, limits::kMaxLatencyNs);
  p.launch_ns = m.get_double("launch_ns", 0, 0, limits::kMaxLatencyNs);
  p.graph_replay_ns = m.get_double("graph_replay_ns", 0, 0, limits::kMaxLatencyNs);
  p.pinned_alloc_bytes_per_s = m.get_double("pinned_alloc_bytes_per_s", 0, 0, limits::kMaxBytesPerS);
  p.held_out = read_list<HeldOut>(m, "held_out", [](const yaml::Map& item) {
    HeldOut h;
    h.curve = item.req_string("curve");
    h.points = item.req_int("points", 0, int64_t{1} << 40);
    h.mean_abs_rel_error = item.req_double("mean_abs_rel_error", 0, limits::kMaxFactor);
    h.max_abs_rel_error = item.req_double("max_abs_rel_error", 0, limits::kMaxFactor);
    return h;
  });
  p.origin = m.get_string("origin", "");
  if (m.has("operator_model")) {
    const yaml::Map families = m.child("operator_model");
    for (const auto& family : families.keys()) {
      const yaml::Map params = families.child(family);
      for (const auto& key : params.keys()) p.operator_model[family][key] = params.req_double(key, 0, limits::kMaxFlopsPerS);
      params.finish();
    }
    families.finish();
  } else {
    m.raw("operator_model");
  }
  p.samples = read_list<RawSample>(m, "samples", [](const yaml::Map& item) {
    RawSample s;
    s.suite = item.req_string("suite");
    s.series = item.get_string("series", "");
    const yaml::Map params = item.child("params");
    for (const auto& key : params.keys()) s.params[key] = params.req_double(key, -limits::kMaxFlopsPerS, limits::kMaxFlopsPerS);
    params.finish();
    s.value = item.req_double("value", -limits::kMaxFlopsPerS, limits::kMaxFlopsPerS);
    s.unit = item.get_string("unit", "");
    return s;
  });
  m.finish();
  return p;
}

YAML::Node measured_to_yaml(const MeasuredProfile& p) {
  YAML::Node n(YAML::NodeType::Map);
  n["device"] = p.device;
  n["driver_version"] = p.driver_version;
  n["cuda_version"] = p.cuda_version;
  n["date"] = p.date;
  n["command"] = p.command;
  YAML::Node suites(YAML::NodeType::Sequence);
  for (const auto& s : p.suites) suites.push_back(s);
  suites.SetStyle(YAML::EmitterStyle::Flow);
  n["suites"] = suites;
  if (!p.complete) n["complete"] = false;
  if (!p.failures.empty()) {
    YAML::Node failures(YAML::NodeType::Sequence);
    for (const auto& f : p.failures) failures.push_back(f);
    n["failures"] = failures;
  }
  for (const auto& [key, curves] : {std::pair{"bandwidth", &p.bandwidth}, std::pair{"gather", &p.gather}}) {
    if (curves->empty()) continue;
    YAML::Node sec(YAML::NodeType::Map);
    for (const auto& [name, c] : *curves) {
      if (!c.empty()) sec[name] = curve_node(c, "bytes", "bytes_per_s");
    }
    n[key] = sec;
  }
  if (!p.gemm.empty()) {
    YAML::Node gemm(YAML::NodeType::Sequence);
    for (const auto& g : p.gemm) {
      YAML::Node item(YAML::NodeType::Map);
      item["dtype"] = g.dtype;
      item["m"] = g.m;
      item["n"] = g.n;
      item["k"] = g.k;
      item["flops_per_s"] = yaml::number(g.flops_per_s);
      item.SetStyle(YAML::EmitterStyle::Flow);
      gemm.push_back(item);
    }
    n["gemm"] = gemm;
  }
  if (YAML::Node decode = detail::decode_attention_node(p.decode_attention); decode.size() > 0) {
    n["decode_attention"] = decode;
  }
  if (!p.prefill_attention.empty()) n["prefill_attention"] = curve_node(p.prefill_attention, "tokens", "flops_per_s");
  n["prefill_attention_kernel"] = p.prefill_attention_kernel;
  if (!p.prefill_attention_note.empty()) n["prefill_attention_note"] = p.prefill_attention_note;
  if (!p.host_memcpy.empty()) n["host_memcpy"] = curve_node(p.host_memcpy, "threads", "bytes_per_s");
  n["pcie_latency_ns"] = yaml::number(p.pcie_latency_ns);
  n["launch_ns"] = yaml::number(p.launch_ns);
  n["graph_replay_ns"] = yaml::number(p.graph_replay_ns);
  n["pinned_alloc_bytes_per_s"] = yaml::number(p.pinned_alloc_bytes_per_s);
  if (!p.held_out.empty()) {
    YAML::Node held(YAML::NodeType::Sequence);
    for (const auto& h : p.held_out) {
      YAML::Node item(YAML::NodeType::Map);
      item["curve"] = h.curve;
      item["points"] = h.points;
      item["mean_abs_rel_error"] = yaml::number(h.mean_abs_rel_error);
      item["max_abs_rel_error"] = yaml::number(h.max_abs_rel_error);
      item.SetStyle(YAML::EmitterStyle::Flow);
      held.push_back(item);
    }
    n["held_out"] = held;
  }
  if (!p.origin.empty()) n["origin"] = p.origin;
  if (!p.operator_model.empty()) {
    YAML::Node families(YAML::NodeType::Map);
    for (const auto& [family, params] : p.operator_model) {
      YAML::Node f(YAML::NodeType::Map);
      for (const auto& [k, v] : params) f[k] = yaml::number(v);
      f.SetStyle(YAML::EmitterStyle::Flow);
      families[family] = f;
    }
    n["operator_model"] = families;
  }
  if (!p.samples.empty()) {
    YAML::Node samples(YAML::NodeType::Sequence);
    for (const auto& s : p.samples) {
      YAML::Node item(YAML::NodeType::Map);
      item["suite"] = s.suite;
      item["series"] = s.series;
      YAML::Node params(YAML::NodeType::Map);
      for (const auto& [k, v] : s.params) params[k] = yaml::number(v);
      item["params"] = params;
      item["value"] = yaml::number(s.value);
      item["unit"] = s.unit;
      item.SetStyle(YAML::EmitterStyle::Flow);
      samples.push_back(item);
    }
    n["samples"] = samples;
  }
  return n;
}

}  // namespace kvsim::hw
