#include "sim/planning/report_svg.h"

#include <algorithm>
#include <cmath>
#include <sstream>

#include <fmt/format.h>

#include "sim/planning/report_format.h"

namespace kvsim::sim {

namespace {

const char* const kColors[] = {"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf"};

// An axis mapped onto [p0, p1] pixels, with its ticks.
struct Scale {
  bool log = false;
  double lo = 0, hi = 1, p0 = 0, p1 = 1;
  std::vector<double> ticks;
  double operator()(double v) const {
    const double a = log ? std::log10(lo) : lo, b = log ? std::log10(hi) : hi;
    const double u = log ? std::log10(v) : v;
    return p0 + (u - a) / (b - a) * (p1 - p0);
  }
};

// 1, 2 or 5 times a power of ten, about (hi - lo) / 5.
double nice_step(double lo, double hi) {
  const double raw = (hi - lo) / 5;
  const double mag = std::pow(10, std::floor(std::log10(raw)));
  const double n = raw / mag;
  return (n < 1.5 ? 1 : n < 3.5 ? 2 : n < 7.5 ? 5 : 10) * mag;
}

Scale make_scale(const ChartAxis& axis, double data_lo, double data_hi, bool from_zero) {
  Scale s;
  s.log = axis.log;
  if (axis.min < axis.max) {
    s.lo = axis.min, s.hi = axis.max;
  } else if (axis.log) {
    s.lo = std::pow(10, std::floor(std::log10(data_lo)));
    s.hi = std::pow(10, std::ceil(std::log10(data_hi)));
    if (s.hi <= s.lo) s.hi = s.lo * 10;
  } else {
    s.lo = from_zero ? std::min(0.0, data_lo) : data_lo;
    s.hi = data_hi;
    if (s.hi <= s.lo) s.hi = s.lo + (s.lo == 0 ? 1 : std::abs(s.lo));
    if (from_zero) s.hi = std::ceil(s.hi / nice_step(s.lo, s.hi)) * nice_step(s.lo, s.hi);
  }
  if (s.log) {
    const int d0 = static_cast<int>(std::floor(std::log10(s.lo) + 1e-9)),
              d1 = static_cast<int>(std::ceil(std::log10(s.hi) - 1e-9));
    for (int d = d0; d <= d1; ++d) {
      for (const double m : {1.0, 2.0, 5.0}) {
        const double v = m * std::pow(10, d);
        if ((m == 1 || d1 - d0 <= 3) && v >= s.lo * (1 - 1e-9) && v <= s.hi * (1 + 1e-9)) s.ticks.push_back(v);
      }
    }
  } else {
    const double step = nice_step(s.lo, s.hi);
    for (double v = std::ceil(s.lo / step - 1e-9) * step; v <= s.hi + step * 1e-9; v += step) {
      s.ticks.push_back(std::abs(v) < step * 1e-9 ? 0.0 : v);
    }
  }
  return s;
}

std::string tick_label(const ChartAxis& axis, double v) { return axis.format ? axis.format(v) : human_count(v); }

}  // namespace

std::string html_escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '<')
      out += "&lt;";
    else if (c == '>')
      out += "&gt;";
    else if (c == '&')
      out += "&amp;";
    else if (c == '"')
      out += "&quot;";
    else
      out += c;
  }
  return out;
}

ChartAxis chart_axis(const std::string& title, bool log, std::string (*format)(double), double min, double max) {
  ChartAxis a;
  a.title = title;
  a.log = log;
  a.format = format;
  a.min = min;
  a.max = max;
  return a;
}

ChartSpec chart_spec(const std::string& title, const ChartAxis& x, const ChartAxis& y, double width, double height,
                     bool legend) {
  ChartSpec s;
  s.title = title;
  s.x = x;
  s.y = y;
  s.width = width;
  s.height = height;
  s.legend = legend;
  return s;
}

const char* series_color(size_t i) { return kColors[i % 8]; }

std::string svg_chart(const ChartSpec& spec, const std::vector<ChartSeries>& series_in) {
  // Points a log axis cannot place are left out.
  std::vector<ChartSeries> series = series_in;
  double x0 = HUGE_VAL, x1 = -HUGE_VAL, y0 = HUGE_VAL, y1 = -HUGE_VAL;
  for (ChartSeries& s : series) {
    std::vector<std::pair<double, double>> kept;
    std::vector<std::string> labels;
    for (size_t i = 0; i < s.points.size(); ++i) {
      const auto [x, y] = s.points[i];
      if (!std::isfinite(x) || !std::isfinite(y) || (spec.x.log && x <= 0) || (spec.y.log && y <= 0)) continue;
      kept.push_back(s.points[i]);
      if (i < s.labels.size()) labels.push_back(s.labels[i]);
      x0 = std::min(x0, x), x1 = std::max(x1, x), y0 = std::min(y0, y), y1 = std::max(y1, y);
    }
    s.points = std::move(kept);
    s.labels = std::move(labels);
  }
  if (x0 > x1) return fmt::format("<p class=\"nodata\">{}: no data</p>\n", html_escape(spec.title));
  for (const ChartRef& r : spec.x_refs) {
    if (!spec.x.log || r.x > 0) x0 = std::min(x0, r.x), x1 = std::max(x1, r.x);
  }
  const double w = spec.width, h = spec.height, l = 64, r = spec.legend ? 230 : 28, t = 26, b = 38;
  Scale sx = make_scale(spec.x, x0, x1, false), sy = make_scale(spec.y, y0, y1, true);
  sx.p0 = l, sx.p1 = w - r, sy.p0 = h - b, sy.p1 = t;
  std::ostringstream o;
  o << fmt::format(R"(<svg class="chart" xmlns="http://www.w3.org/2000/svg" width="{}" height="{}" )"
                   R"(viewBox="0 0 {} {}" font-family="sans-serif" font-size="11">)",
                   w, h, w, h);
  o << fmt::format(R"(<text x="{}" y="17" font-size="13" font-weight="bold">{}</text>)", l, html_escape(spec.title));
  o << fmt::format(R"(<rect x="{}" y="{}" width="{}" height="{}" fill="none" stroke="#999"/>)", l, t, w - l - r,
                   h - t - b);
  for (const double v : sx.ticks) {
    o << fmt::format(R"(<line x1="{:.1f}" x2="{:.1f}" y1="{}" y2="{}" stroke="#eee"/>)", sx(v), sx(v), t, h - b);
    o << fmt::format(R"(<text x="{:.1f}" y="{}" text-anchor="middle">{}</text>)", sx(v), h - b + 13,
                     html_escape(tick_label(spec.x, v)));
  }
  for (const double v : sy.ticks) {
    o << fmt::format(R"(<line x1="{}" x2="{}" y1="{:.1f}" y2="{:.1f}" stroke="#eee"/>)", l, w - r, sy(v), sy(v));
    o << fmt::format(R"(<text x="{}" y="{:.1f}" text-anchor="end">{}</text>)", l - 4, sy(v) + 4,
                     html_escape(tick_label(spec.y, v)));
  }
  o << fmt::format(R"(<text x="{:.1f}" y="{}" text-anchor="middle">{}</text>)", (l + w - r) / 2, h - 6,
                   html_escape(spec.x.title + (spec.x.log ? " (log scale)" : "")));
  o << fmt::format(R"svg(<text x="12" y="{:.1f}" transform="rotate(-90 12 {:.1f})" text-anchor="middle">{}</text>)svg",
                   (t + h - b) / 2, (t + h - b) / 2, html_escape(spec.y.title));
  for (const ChartRef& ref : spec.x_refs) {
    if (spec.x.log && ref.x <= 0) continue;
    o << fmt::format(R"(<line class="ref" x1="{:.1f}" x2="{:.1f}" y1="{}" y2="{}" stroke="#b00" )"
                     R"(stroke-dasharray="5,3" stroke-width="1.4"/>)",
                     sx(ref.x), sx(ref.x), t, h - b);
    o << fmt::format(R"(<text x="{:.1f}" y="{}" fill="#b00" text-anchor="end">{}</text>)", sx(ref.x) - 3, t + 12,
                     html_escape(ref.label));
  }
  for (size_t i = 0; i < series.size(); ++i) {
    const ChartSeries& s = series[i];
    const char* color = s.hollow ? "#999" : series_color(i);
    if (spec.lines && !s.hollow && s.points.size() > 1) {
      std::string path;
      for (const auto& [x, y] : s.points)
        path += fmt::format("{}{:.1f},{:.1f} ", path.empty() ? "M" : "L", sx(x), sy(y));
      o << fmt::format(R"(<path class="series" d="{}" fill="none" stroke="{}" stroke-width="1.8"/>)", path, color);
    }
    if (!spec.lines || s.hollow || s.points.size() < 30) {
      for (const auto& [x, y] : s.points) {
        o << (s.hollow ? fmt::format(R"(<circle cx="{:.1f}" cy="{:.1f}" r="3.5" fill="none" stroke="{}"/>)", sx(x),
                                     sy(y), color)
                       : fmt::format(R"(<circle cx="{:.1f}" cy="{:.1f}" r="3.5" fill="{}"/>)", sx(x), sy(y), color));
      }
    }
    for (size_t k = 0; k < s.labels.size(); ++k) {
      o << fmt::format(R"(<text class="point-label" x="{:.1f}" y="{:.1f}" font-size="10" fill="{}">{}</text>)",
                       sx(s.points[k].first) + 6, sy(s.points[k].second) - 6, color, html_escape(s.labels[k]));
    }
    if (spec.legend) {
      const double ly = t + 4 + 16 * static_cast<double>(i);
      o << fmt::format(R"(<rect x="{}" y="{}" width="10" height="10" fill="{}"/><text x="{}" y="{}">{}</text>)",
                       w - r + 10, ly, color, w - r + 24, ly + 9, html_escape(s.name));
    }
  }
  o << "</svg>\n";
  return o.str();
}

}  // namespace kvsim::sim
