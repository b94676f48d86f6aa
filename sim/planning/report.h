// `kvsim report DIR -o report.html`: one self-contained HTML page (inline SVG, no script, no network) of a run
// folder (summary.json, requests.csv, memory.csv), a compare folder (one run folder per policy and rate), or a sweep
// folder (results.jsonl). A run: what was run (model, GPU, TP, cache policy, router and replicas, workload, SLOs), its
// key numbers, one latency CDF per metric on a log axis with its SLO, KV use over time per replica (small multiples).
// A compare or sweep: p99 TTFT, p99 TPOT and throughput against the request rate per configuration, and the labelled
// fleet-cost / p99 TPOT Pareto front. Numbers read as people write them (sim/planning/report_format.h).
#pragma once

#include <string>

namespace kvsim::sim {

// The page for `dir`; throws kvsim::Error when the folder holds none of the above.
std::string render_report(const std::string& dir);

}  // namespace kvsim::sim
