// The charts of kvsim's HTML report (sim/planning/report.h) as inline SVG: line and scatter charts on linear or
// logarithmic axes with readable tick labels (sim/planning/report_format.h), vertical reference lines (an SLO), point
// labels (a Pareto front's configurations) and small panels for small multiples. No script, nothing fetched.
#pragma once

#include <string>
#include <utility>
#include <vector>

namespace kvsim::sim {

struct ChartSeries {
  std::string name;
  std::vector<std::pair<double, double>> points;  // (x, y)
  std::vector<std::string> labels;                // empty, or one per point: drawn next to it
  bool hollow = false;                            // drawn as open grey circles (points off a front)
};

struct ChartAxis {
  std::string title;
  bool log = false;                         // log10 scale; points with a value <= 0 are left out
  std::string (*format)(double) = nullptr;  // tick labels; null: human_count
  double min = 0, max = 0;                  // fixed range when min < max, else from the data (linear y from 0)
};

struct ChartRef {
  double x = 0;       // a vertical line at x (an SLO threshold)
  std::string label;  // drawn beside it
};

struct ChartSpec {
  std::string title;
  ChartAxis x, y;
  std::vector<ChartRef> x_refs;
  double width = 900, height = 300;
  bool lines = true;   // join each series' points (false: markers only)
  bool legend = true;  // to the right of the plot
};

// Built field by field (GCC 12 warns falsely on nested aggregate temporaries with strings).
ChartAxis chart_axis(const std::string& title, bool log, std::string (*format)(double), double min = 0, double max = 0);
ChartSpec chart_spec(const std::string& title, const ChartAxis& x, const ChartAxis& y, double width, double height,
                     bool legend);

// One <svg class="chart">; "no data" text (no svg) when no point can be drawn.
std::string svg_chart(const ChartSpec& spec, const std::vector<ChartSeries>& series);

// HTML-escaped text.
std::string html_escape(const std::string& s);

// The colour of series i (the same order in every chart).
const char* series_color(size_t i);

}  // namespace kvsim::sim
