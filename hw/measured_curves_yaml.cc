#include "hw/measured_curves_yaml.h"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>

#include "sim/core/error.h"
#include "sim/core/limits.h"

namespace kvsim::hw::detail {

namespace {

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

// read_curve without the finish(): the caller's mapping may hold more keys.
Curve read_curve_keys(const yaml::Map& m, std::string_view x_key, std::string_view y_key, bool log_x) {
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
  return c;
}

// The bandwidth curves the calibration suites write (kernels/cuda/pcie.cu, hbm.cu); a name outside them (a typo such
// as pcie/h2d_pinnd) would be silently unused.
const std::vector<std::string> kBandwidthCurves = {
    "pcie/h2d_pinned", "pcie/d2h_pinned", "pcie/h2d_pageable", "pcie/d2h_pageable", "pcie/duplex_pinned",
    "hbm/copy",        "hbm/copy_kernel", "hbm/memcpy_d2d",    "hbm/read",          "hbm/read_kernel",
    "hbm/write",       "hbm/write_kernel"};

// "<prefix><N>" with N an integer >= 1 written without leading zeros (so that it names one curve only).
bool has_count_suffix(std::string_view name, std::string_view prefix) {
  return name.size() > prefix.size() && name.starts_with(prefix) && name[prefix.size()] != '0' &&
         name.find_first_not_of("0123456789", prefix.size()) == std::string_view::npos;
}

bool known_bandwidth_curve(const std::string& name) {
  if (std::find(kBandwidthCurves.begin(), kBandwidthCurves.end(), name) != kBandwidthCurves.end()) return true;
  return has_count_suffix(name, "pcie/streams_h2d/streams");  // copies on several streams
}

// The gather suite's methods and granularities (kernels/cuda/gather.cu); cpu_staged is measured per host thread count.
const std::vector<std::string> kGatherMethods = {"per_row", "memcpy2d", "batched", "cpu_staged", "zero_copy"};
const std::vector<std::string> kGatherGranularities = {"token_head", "token_layer", "block"};

void check_gather_curve_name(const yaml::Map& sec, const std::string& name) {
  const size_t slash = name.find('/');
  const std::string method = name.substr(0, slash);
  if (std::find(kGatherMethods.begin(), kGatherMethods.end(), method) == kGatherMethods.end()) {
    sec.fail(name, fmt::format("unknown gather method '{}'{} (expected <method>/<granularity>, methods {})", method,
                               did_you_mean(method, kGatherMethods), join(kGatherMethods)));
  }
  const size_t slash2 = slash == std::string::npos ? slash : name.find('/', slash + 1);
  const std::string granularity =
      slash == std::string::npos ? ""
                                 : name.substr(slash + 1, slash2 == std::string::npos ? slash2 : slash2 - slash - 1);
  if (std::find(kGatherGranularities.begin(), kGatherGranularities.end(), granularity) == kGatherGranularities.end()) {
    sec.fail(name,
             fmt::format("unknown gather granularity '{}'{} (expected <method>/<granularity>, granularities {})",
                         granularity, did_you_mean(granularity, kGatherGranularities), join(kGatherGranularities)));
  }
  if (slash2 == std::string::npos) return;
  const std::string suffix = name.substr(slash2 + 1);
  if (method != "cpu_staged") {
    sec.fail(name, fmt::format("unexpected suffix '/{}': only cpu_staged curves carry one (/threads<N>)", suffix));
  }
  if (!has_count_suffix(suffix, "threads")) {
    sec.fail(name, fmt::format("unexpected suffix '/{}' (expected /threads<N>, N an integer >= 1)", suffix));
  }
}

// A mapping key that must be an integer >= 1 (a block size, a batch).
int64_t positive_key(const yaml::Map& sec, const std::string& name, std::string_view what, std::string_view hint = "") {
  int64_t value = 0;
  size_t used = 0;
  try {
    value = std::stoll(name, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used != name.size() || value < 1) {
    sec.fail(name, fmt::format("expected {} (an integer >= 1) as the key, found '{}'{}", what, name, hint));
  }
  return value;
}

}  // namespace

void fail_item(const yaml::Map& m, std::string_view key, size_t i, const YAML::Node& item, const std::string& message) {
  throw Error(yaml::place_of_node(item, *m.source()), fmt::format("{}[{}]: {}", m.path_of(key), i, message));
}

Curve read_curve(const yaml::Map& m, std::string_view x_key, std::string_view y_key, bool log_x) {
  Curve c = read_curve_keys(m, x_key, y_key, log_x);
  m.finish();
  return c;
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
    if (key == "gather") check_gather_curve_name(sec, name);
    out[name] = read_curve(sec.child(name), "bytes", "bytes_per_s", true);
  }
  sec.finish();
  return out;
}

std::map<int64_t, DecodeAttentionCurves> read_decode_attention(const yaml::Map& parent) {
  std::map<int64_t, DecodeAttentionCurves> out;
  const yaml::Map sec = parent.child("decode_attention");
  for (const auto& name : sec.keys()) {
    const int64_t block_size = positive_key(sec, name, "a block size");
    const yaml::Map entry = sec.child(name);
    DecodeAttentionCurves& curves = out[block_size];
    const bool by_batch = entry.has("batches");
    if (by_batch) {
      const yaml::Map batches = entry.child("batches");
      if (batches.keys().empty()) {
        entry.fail("batches", "expected a mapping of batch sizes to {context: [...], bytes_per_s: [...]}");
      }
      for (const auto& key : batches.keys()) {
        const int64_t batch = positive_key(
            batches, key, "a batch size",
            fmt::format("; a curve for every batch is written without batches: {}: {{context: [...], bytes_per_s: "
                        "[...]}}",
                        name));
        curves[batch] = read_curve(batches.child(key), "context", "bytes_per_s", true);
      }
      batches.finish();
    }
    // Without batches (profiles written before batches were kept apart): one curve for every batch.
    if (!by_batch || entry.has("context") || entry.has("bytes_per_s")) {
      curves[kAnyBatch] = read_curve_keys(entry, "context", "bytes_per_s", true);
    }
    entry.finish();
  }
  sec.finish();
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

YAML::Node decode_attention_node(const std::map<int64_t, DecodeAttentionCurves>& decode) {
  YAML::Node sec(YAML::NodeType::Map);
  for (const auto& [bs, curves] : decode) {
    YAML::Node entry(YAML::NodeType::Map), batches(YAML::NodeType::Map);
    bool has_batches = false;
    for (const auto& [batch, c] : curves) {
      if (c.empty()) continue;
      if (batch == kAnyBatch) {
        entry["context"] = flow_list(c.x);
        entry["bytes_per_s"] = flow_list(c.y);
      } else if (batch > kAnyBatch) {
        batches[batch] = curve_node(c, "context", "bytes_per_s");
        has_batches = true;
      }
    }
    if (has_batches) entry["batches"] = batches;
    if (entry.size() == 0) continue;
    sec[bs] = entry;
  }
  return sec;
}

}  // namespace kvsim::hw::detail
