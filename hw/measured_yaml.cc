#include "hw/measured_yaml.h"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>

#include "sim/core/error.h"
#include "sim/core/limits.h"

namespace kvsim::hw {

namespace {

const std::vector<std::string> kGemmDtypes = {"bf16", "fp16", "fp8", "int8", "fp32"};

[[noreturn]] void fail_item(const yaml::Map& m, std::string_view key, size_t i, const YAML::Node& item,
                            const std::string& message) {
  throw Error(yaml::place_of_node(item, *m.source()), fmt::format("{}[{}]: {}", m.path_of(key), i, message));
}

// A required non-empty list of positive numbers; each bad element is reported at its own place.
std::vector<double> read_positive_list(const yaml::Map& m, std::string_view key) {
  const YAML::Node n = m.raw(key);
  if (!n.IsDefined() || n.IsNull()) m.fail(key, "required key is missing (expected a list of numbers > 0)");
  if (!n.IsSequence() || n.size() == 0) m.fail_expected(key, "a non-empty list of numbers > 0");
  std::vector<double> out;
  for (size_t i = 0; i < n.size(); ++i) {
    double v = 0;
    try {
      v = n[i].as<double>();
    } catch (const YAML::Exception&) {
      fail_item(m, key, i, n[i], fmt::format("expected a number > 0, found {}", yaml::describe(n[i])));
    }
    if (!std::isfinite(v) || v <= 0 || v > limits::kMaxFlopsPerS) {
      fail_item(m, key, i, n[i],
                fmt::format("expected a number in (0 .. {:.0e}], found {}", limits::kMaxFlopsPerS, yaml::describe(n[i])));
    }
    out.push_back(v);
  }
  return out;
}

// {x_key: [...], y_key: [...]}: x strictly increasing, y positive, both the same length.
Curve read_curve(const yaml::Map& m, std::string_view x_key, std::string_view y_key, bool log_x) {
  Curve c;
  c.log_x = log_x;
  c.x = read_positive_list(m, x_key);
  c.y = read_positive_list(m, y_key);
  const YAML::Node xs = m.raw(x_key);
  for (size_t i = 1; i < c.x.size(); ++i) {
    if (c.x[i] <= c.x[i - 1]) {
      fail_item(m, x_key, i, xs[i],
                fmt::format("non-monotone sizes: {} follows {} (expected strictly increasing {})", c.x[i], c.x[i - 1],
                            x_key));
    }
  }
  if (c.y.size() != c.x.size()) {
    m.fail(y_key, fmt::format("has {} values but {} has {} (the arrays must have the same length)", c.y.size(), x_key,
                              c.x.size()));
  }
  m.finish();
  return c;
}

// The bandwidth curves the calibration suites write (kernels/cuda/pcie.cu, hbm.cu); a name outside them (a typo such
// as pcie/h2d_pinnd) would be silently unused.
const std::vector<std::string> kBandwidthCurves = {
    "pcie/h2d_pinned", "pcie/d2h_pinned", "pcie/h2d_pageable", "pcie/d2h_pageable", "pcie/duplex_pinned",
    "hbm/copy",        "hbm/copy_kernel", "hbm/memcpy_d2d",    "hbm/read",          "hbm/read_kernel",
    "hbm/write",       "hbm/write_kernel"};

bool known_bandwidth_curve(const std::string& name) {
  if (std::find(kBandwidthCurves.begin(), kBandwidthCurves.end(), name) != kBandwidthCurves.end()) return true;
  // Copies on several streams: pcie/streams_h2d/streams<N>.
  constexpr std::string_view streams = "pcie/streams_h2d/streams";
  return name.size() > streams.size() && name.starts_with(streams) &&
         name.find_first_not_of("0123456789", streams.size()) == std::string::npos;
}

std::map<std::string, Curve, std::less<>> read_keyed_curves(const yaml::Map& parent, std::string_view key) {
  std::map<std::string, Curve, std::less<>> out;
  const yaml::Map sec = parent.child(key);
  for (const auto& name : sec.keys()) {
    if (name.empty()) sec.fail(name, "expected a non-empty curve name");
    if (key == "bandwidth" && !known_bandwidth_curve(name)) {
      sec.fail(name, fmt::format("unknown bandwidth curve{} (expected {} or pcie/streams_h2d/streams<N>)",
                                 did_you_mean(name, kBandwidthCurves), join(kBandwidthCurves)));
    }
    out[name] = read_curve(sec.child(name), "bytes", "bytes_per_s", true);
  }
  sec.finish();
  return out;
}

std::map<int64_t, Curve> read_decode_attention(const yaml::Map& parent) {
  std::map<int64_t, Curve> out;
  const yaml::Map sec = parent.child("decode_attention");
  for (const auto& name : sec.keys()) {
    int64_t block_size = 0;
    size_t used = 0;
    try {
      block_size = std::stoll(name, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (used != name.size() || block_size < 1) {
      sec.fail(name, fmt::format("expected a block size (an integer >= 1) as the key, found '{}'", name));
    }
    out[block_size] = read_curve(sec.child(name), "context", "bytes_per_s", true);
  }
  sec.finish();
  return out;
}

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

YAML::Node flow_list(const std::vector<double>& values) {
  YAML::Node n(YAML::NodeType::Sequence);
  for (double v : values) n.push_back(yaml::number(v));
  n.SetStyle(YAML::EmitterStyle::Flow);
  return n;
}

YAML::Node curve_node(const Curve& c, const char* x_key, const char* y_key) {
  YAML::Node n(YAML::NodeType::Map);
  n[x_key] = flow_list(c.x);
  n[y_key] = flow_list(c.y);
  return n;
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
  p.bandwidth = read_keyed_curves(m, "bandwidth");
  p.gather = read_keyed_curves(m, "gather");
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
  p.decode_attention = read_decode_attention(m);
  if (m.has("prefill_attention")) {
    p.prefill_attention = read_curve(m.child("prefill_attention"), "tokens", "flops_per_s", true);
  } else {
    m.raw("prefill_attention");
  }
  p.prefill_attention_kernel = m.get_string("prefill_attention_kernel", "");
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
  if (!p.decode_attention.empty()) {
    YAML::Node sec(YAML::NodeType::Map);
    for (const auto& [bs, c] : p.decode_attention) {
      if (!c.empty()) sec[bs] = curve_node(c, "context", "bytes_per_s");
    }
    n["decode_attention"] = sec;
  }
  if (!p.prefill_attention.empty()) n["prefill_attention"] = curve_node(p.prefill_attention, "tokens", "flops_per_s");
  n["prefill_attention_kernel"] = p.prefill_attention_kernel;
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
