#include "sim/planning/report.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <filesystem>
#include <sstream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "sim/core/error.h"
#include "sim/core/input_file.h"
#include "sim/planning/report_format.h"
#include "sim/planning/report_parts.h"
#include "sim/planning/report_svg.h"
#include "traces/csv_lines.h"

namespace kvsim::sim {

namespace report {

namespace fs = std::filesystem;

double number_at(const std::string& field, const std::string& file, int64_t line) {
  double v = 0;
  const auto [ptr, ec] = std::from_chars(field.data(), field.data() + field.size(), v);
  if (field.empty() || ec != std::errc() || ptr != field.data() + field.size() || !std::isfinite(v)) {
    throw Error(Place{file, static_cast<int>(std::min<int64_t>(line, INT32_MAX))},
                fmt::format("expected a number, found '{}' (is this a kvsim output?)", excerpt(field)));
  }
  return v;
}

size_t CsvRows::column(const std::string& name) const {
  return static_cast<size_t>(std::find(header.begin(), header.end(), name) - header.begin());
}

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

}  // namespace report

namespace {

namespace fs = std::filesystem;
using report::Point;

// What a sweep varied: its points, its configurations (one line each in the rate charts) and the models it ran.
std::string sweep_header(const std::vector<Point>& pts, const std::string& file) {
  std::vector<std::string> configs, models, rates;
  const auto add = [](std::vector<std::string>& v, const std::string& s) {
    if (std::find(v.begin(), v.end(), s) == v.end()) v.push_back(s);
  };
  for (const Point& p : pts) {
    add(configs, p.config);
    if (p.rate > 0) add(rates, plain_number(p.rate));
    if (p.summary.contains("model_id") && p.summary["model_id"].is_string()) add(models, p.summary["model_id"]);
  }
  return fmt::format(
      "<p>Sweep of {} points ({}).</p>\n<table class=\"header\"><tr><th>Model</th><td>{}</td></tr>\n"
      "<tr><th>Configurations</th><td>{}: {}</td></tr>\n<tr><th>Request rates</th><td>{}</td></tr></table>\n",
      pts.size(), file, html_escape(models.empty() ? "-" : join(models, ", ")), configs.size(),
      html_escape(join(configs, "; ")), rates.empty() ? "-" : join(rates, ", ") + " req/s");
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
      p.config = parts.empty() ? "scenario" : join(parts, ", ");
      if (params.contains("workload.arrival.rate")) {
        p.rate = report::number_at(params["workload.arrival.rate"].get<std::string>(), file, number);
      }
      p.summary = j["summary"];
      pts.push_back(p);
    }
    body << sweep_header(pts, html_escape((dir / "results.jsonl").string()));
  }
  if (fs::exists(dir / "summary.json")) body << report::run_section(dir, "Run " + dir.filename().string());
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
    p.config = r.parent_path().filename().string();
    const std::string name = r.filename().string();
    if (name.starts_with("rate-")) p.rate = std::atof(name.c_str() + 5);
    pts.push_back(p);
  }
  body << report::rate_section(pts) << report::pareto_section(pts);
  if (!runs.empty())
    body << report::run_section(runs.back(), "Last run: " + runs.back().parent_path().filename().string() + " / " +
                                         runs.back().filename().string());
  if (body.str().empty()) {
    throw Error(Place{dir_text}, "no summary.json, results.jsonl or compare runs (policy/rate-R/summary.json) here");
  }
  return "<!DOCTYPE html>\n<!-- generated by kvsim report -->\n<html><head><meta charset=\"utf-8\">"
         "<title>kvsim report</title><style>"
         "body{font-family:sans-serif;margin:24px;max-width:960px}table{border-collapse:collapse;font-size:12px;"
         "margin:6px 0}td,th{border:1px solid #ccc;padding:3px 6px;text-align:left}svg{display:block;margin:8px 0}"
         ".multiples{display:flex;flex-wrap:wrap;gap:4px}.multiples svg{margin:0}</style></head><body>\n"
         "<h1>kvsim report</h1>\n<p>" +
         html_escape(dir_text) + "</p>\n" + body.str() + "</body></html>\n";
}

}  // namespace kvsim::sim
