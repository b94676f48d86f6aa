// `kvsim report DIR -o report.html`: one self-contained HTML page (inline SVG, no script, no network) of a run
// folder (summary.json, requests.csv, memory.csv), a compare folder (one run folder per policy and rate), or a sweep
// folder (results.jsonl): latency CDFs, memory per tier over time, throughput and p99 latency against the request
// rate per policy, and the cost / p99 TPOT Pareto front of a sweep's points.
#pragma once

#include <string>

namespace kvsim::sim {

// The page for `dir`; throws kvsim::Error when the folder holds none of the above.
std::string render_report(const std::string& dir);

}  // namespace kvsim::sim
