#include "sim/planning/report.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "sim/core/error.h"
#include "sim/core/input_file.h"
#include "traces/csv_lines.h"

namespace kvsim::sim {

namespace {

namespace fs = std::filesystem;

struct Series {
  std::string name;
  std::vector<std::pair<double, double>> points;
};

const char* const kColors[] = {"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf"};

std::string esc(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '<')
      out += "&lt;";
    else if (c == '>')
      out += "&gt;";
    else if (c == '&')
      out += "&amp;";
    else
      out += c;
  }
  return out;
}

std::string tick(double v) {
  return std::abs(v) >= 1000 || (v != 0 && std::abs(v) < 0.01) ? fmt::format("{:.2g}", v) : fmt::format("{:.3g}", v);
}

// A line chart (or scatter, `lines` false) of the series, with axes, ticks, labels and a legend.
std::string chart(const std::string& title, const std::string& xlabel, const std::string& ylabel,
                  const std::vector<Series>& series, bool lines = true) {
  double x0 = 1e300, x1 = -1e300, y0 = 0, y1 = -1e300;
  for (const auto& s : series) {
    for (const auto& [x, y] : s.points) {
      x0 = std::min(x0, x), x1 = std::max(x1, x), y1 = std::max(y1, y);
      y0 = std::min(y0, y);
    }
  }
  if (x0 > x1) return fmt::format("<p>{}: no data</p>\n", esc(title));
  if (x1 == x0) x1 = x0 + 1;
  if (y1 <= y0) y1 = y0 + 1;
  const double w = 860, h = 320, l = 70, r = 300, t = 30, b = 45;
  const auto px = [&](double x) { return l + (x - x0) / (x1 - x0) * (w - l - r); };
  const auto py = [&](double y) { return h - b - (y - y0) / (y1 - y0) * (h - t - b); };
  std::ostringstream o;
  o << fmt::format(R"(<svg xmlns="http://www.w3.org/2000/svg" width="{}" height="{}" viewBox="0 0 {} {}" )"
                   R"(font-family="sans-serif" font-size="11">)",
                   w, h, w, h);
  o << fmt::format(R"(<text x="{}" y="18" font-size="13" font-weight="bold">{}</text>)", l, esc(title));
  o << fmt::format(R"(<rect x="{}" y="{}" width="{}" height="{}" fill="none" stroke="#999"/>)", l, t, w - l - r,
                   h - t - b);
  for (int i = 0; i <= 4; ++i) {
    const double xv = x0 + (x1 - x0) * i / 4, yv = y0 + (y1 - y0) * i / 4;
    o << fmt::format(R"(<text x="{:.1f}" y="{:.1f}" text-anchor="middle">{}</text>)", px(xv), h - b + 14, tick(xv));
    o << fmt::format(R"(<text x="{:.1f}" y="{:.1f}" text-anchor="end">{}</text>)", l - 4, py(yv) + 4, tick(yv));
    o << fmt::format(R"(<line x1="{:.1f}" x2="{:.1f}" y1="{:.1f}" y2="{:.1f}" stroke="#eee"/>)", l, w - r, py(yv),
                     py(yv));
  }
  o << fmt::format(R"(<text x="{:.1f}" y="{}" text-anchor="middle">{}</text>)", (l + w - r) / 2, h - 8, esc(xlabel));
  o << fmt::format(R"svg(<text x="14" y="{:.1f}" transform="rotate(-90 14 {:.1f})" text-anchor="middle">{}</text>)svg",
                   (t + h - b) / 2, (t + h - b) / 2, esc(ylabel));
  for (size_t i = 0; i < series.size(); ++i) {
    const char* color = kColors[i % 8];
    const auto& s = series[i];
    if (lines) {
      std::string path;
      for (const auto& [x, y] : s.points)
        path += fmt::format("{}{:.1f},{:.1f} ", path.empty() ? "M" : "L", px(x), py(y));
      o << fmt::format(R"(<path d="{}" fill="none" stroke="{}" stroke-width="1.6"/>)", path, color);
    }
    if (!lines || s.points.size() < 30) {
      for (const auto& [x, y] : s.points) {
        o << fmt::format(R"(<circle cx="{:.1f}" cy="{:.1f}" r="3" fill="{}"/>)", px(x), py(y), color);
      }
    }
    o << fmt::format(R"(<rect x="{}" y="{}" width="10" height="10" fill="{}"/><text x="{}" y="{}">{}</text>)",
                     w - r + 10, t + 4 + 16 * static_cast<double>(i), color, w - r + 24,
                     t + 13 + 16 * static_cast<double>(i), esc(s.name));
  }
  o << "</svg>\n";
  return o.str();
}

// A field of kvsim's own outputs that must be a number; a damaged file is an input error with its place.
double number_at(const std::string& field, const std::string& file, int64_t line) {
  double v = 0;
  const auto [ptr, ec] = std::from_chars(field.data(), field.data() + field.size(), v);
  if (field.empty() || ec != std::errc() || ptr != field.data() + field.size() || !std::isfinite(v)) {
    throw Error(Place{file, static_cast<int>(std::min<int64_t>(line, INT32_MAX))},
                fmt::format("expected a number, found '{}' (is this a kvsim output?)", excerpt(field)));
  }
  return v;
}

// kvsim's own CSV outputs, each number checked; a missing or empty file gives no rows. Rows carry their line.
struct CsvRows {
  std::vector<std::string> header;
  std::vector<std::vector<std::string>> rows;
  std::vector<int64_t> lines;
  std::string file;
  size_t column(const std::string& name) const {
    return static_cast<size_t>(std::find(header.begin(), header.end(), name) - header.begin());
  }
  double number(size_t row, size_t col) const { return number_at(rows[row][col], file, lines[row]); }
};

CsvRows read_csv(const fs::path& p) {
  CsvRows out;
  out.file = p.string();
  std::error_code ec;
  if (!fs::exists(p, ec) || (fs::is_regular_file(p, ec) && fs::file_size(p, ec) == 0)) return out;
  const auto csv = traces::CsvLines::open(p.string());
  out.header = csv->header_fields();
  for (std::vector<std::string> f; csv->next_row(f);) {
    out.rows.push_back(f);
    out.lines.push_back(csv->place().line);
  }
  return out;
}

// CDF of a requests.csv column: (value, share of requests at or below it), 200 points at most.
Series cdf(const CsvRows& csv, const std::string& column, const std::string& name) {
  std::vector<double> v;
  const size_t col = csv.column(column), state = csv.column("status");
  for (size_t i = 0; i < csv.rows.size(); ++i) {
    const auto& r = csv.rows[i];
    if (col < r.size() && state < r.size() && r[state] == "completed") v.push_back(csv.number(i, col));
  }
  std::sort(v.begin(), v.end());
  Series s{name, {}};
  const size_t step = std::max<size_t>(1, v.size() / 200);
  for (size_t i = 0; i < v.size(); i += step) s.points.emplace_back(v[i], static_cast<double>(i + 1) / v.size());
  if (!v.empty()) s.points.emplace_back(v.back(), 1.0);
  return s;
}

std::string run_section(const fs::path& dir, const std::string& title) {
  std::ostringstream o;
  o << "<h2>" << esc(title) << "</h2>\n";
  const auto j = nlohmann::json::parse(read_input_file((dir / "summary.json").string()), nullptr, false);
  if (j.is_object()) {
    static constexpr const char* kKeys[] = {"completed",    "rejected",    "request_throughput", "output_throughput",
                                            "mean_ttft_ms", "p99_ttft_ms", "mean_tpot_ms",       "p99_tpot_ms",
                                            "num_preemptions", "peak_hbm_bytes"};
    o << "<table><tr>";
    for (const char* k : kKeys) o << "<th>" << k << "</th>";
    o << "</tr><tr>";
    for (const char* k : kKeys) {
      o << "<td>" << (j.contains(k) && j[k].is_number() ? tick(j[k].get<double>()) : "-") << "</td>";
    }
    o << "</tr></table>\n";
  }
  const CsvRows req = read_csv(dir / "requests.csv");
  if (!req.rows.empty()) {
    o << chart("Latency CDFs: time to first token and end to end", "milliseconds", "share of requests",
               {cdf(req, "ttft_ms", "TTFT"), cdf(req, "e2el_ms", "end to end")});
    o << chart("Latency CDF: time per output token", "milliseconds", "share of requests", {cdf(req, "tpot_ms", "TPOT")});
  }
  const CsvRows mem = read_csv(dir / "memory.csv");
  if (!mem.rows.empty()) {
    std::map<std::string, Series> hbm, host;
    const size_t t = mem.column("time_s"), rep = mem.column("replica"), kv = mem.column("kv_used_bytes"),
                 hk = mem.column("kv_host_bytes");
    for (size_t i = 0; i < mem.rows.size(); ++i) {
      const auto& r = mem.rows[i];
      if (r.size() <= std::max({t, rep, kv, hk})) continue;
      const double x = mem.number(i, t);
      const std::string replica = excerpt(r[rep], 20);
      hbm.try_emplace(replica, Series{"replica " + replica + " HBM KV", {}})
          .first->second.points.emplace_back(x, mem.number(i, kv) / (1u << 30));
      host.try_emplace(replica, Series{"replica " + replica + " host KV", {}})
          .first->second.points.emplace_back(x, mem.number(i, hk) / (1u << 30));
    }
    std::vector<Series> s;
    for (auto& [k, v] : hbm) s.push_back(v);
    for (auto& [k, v] : host) {
      if (std::any_of(v.points.begin(), v.points.end(), [](const auto& p) { return p.second > 0; })) s.push_back(v);
    }
    o << chart("KV memory per tier over time", "seconds", "GiB", s);
  }
  return o.str();
}

// Points (policy, rate) -> summary, from a compare folder (policy/rate-R/summary.json) or a sweep's results.jsonl.
struct Point {
  std::string policy;
  double rate = 0;
  nlohmann::json summary;
};

std::string rate_section(const std::vector<Point>& pts) {
  std::map<std::string, Series> thr, p99;
  for (const Point& p : pts) {
    if (p.rate <= 0) continue;
    thr.try_emplace(p.policy, Series{p.policy, {}})
        .first->second.points.emplace_back(p.rate, p.summary.value("output_throughput", 0.0));
    p99.try_emplace(p.policy, Series{p.policy, {}})
        .first->second.points.emplace_back(p.rate, p.summary.value("p99_e2el_ms", 0.0) / 1000);
  }
  std::vector<Series> a, b;
  for (auto& [k, v] : thr) {
    std::sort(v.points.begin(), v.points.end());
    a.push_back(v);
  }
  for (auto& [k, v] : p99) {
    std::sort(v.points.begin(), v.points.end());
    b.push_back(v);
  }
  if (a.empty()) return "";
  return "<h2>Throughput and latency against the request rate</h2>\n" +
         chart("Output throughput", "request rate (req/s)", "tokens/s", a) +
         chart("p99 end-to-end latency", "request rate (req/s)", "seconds", b);
}

std::string pareto_section(const std::vector<Point>& pts) {
  Series all{"points", {}}, front{"Pareto front", {}};
  std::vector<std::pair<double, double>> xy;
  for (const Point& p : pts) {
    if (!p.summary.contains("usd_per_hour") || !p.summary["usd_per_hour"].is_number()) continue;
    xy.emplace_back(p.summary["usd_per_hour"].get<double>(), p.summary.value("p99_tpot_ms", 0.0));
  }
  std::sort(xy.begin(), xy.end());
  // A front needs points that differ in cost.
  if (xy.empty() || xy.front().first == xy.back().first) return "";
  double best = 1e300;
  for (const auto& q : xy) {
    all.points.push_back(q);
    if (q.second < best) {
      best = q.second;
      front.points.push_back(q);
    }
  }
  return "<h2>Cost against p99 TPOT</h2>\n" +
         chart("Sweep points and their Pareto front", "US$ per hour", "p99 TPOT (ms)", {all, front}, false);
}

}  // namespace

std::string render_report(const std::string& dir_text) {
  const fs::path dir(dir_text);
  if (!fs::is_directory(dir)) throw Error(Place{dir_text}, "not a folder of kvsim outputs");
  std::ostringstream body;
  std::vector<Point> pts;
  if (fs::exists(dir / "results.jsonl")) {
    const std::string file = (dir / "results.jsonl").string();
    const auto in = open_input_stream(file);
    int64_t number = 0;
    for (std::string line; read_line(*in, line, file, ++number);) {
      const auto j = nlohmann::json::parse(line, nullptr, false);
      if (j.is_discarded() && line.find('{') == 0 && line.back() != '}') continue;  // a line cut by a kill
      if (!j.is_object() || !j.contains("point")) {
        throw Error(Place{file, static_cast<int>(std::min<int64_t>(number, INT32_MAX))},
                    fmt::format("expected a sweep result (a JSON object with point, params and summary), found '{}'",
                                excerpt(line)));
      }
      if (!j.contains("summary")) continue;  // a point that failed
      const auto& params = j.contains("params") ? j["params"] : nlohmann::json::object();
      const auto bad = [&](const std::string& what) {
        throw Error(Place{file, static_cast<int>(std::min<int64_t>(number, INT32_MAX))},
                    fmt::format("{}: not as a kvsim sweep writes it", what));
      };
      if (!params.is_object() || !j["summary"].is_object()) bad("params or summary");
      for (auto it = params.begin(); it != params.end(); ++it) {
        if (!it.value().is_string()) bad("params." + it.key());
      }
      Point p;
      // One series per setting of everything but the rate: the policy, then the other swept keys.
      std::vector<std::string> parts;
      if (params.contains("cache.policy")) parts.push_back(params["cache.policy"].get<std::string>());
      for (auto it = params.begin(); it != params.end(); ++it) {
        if (it.key() != "cache.policy" && it.key() != "workload.arrival.rate") {
          parts.push_back(it.key().substr(it.key().rfind('.') + 1) + "=" + it.value().get<std::string>());
        }
      }
      p.policy = parts.empty() ? "scenario" : join(parts, ", ");
      if (params.contains("workload.arrival.rate")) {
        p.rate = number_at(params["workload.arrival.rate"].get<std::string>(), file, number);
      }
      p.summary = j["summary"];
      pts.push_back(p);
    }
    body << fmt::format("<p>Sweep of {} points ({}).</p>\n", pts.size(), esc((dir / "results.jsonl").string()));
  }
  if (fs::exists(dir / "summary.json")) body << run_section(dir, "Run " + dir.filename().string());
  // A compare folder: policy/rate-R/ run folders.
  std::vector<fs::path> runs;
  for (const auto& policy : fs::directory_iterator(dir)) {
    if (!policy.is_directory()) continue;
    for (const auto& rate : fs::directory_iterator(policy.path())) {
      if (rate.is_directory() && fs::exists(rate.path() / "summary.json")) runs.push_back(rate.path());
    }
  }
  std::sort(runs.begin(), runs.end());
  for (const fs::path& r : runs) {
    Point p;
    p.summary = nlohmann::json::parse(read_input_file((r / "summary.json").string()), nullptr, false);
    if (!p.summary.is_object()) continue;
    p.policy = r.parent_path().filename().string();
    const std::string name = r.filename().string();
    if (name.starts_with("rate-")) p.rate = std::atof(name.c_str() + 5);
    pts.push_back(p);
  }
  body << rate_section(pts) << pareto_section(pts);
  if (!runs.empty())
    body << run_section(runs.back(), "Last run: " + runs.back().parent_path().filename().string() + " / " +
                                         runs.back().filename().string());
  if (body.str().empty()) {
    throw Error(Place{dir_text}, "no summary.json, results.jsonl or compare runs (policy/rate-R/summary.json) here");
  }
  return "<!DOCTYPE html>\n<!-- generated by kvsim report -->\n<html><head><meta charset=\"utf-8\">"
         "<title>kvsim report</title><style>"
         "body{font-family:sans-serif;margin:24px;max-width:960px}table{border-collapse:collapse;font-size:12px}"
         "td,th{border:1px solid #ccc;padding:3px 6px}svg{display:block;margin:8px 0}</style></head><body>\n"
         "<h1>kvsim report</h1>\n<p>" +
         esc(dir_text) + "</p>\n" + body.str() + "</body></html>\n";
}

}  // namespace kvsim::sim
