// The parts of kvsim's HTML report (sim/planning/report.h): reading a run folder's own CSV outputs with every number
// checked, the run section (report_run.cc) and the rate and cost sections of a compare or sweep folder
// (report_sweep.cc).
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace kvsim::sim::report {

// A field of kvsim's own outputs that must be a number; a damaged file is an input error with its place.
double number_at(const std::string& field, const std::string& file, int64_t line);

// kvsim's own CSV outputs, each number checked; a missing or empty file gives no rows. Rows carry their line.
struct CsvRows {
  std::vector<std::string> header;
  std::vector<std::vector<std::string>> rows;
  std::vector<int64_t> lines;
  std::string file;
  size_t column(const std::string& name) const;  // header.size() when absent
  double number(size_t row, size_t col) const { return number_at(rows[row][col], file, lines[row]); }
};
CsvRows read_csv(const std::filesystem::path& p);

// A run folder (summary.json, requests.csv, memory.csv, scenario.resolved.yaml): what was run (model, GPU, TP,
// policy, router and replicas, workload, SLOs), its key numbers, one latency CDF per metric on a log axis with the SLO
// drawn, and KV use over time as one small panel per replica.
std::string run_section(const std::filesystem::path& dir, const std::string& title);

// A point of a compare or sweep folder: its configuration (everything but the rate), its rate and its summary.
struct Point {
  std::string config;
  double rate = 0;
  nlohmann::json summary;
};

// TTFT, TPOT and throughput against the request rate, one line per configuration.
std::string rate_section(const std::vector<Point>& points);

// Fleet cost (summary usd_per_hour: replicas x TP x $/GPU-hour) against p99 TPOT at the highest rate with priced
// points, one point per configuration labelled with it; the Pareto front drawn and listed in a table.
std::string pareto_section(const std::vector<Point>& points);

}  // namespace kvsim::sim::report
