// The run section of kvsim's HTML report: what was run, its key numbers, latency CDFs (TTFT, TPOT and E2E from
// requests.csv; ITL from summary.json) and KV use per replica.
#include <algorithm>
#include <charconv>
#include <cmath>
#include <map>
#include <optional>
#include <sstream>

#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

#include "sim/core/input_file.h"
#include "sim/planning/report_format.h"
#include "sim/planning/report_parts.h"
#include "sim/planning/report_svg.h"

namespace kvsim::sim::report {

namespace {

namespace fs = std::filesystem;

// Replicas drawn as small multiples; past this the panels would be too many to read (the rest are named).
constexpr size_t kMaxReplicaPanels = 32;

std::string scalar(const YAML::Node& root, const char* section, const char* key) {
  try {
    const YAML::Node n = section ? root[section][key] : root[key];
    return n && n.IsScalar() ? n.as<std::string>() : "";
  } catch (const YAML::Exception&) {
    return "";
  }
}

std::string share(double v) { return plain_number(v * 100) + "%"; }

// A number of scenario.resolved.yaml; nullopt when absent or not a number.
std::optional<double> number(const YAML::Node& root, const char* section, const char* key) {
  const std::string s = scalar(root, section, key);
  double v = 0;
  const auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (s.empty() || ec != std::errc() || ptr != s.data() + s.size() || !std::isfinite(v)) return std::nullopt;
  return v;
}

// The scenario as the run resolved it (every run writes it); an empty node when absent or unreadable.
YAML::Node resolved(const fs::path& dir) {
  try {
    if (fs::exists(dir / "scenario.resolved.yaml")) return YAML::LoadFile((dir / "scenario.resolved.yaml").string());
  } catch (const YAML::Exception&) {
  }
  return YAML::Node();
}

// What was run: from scenario.resolved.yaml (every run writes it) and summary.json.
std::string header(const YAML::Node& y, const nlohmann::json& summary) {
  const auto or_dash = [](const std::string& s) { return s.empty() ? std::string("-") : s; };
  std::string model = scalar(y, nullptr, "model");
  if (model.empty() && summary.contains("model_id") && summary["model_id"].is_string()) model = summary["model_id"];
  std::string policy = scalar(y, "cache", "policy");
  const std::string placement = scalar(y, "cache", "placement");
  if (!placement.empty() && placement != "gpu") policy += fmt::format(" (KV placement {})", placement);
  const std::string replicas = scalar(y, "cluster", "replicas"), router = scalar(y, "cluster", "router");
  std::string slo;
  if (const auto t = number(y, "slo", "ttft_ms")) slo = "TTFT " + human_ms(*t);
  if (const auto t = number(y, "slo", "tpot_ms")) slo += (slo.empty() ? "TPOT " : ", TPOT ") + human_ms(*t);
  const std::string workload =
      summary.contains("workload") && summary["workload"].is_string() ? summary["workload"].get<std::string>() : "";
  const std::pair<const char*, std::string> rows[] = {
      {"Model", or_dash(model)},
      {"GPU", or_dash(scalar(y, nullptr, "hardware"))},
      {"Tensor parallel", or_dash(scalar(y, "cluster", "tensor_parallel"))},
      {"Cache policy", or_dash(policy)},
      {"Replicas and router", replicas.empty() ? "-" : fmt::format("{} behind {}", replicas, or_dash(router))},
      {"Workload", or_dash(workload)},
      {"SLO", slo.empty() ? "none" : slo},
  };
  std::ostringstream o;
  o << "<table class=\"header\">\n";
  for (const auto& [k, v] : rows) o << fmt::format("<tr><th>{}</th><td>{}</td></tr>\n", k, html_escape(v));
  o << "</table>\n";
  return o.str();
}

std::string key_numbers(const nlohmann::json& j) {
  const auto num = [&](const char* k) -> double {
    return j.contains(k) && j[k].is_number() ? j[k].get<double>() : std::nan("");
  };
  const auto show = [](double v, std::string (*f)(double)) { return std::isnan(v) ? std::string("-") : f(v); };
  const std::pair<const char*, std::string> cells[] = {
      {"completed", show(num("completed"), human_count)},
      {"rejected", show(num("rejected"), human_count)},
      {"requests/s", show(num("request_throughput"), human_count)},
      {"output tokens/s", show(num("output_throughput"), human_count)},
      {"mean TTFT", show(num("mean_ttft_ms"), human_ms)},
      {"p99 TTFT", show(num("p99_ttft_ms"), human_ms)},
      {"mean TPOT", show(num("mean_tpot_ms"), human_ms)},
      {"p99 TPOT", show(num("p99_tpot_ms"), human_ms)},
      {"p99 E2E", show(num("p99_e2el_ms"), human_ms)},
      {"preemptions", show(num("num_preemptions"), human_count)},
      {"peak HBM per GPU", show(num("peak_hbm_bytes"), human_bytes)},
      {"SLO attainment", show(num("slo_attainment"), share)},
      {"fleet cost", show(num("usd_per_hour"), [](double v) { return human_usd(v) + "/h"; })},
  };
  std::ostringstream o;
  o << "<table class=\"numbers\"><tr>";
  for (const auto& [k, v] : cells) o << "<th>" << k << "</th>";
  o << "</tr><tr>";
  for (const auto& [k, v] : cells) o << "<td>" << html_escape(v) << "</td>";
  o << "</tr></table>\n";
  return o.str();
}

// CDF of a requests.csv column over the completed requests: (value, share at or below it), 200 points at most.
ChartSeries cdf(const CsvRows& csv, const std::string& column, const std::string& name) {
  std::vector<double> v;
  const size_t col = csv.column(column), state = csv.column("status");
  for (size_t i = 0; i < csv.rows.size(); ++i) {
    const auto& r = csv.rows[i];
    if (col < r.size() && state < r.size() && r[state] == "completed") v.push_back(csv.number(i, col));
  }
  std::sort(v.begin(), v.end());
  ChartSeries s{name, {}, {}, false};
  const size_t step = std::max<size_t>(1, v.size() / 200);
  for (size_t i = 0; i < v.size(); i += step) s.points.emplace_back(v[i], static_cast<double>(i + 1) / v.size());
  if (!v.empty()) s.points.emplace_back(v.back(), 1.0);
  return s;
}

// The ITL CDF from summary.json's itl_cdf_ms (percentiles of every inter-token gap); empty when absent. Gaps of 0 ms
// have no place on the log axis and are left out.
ChartSeries itl_cdf(const nlohmann::json& summary) {
  ChartSeries s{"ITL", {}, {}, false};
  if (!summary.contains("itl_cdf_ms") || !summary["itl_cdf_ms"].is_object()) return s;
  const auto& c = summary["itl_cdf_ms"];
  if (!c.contains("percentiles") || !c.contains("ms") || !c["percentiles"].is_array() || !c["ms"].is_array()) return s;
  const auto& q = c["percentiles"];
  const auto& ms = c["ms"];
  for (size_t i = 0; i < std::min(q.size(), ms.size()); ++i) {
    if (!q[i].is_number() || !ms[i].is_number()) return ChartSeries{"ITL", {}, {}, false};
    const double v = ms[i].get<double>();
    if (v > 0 && std::isfinite(v)) s.points.emplace_back(v, q[i].get<double>() / 100.0);
  }
  if (s.points.size() < 2) s.points.clear();
  return s;
}

std::string latency_panels(const CsvRows& req, const YAML::Node& y, const nlohmann::json& summary) {
  const auto slo = [&](const char* key, const char* name) {
    std::vector<ChartRef> refs;
    if (const auto v = number(y, "slo", key)) refs.push_back({*v, fmt::format("SLO {} {}", name, human_ms(*v))});
    return refs;
  };
  const ChartAxis share_axis = chart_axis("share of requests", false, share, 0, 1);
  std::ostringstream o;
  o << "<h3>Latency distributions</h3>\n";
  const auto panel = [&](const char* title, const char* column, const char* name, std::vector<ChartRef> refs) {
    ChartSpec spec = chart_spec(title, chart_axis(name, true, human_ms), share_axis, 900, 260, false);
    spec.x_refs = std::move(refs);
    o << svg_chart(spec, {cdf(req, column, name)});
  };
  panel("Time to first token (TTFT)", "ttft_ms", "TTFT", slo("ttft_ms", "TTFT"));
  panel("Time per output token (TPOT)", "tpot_ms", "TPOT", slo("tpot_ms", "TPOT"));
  if (ChartSeries itl = itl_cdf(summary); !itl.points.empty()) {
    ChartSpec spec =
        chart_spec("Inter-token latency (ITL, every gap between two tokens)", chart_axis("ITL", true, human_ms),
                   chart_axis("share of gaps", false, share, 0, 1), 900, 260, false);
    spec.x_refs = slo("tpot_ms", "TPOT");
    o << svg_chart(spec, {std::move(itl)});
  }
  panel("End-to-end latency (E2E)", "e2el_ms", "E2E", {});
  return o.str();
}

std::string bytes_axis(double v) { return human_bytes(v); }
std::string seconds_axis(double v) { return human_seconds(v); }

// One small panel per replica, on one shared scale, so the replicas compare at a glance.
std::string kv_panels(const CsvRows& mem) {
  const size_t t = mem.column("time_s"), rep = mem.column("replica"), kv = mem.column("kv_used_bytes"),
               hk = mem.column("kv_host_bytes");
  std::map<int64_t, std::pair<ChartSeries, ChartSeries>> per;  // replica -> (GPU, host)
  double top = 0, t_end = 1e-9;
  bool any_host = false;
  for (size_t i = 0; i < mem.rows.size(); ++i) {
    if (mem.rows[i].size() <= std::max({t, rep, kv, hk})) continue;
    const double x = mem.number(i, t), g = mem.number(i, kv), h = mem.number(i, hk);
    auto& [gpu, host] = per[static_cast<int64_t>(mem.number(i, rep))];
    // A level holds until the next sample: drawn as steps, not slopes.
    if (!gpu.points.empty()) gpu.points.emplace_back(x, gpu.points.back().second);
    if (!host.points.empty()) host.points.emplace_back(x, host.points.back().second);
    gpu.points.emplace_back(x, g);
    host.points.emplace_back(x, h);
    top = std::max({top, g, h});
    t_end = std::max(t_end, x);
    any_host = any_host || h > 0;
  }
  if (per.empty()) return "";
  std::ostringstream o;
  o << fmt::format(
      "<h3>KV cache use per replica</h3>\n<p>One panel per replica, on one scale: <span style=\"color:{}\">&#9632; GPU "
      "KV</span>{}.</p>\n<div class=\"multiples\">\n",
      series_color(0),
      any_host ? fmt::format(" <span style=\"color:{}\">&#9632; host KV</span>", series_color(1)) : "");
  size_t drawn = 0;
  for (auto& [replica, s] : per) {
    if (drawn++ == kMaxReplicaPanels) break;
    s.first.name = "GPU KV";
    s.second.name = "host KV";
    std::vector<ChartSeries> series{s.first};
    if (any_host) series.push_back(s.second);
    o << svg_chart(chart_spec(fmt::format("replica {}", replica), chart_axis("time", false, seconds_axis, 0, t_end),
                              chart_axis("KV", false, bytes_axis, 0, top > 0 ? top * 1.05 : 1), 290, 180, false),
                   series);
  }
  o << "</div>\n";
  if (per.size() > kMaxReplicaPanels) {
    o << fmt::format("<p>{} more replicas not drawn (memory.csv has them).</p>\n", per.size() - kMaxReplicaPanels);
  }
  return o.str();
}

}  // namespace

std::string run_section(const fs::path& dir, const std::string& title) {
  std::ostringstream o;
  o << "<h2>" << html_escape(title) << "</h2>\n";
  auto j = nlohmann::json::parse(read_input_file((dir / "summary.json").string()), nullptr, false);
  if (!j.is_object()) j = nlohmann::json::object();
  const YAML::Node y = resolved(dir);
  o << header(y, j) << key_numbers(j);
  const CsvRows req = read_csv(dir / "requests.csv");
  if (!req.rows.empty()) o << latency_panels(req, y, j);
  o << kv_panels(read_csv(dir / "memory.csv"));
  return o.str();
}

}  // namespace kvsim::sim::report
