// The seed study's findings, checked point by point against a study's results (study_report.h).
#include <algorithm>
#include <cmath>

#include <fmt/format.h>

#include "sim/core/error.h"
#include "sim/planning/study_report.h"

namespace kvsim::sim {

namespace {

using Json = nlohmann::ordered_json;

double num(const Json& j, const char* key) { return j.at(key).get<double>(); }
std::string at(const StudyPoint& p) { return fmt::format("{} at {:g} req/s", p.model, p.rate); }

// The point of `policy` at `sparsity` for p's model and rate (vllm has one, at 100), or npos.
size_t find(const std::vector<StudyPoint>& points, const StudyPoint& p, const std::string& policy, int sparsity) {
  for (size_t i = 0; i < points.size(); ++i) {
    const StudyPoint& q = points[i];
    if (q.model == p.model && q.rate == p.rate && q.policy == policy &&
        (policy == "vllm" || q.sparsity_pct == sparsity))
      return i;
  }
  return std::string::npos;
}

// Mean KV entries stored per running request over the run: the pool's token share times its capacity, over the
// mean number running.
double kv_per_request(const Json& j) {
  const double running = num(j, "mean_running_requests");
  return running > 0 ? num(j, "kv_pool_token_share") * num(j, "kv_capacity_tokens") / running : 0.0;
}

std::string verdict(size_t yes, size_t of, const char* what = "points") {
  if (of == 0) return fmt::format("**not tested** (no {} apply)", what);
  if (yes == of) return fmt::format("**reproduced** at all {} {}", of, what);
  if (yes == 0) return fmt::format("**not reproduced** at any of {} {}", of, what);
  return fmt::format("**partly reproduced**: at {} of {} {}", yes, of, what);
}

std::string list(const std::vector<std::string>& items, size_t most = 6) {
  if (items.empty()) return "";
  std::vector<std::string> shown(items.begin(),
                                 items.begin() + static_cast<std::ptrdiff_t>(std::min(most, items.size())));
  std::string s = join(shown, "; ");
  if (items.size() > most) s += fmt::format("; and {} more", items.size() - most);
  return s;
}

}  // namespace

std::string study_findings(const std::vector<StudyPoint>& points, const std::vector<Json>& summaries) {
  std::string md = "\n## The seed study's findings, point by point\n\n";
  md +=
      "Generated from the points above. The comparative study found that no strategy wins everywhere; these are its "
      "findings as kvsim can test them. Throughput winners are those of the table above (ranked points only, 1 % "
      "ties); the retention columns are the synthetic proxy.\n\n";

  // 1. vLLM is fastest when the KV fits: the rates at which the vllm point never preempts.
  {
    size_t yes = 0, of = 0;
    std::vector<std::string> against;
    for (size_t i = 0; i < points.size(); ++i) {
      const StudyPoint& p = points[i];
      if (p.policy != "vllm" || !study_point_ranked(summaries[i]) ||
          summaries[i].at("num_preemptions").get<int64_t>() > 0)
        continue;
      ++of;
      const std::vector<size_t> w = study_winners(points, summaries, p.model, p.rate, study_criteria().front());
      if (std::find(w.begin(), w.end(), i) != w.end()) {
        ++yes;
      } else if (!w.empty()) {
        against.push_back(fmt::format("{}: {}", at(p), points[w.front()].label()));
      }
    }
    md += fmt::format(
        "1. *vLLM has the highest throughput when the KV fits on the GPU* (the rates where vllm never "
        "preempts): {}.{}\n",
        verdict(yes, of), against.empty() ? "" : " Elsewhere the winner is " + list(against) + ".");
  }
  // 2. H2O cuts KV memory by about 70 %, at a retention cost: KV stored per running request against vllm's.
  {
    std::vector<int> sparsities;
    for (const StudyPoint& p : points) {
      if (p.policy == "h2o" && std::find(sparsities.begin(), sparsities.end(), p.sparsity_pct) == sparsities.end())
        sparsities.push_back(p.sparsity_pct);
    }
    std::vector<std::string> parts;
    size_t yes = 0, of = 0;
    for (int sp : sparsities) {
      std::vector<double> cuts, retained;
      for (size_t i = 0; i < points.size(); ++i) {
        const StudyPoint& p = points[i];
        if (p.policy != "h2o" || p.sparsity_pct != sp) continue;
        const size_t v = find(points, p, "vllm", 100);
        if (v == std::string::npos || kv_per_request(summaries[v]) <= 0 || kv_per_request(summaries[i]) <= 0) continue;
        cuts.push_back(1.0 - kv_per_request(summaries[i]) / kv_per_request(summaries[v]));
        retained.push_back(num(summaries[i], "retention_attention"));
      }
      if (cuts.empty()) continue;
      std::sort(cuts.begin(), cuts.end());
      const double median = cuts[cuts.size() / 2];
      const bool about70 = median >= 0.6 && median <= 0.8;
      const bool cost = *std::min_element(retained.begin(), retained.end()) < 1.0;
      ++of;
      if (about70 && cost) ++yes;
      parts.push_back(fmt::format(
          "h2o-s{}: median {:.0f} % less KV per running request over {} points (range {:.0f}-"
          "{:.0f} %), attention retained {:.2f}-{:.2f}",
          sp, median * 100, cuts.size(), cuts.front() * 100, cuts.back() * 100,
          *std::min_element(retained.begin(), retained.end()), *std::max_element(retained.begin(), retained.end())));
    }
    md += fmt::format(
        "2. *H2O cuts KV memory by about 70 % at a retention cost* (KV entries stored per running request against "
        "vllm's at the same model and rate; \"about 70 %\" taken as a median of 60-80 %): {}. {}.\n",
        verdict(yes, of, "budgets"), join(parts, "; "));
  }
  // 3. InfiniGen keeps early facts better than H2O, at the same share of the KV.
  {
    size_t yes = 0, of = 0;
    std::vector<std::string> against;
    for (size_t i = 0; i < points.size(); ++i) {
      const StudyPoint& p = points[i];
      if (p.policy != "infinigen") continue;
      const size_t h = find(points, p, "h2o", p.sparsity_pct);
      if (h == std::string::npos || summaries[i].at("completed").get<int64_t>() == 0 ||
          summaries[h].at("completed").get<int64_t>() == 0)
        continue;
      ++of;
      const double ig = num(summaries[i], "retention_early_facts"), h2o = num(summaries[h], "retention_early_facts");
      if (ig > h2o) {
        ++yes;
      } else {
        against.push_back(fmt::format("{} at {} %: {:.3f} vs {:.3f}", at(p), p.sparsity_pct, ig, h2o));
      }
    }
    md += fmt::format(
        "3. *InfiniGen keeps early facts better than H2O* (retention_early_facts at the same model, "
        "rate and share of the KV; the proxy): {}.{}\n",
        verdict(yes, of), against.empty() ? "" : " Not at " + list(against) + ".");
  }
  // 4. InfiniGen wins when the KV does not fit: the rates at which the vllm point preempts.
  {
    size_t yes = 0, of = 0;
    std::vector<std::string> winners;
    for (size_t i = 0; i < points.size(); ++i) {
      const StudyPoint& p = points[i];
      if (p.policy != "vllm" || summaries[i].at("num_preemptions").get<int64_t>() == 0) continue;
      ++of;
      const std::vector<size_t> w = study_winners(points, summaries, p.model, p.rate, study_criteria().front());
      const bool infinigen = std::any_of(w.begin(), w.end(), [&](size_t k) { return points[k].policy == "infinigen"; });
      if (infinigen) {
        ++yes;
      } else {
        winners.push_back(fmt::format("{}: {} ({} preemptions of vllm)", at(p),
                                      w.empty() ? std::string("none ranked") : points[w.front()].label(),
                                      summaries[i].at("num_preemptions").get<int64_t>()));
      }
    }
    md += fmt::format(
        "4. *InfiniGen wins when the KV does not fit on the GPU* (the rates where vllm preempts; "
        "throughput): {}.{}\n",
        verdict(yes, of), winners.empty() ? "" : " The winner there: " + list(winners) + ".");
  }
  return md;
}

}  // namespace kvsim::sim
