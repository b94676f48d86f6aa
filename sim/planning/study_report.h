// The reports of a study (sim/planning/study.h): study.csv, one row per point, and study.md, the grid definition, one table per
// model and which policy wins where by throughput, latency and memory, per model and rate. Both are generated from the
// points and their summary.json objects alone, deterministically, and written atomically.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "sim/planning/study.h"

namespace kvsim::sim {

// study.csv: model, tp, policy, sparsity, rate, the compare keys (sim/planning/compare_columns.h), retention_early_facts.
std::vector<std::string> study_csv_columns();
std::string study_csv(const std::vector<StudyPoint>& points, const std::vector<nlohmann::ordered_json>& summaries);

// What a winner is chosen by. Only points that served every request (rejected == 0, completed > 0) are ranked: a
// point that rejected requests served an easier workload. Retention is never a criterion: it is a synthetic proxy.
bool study_point_ranked(const nlohmann::ordered_json& summary);
struct StudyCriterion {
  const char* name;  // "throughput"
  const char* key;   // summary key, "output_throughput"
  bool higher_is_better;
};
const std::vector<StudyCriterion>& study_criteria();

// Results within this share of the best count as ties: below saturation every policy that keeps up delivers the
// offered load, and a 0.1 % difference in throughput is no win.
inline constexpr double kStudyTieTolerance = 0.01;

// The indices (into points) of the winners of `criterion` among the points of `model` at `rate`: the best first, then
// every other ranked point within kStudyTieTolerance of it, in grid order; empty when none of them is ranked.
std::vector<size_t> study_winners(const std::vector<StudyPoint>& points,
                                  const std::vector<nlohmann::ordered_json>& summaries, const std::string& model,
                                  double rate, const StudyCriterion& criterion);

// One line per model: "llama-3.1-8b (tp 1): throughput: vllm at 0.7, 1.1 req/s, vllm = h2o-s10 at 2 req/s; ...".
std::vector<std::string> study_winner_lines(const std::vector<StudyPoint>& points,
                                            const std::vector<nlohmann::ordered_json>& summaries);

// The seed study's findings checked against the points (sim/planning/study_findings.cc): vLLM fastest where the KV fits,
// H2O's KV cut and its retention cost, InfiniGen's early facts against H2O's, InfiniGen where the KV does not fit;
// each "reproduced", "partly reproduced" (with the points against) or "not reproduced". Markdown.
std::string study_findings(const std::vector<StudyPoint>& points, const std::vector<nlohmann::ordered_json>& summaries);

std::string study_markdown(const std::string& name, const std::vector<StudyPoint>& points,
                           const std::vector<nlohmann::ordered_json>& summaries);

// Writes <dir>/study.csv and <dir>/study.md (creating dir), each atomically.
void write_study_reports(const std::string& dir, const std::string& name, const std::vector<StudyPoint>& points,
                         const std::vector<nlohmann::ordered_json>& summaries);

}  // namespace kvsim::sim
