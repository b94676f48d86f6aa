// The compare and sweep sections of kvsim's HTML report: latency and throughput against the request rate, and the
// fleet-cost Pareto front.
#include <algorithm>
#include <cmath>
#include <map>
#include <sstream>

#include <fmt/format.h>

#include "sim/planning/report_format.h"
#include "sim/planning/report_parts.h"
#include "sim/planning/report_svg.h"

namespace kvsim::sim::report {

namespace {

// One line per configuration of `key` (scaled by `scale`) against the rate.
std::vector<ChartSeries> by_rate(const std::vector<Point>& pts, const std::string& key, double scale) {
  std::map<std::string, ChartSeries> lines;
  for (const Point& p : pts) {
    if (p.rate <= 0 || !p.summary.contains(key) || !p.summary[key].is_number()) continue;
    lines.try_emplace(p.config, ChartSeries{p.config, {}, {}, false})
        .first->second.points.emplace_back(p.rate, p.summary[key].get<double>() * scale);
  }
  std::vector<ChartSeries> out;
  for (auto& [name, s] : lines) {
    std::sort(s.points.begin(), s.points.end());
    out.push_back(std::move(s));
  }
  return out;
}

std::string usd_per_hour(double v) { return human_usd(v) + "/h"; }
std::string req_per_s(double v) { return plain_number(v) + " req/s"; }

// A log axis when the values span more than two decades (an overloaded point next to light ones).
bool wide(const std::vector<ChartSeries>& series) {
  double lo = HUGE_VAL, hi = 0;
  for (const ChartSeries& s : series) {
    for (const auto& [x, y] : s.points) {
      if (y > 0) lo = std::min(lo, y), hi = std::max(hi, y);
    }
  }
  return hi > 0 && hi / lo > 100;
}

}  // namespace

std::string rate_section(const std::vector<Point>& pts) {
  const std::vector<ChartSeries> ttft = by_rate(pts, "p99_ttft_ms", 1), tpot = by_rate(pts, "p99_tpot_ms", 1),
                                 thr = by_rate(pts, "output_throughput", 1);
  if (thr.empty()) return "";
  const ChartAxis rate = chart_axis("request rate", false, req_per_s);
  std::ostringstream o;
  o << "<h2>Latency and throughput against the request rate</h2>\n<p>One line per configuration.</p>\n";
  o << svg_chart(
      chart_spec("p99 time to first token", rate, chart_axis("p99 TTFT", wide(ttft), human_ms), 900, 300, true), ttft);
  o << svg_chart(
      chart_spec("p99 time per output token", rate, chart_axis("p99 TPOT", wide(tpot), human_ms), 900, 300, true),
      tpot);
  o << svg_chart(
      chart_spec("Output throughput", rate, chart_axis("output tokens/s", false, human_count), 900, 300, true), thr);
  return o.str();
}

std::string pareto_section(const std::vector<Point>& pts) {
  // Compared at one load: the highest rate that has priced points (where the fleet size matters most).
  double rate = -1;
  for (const Point& p : pts) {
    if (p.summary.contains("usd_per_hour") && p.summary["usd_per_hour"].is_number()) rate = std::max(rate, p.rate);
  }
  struct Priced {
    double usd_per_hour, p99_tpot_ms;
    std::string config;
  };
  std::vector<Priced> xy;
  for (const Point& p : pts) {
    if (p.rate != rate || !p.summary.contains("usd_per_hour") || !p.summary["usd_per_hour"].is_number()) continue;
    if (!p.summary.contains("p99_tpot_ms") || !p.summary["p99_tpot_ms"].is_number()) continue;
    xy.push_back({p.summary["usd_per_hour"].get<double>(), p.summary["p99_tpot_ms"].get<double>(), p.config});
  }
  std::sort(xy.begin(), xy.end(), [](const Priced& a, const Priced& b) {
    return std::tie(a.usd_per_hour, a.p99_tpot_ms, a.config) < std::tie(b.usd_per_hour, b.p99_tpot_ms, b.config);
  });
  // A front needs points that differ in cost.
  if (xy.empty() || xy.front().usd_per_hour == xy.back().usd_per_hour) return "";
  ChartSeries others{"other configurations", {}, {}, true}, front{"Pareto front", {}, {}, false};
  double best = HUGE_VAL;
  std::ostringstream table;
  table << "<table class=\"front\"><tr><th>configuration</th><th>fleet cost</th><th>p99 TPOT</th></tr>\n";
  for (const Priced& q : xy) {
    if (q.p99_tpot_ms < best) {
      best = q.p99_tpot_ms;
      front.points.emplace_back(q.usd_per_hour, q.p99_tpot_ms);
      front.labels.push_back(q.config);
      table << fmt::format("<tr><td>{}</td><td>{}/h</td><td>{}</td></tr>\n", html_escape(q.config),
                           human_usd(q.usd_per_hour), human_ms(q.p99_tpot_ms));
    } else {
      others.points.emplace_back(q.usd_per_hour, q.p99_tpot_ms);
      others.labels.push_back(q.config);
    }
  }
  table << "</table>\n";
  const std::string at = rate > 0 ? fmt::format(" at {}", req_per_s(rate)) : "";
  const std::vector<ChartSeries> series{front, others};
  return fmt::format(
             "<h2>Fleet cost against p99 TPOT{}</h2>\n<p>Fleet cost = replicas x tensor parallel x $ per GPU-hour. A "
             "point is "
             "on the front when no cheaper configuration has a lower p99 TPOT.</p>\n",
             at) +
         svg_chart(chart_spec("Cost Pareto front" + at, chart_axis("fleet cost", false, usd_per_hour),
                              chart_axis("p99 TPOT", wide(series), human_ms), 900, 340, true),
                   series) +
         table.str();
}

}  // namespace kvsim::sim::report
