#include "sim/planning/study_report.h"

#include <algorithm>
#include <cmath>
#include <filesystem>

#include <fmt/format.h>

#include "sim/planning/compare_columns.h"
#include "sim/planning/deployment_study.h"
#include "sim/core/atomic_file.h"
#include "sim/core/error.h"
#include "sim/core/units.h"

namespace kvsim::sim {

namespace {

using Json = nlohmann::ordered_json;

std::string rate_label(double rate) { return fmt::format("{:g}", rate); }

double num(const Json& j, const char* key) { return j.at(key).get<double>(); }
uint64_t bytes(const Json& j, const char* key) { return j.at(key).get<uint64_t>(); }

std::string csv_cell(const Json& v) {
  if (v.is_number_integer() || v.is_number_unsigned()) return fmt::format("{}", v.get<int64_t>());
  return fmt::format("{:.3f}", v.get<double>());
}

template <typename T, typename F>
std::vector<T> distinct(const std::vector<StudyPoint>& points, F field) {
  std::vector<T> out;
  for (const StudyPoint& p : points) {
    if (std::find(out.begin(), out.end(), field(p)) == out.end()) out.push_back(field(p));
  }
  return out;
}

std::vector<std::string> models_of(const std::vector<StudyPoint>& points) {
  return distinct<std::string>(points, [](const StudyPoint& p) { return p.model; });
}

std::vector<double> rates_of(const std::vector<StudyPoint>& points, const std::string& model) {
  std::vector<double> out;
  for (const StudyPoint& p : points) {
    if (p.model == model && std::find(out.begin(), out.end(), p.rate) == out.end()) out.push_back(p.rate);
  }
  return out;
}

const StudyPoint& first_of(const std::vector<StudyPoint>& points, const std::string& model) {
  return *std::find_if(points.begin(), points.end(), [&](const StudyPoint& p) { return p.model == model; });
}

// "vllm = h2o-s10", or "none ranked".
std::string winners_label(const std::vector<StudyPoint>& points, const std::vector<size_t>& winners) {
  if (winners.empty()) return "none ranked";
  std::vector<std::string> labels;
  for (size_t i : winners) labels.push_back(points[i].label());
  return join(labels, " = ");
}

// " (409.3 tok/s)"
std::string winner_value(const Json& j, const StudyCriterion& c) {
  const std::string key = c.key;
  if (key == "output_throughput") return fmt::format(" ({:.1f} tok/s)", num(j, c.key));
  if (key == "peak_hbm_bytes") return fmt::format(" ({:.2f} GiB)", bytes_to_gib(bytes(j, c.key)));
  return fmt::format(" ({:.1f} ms)", num(j, c.key));
}

void check_sizes(const std::vector<StudyPoint>& points, const std::vector<Json>& summaries) {
  if (points.size() != summaries.size()) {
    throw Error(fmt::format("study report: {} points but {} summaries", points.size(), summaries.size()));
  }
}

void write_grid(const std::string& name, const std::vector<StudyPoint>& points, const std::vector<Json>& summaries,
                std::string& md) {
  const Scenario& s0 = points.front().scenario;
  md += "## Grid\n\n";
  md +=
      "| model | hardware | tensor parallel | prompt tokens | output tokens | vllm KV capacity (tokens) | "
      "rates (req/s) |\n";
  md += "|---|---|---:|---|---|---:|---|\n";
  for (const std::string& model : models_of(points)) {
    const StudyPoint& p = first_of(points, model);
    std::vector<std::string> rates;
    for (double r : rates_of(points, model)) rates.push_back(rate_label(r));
    std::string capacity = "-";
    for (size_t i = 0; i < points.size(); ++i) {
      if (points[i].model == model && points[i].policy == "vllm") {
        capacity = fmt::format("{}", summaries[i].at("kv_capacity_tokens").get<int64_t>());
        break;
      }
    }
    md +=
        fmt::format("| {} | {} | {} | {} | {} | {} | {} |\n", model, p.scenario.hardware.name,
                    p.scenario.cluster.tensor_parallel, traces::describe_length_dist(p.scenario.workload.prompt_tokens),
                    traces::describe_length_dist(p.scenario.workload.output_tokens), capacity, join(rates));
  }
  std::vector<std::string> settings;
  for (const std::string& label : distinct<std::string>(points, [](const StudyPoint& p) { return p.label(); })) {
    const StudyPoint& p =
        *std::find_if(points.begin(), points.end(), [&](const StudyPoint& q) { return q.label() == label; });
    settings.push_back(fmt::format("`{}` (engine {})", label, p.scenario.engine.version));
  }
  md += "\n";
  md += fmt::format("- Policy settings: {}.\n", join(settings));
  md +=
      "- Sparsity (`sparsity` column, `-s<pct>` in the labels): the share of each sequence's KV, in % of its prompt, "
      "that `h2o` keeps (`cache.heavy_ratio` and `cache.recent_ratio` each half of it) and that `infinigen` fetches "
      "per step and head (`cache.max_kv_ratio`, with `cache.alpha` 1e6 so that every step fetches it: at its "
      "scripts' alpha 4 the synthetic selection fetches less than any level); 100 is `vllm`'s full cache. Every other setting is the preset's "
      "default.\n";
  md += fmt::format("- Workload: {} requests per point, Poisson arrivals, seed {}; SLO TTFT {} ms, TPOT {} ms.\n",
                    s0.workload.requests ? std::to_string(*s0.workload.requests) : "trace", s0.seed,
                    s0.slo.ttft_ms ? fmt::format("{:g}", *s0.slo.ttft_ms) : "-",
                    s0.slo.tpot_ms ? fmt::format("{:g}", *s0.slo.tpot_ms) : "-");
  if (name == "paper") {
    md +=
        "- Prompt lengths: the built-in study's long prompts (lognormal, mean 12000, stddev 6000, clip [1024, "
        "32768]; output mean 300, stddev 150, clip [16, 2048]) wherever prompt + output fit the model's context C "
        "(max_position_embeddings). A shorter context keeps the output at most min(2048, C / 8) tokens and scales "
        "the whole prompt distribution (mean, stddev, min, max) by (C - output max) / 32768, so that every prompt "
        "+ output fits in C and the prompts keep their spread instead of piling up at the cap (llama-2-13b, C = "
        "4096: prompts <= 3584, outputs <= 512).\n";
    std::string knees;
  for (const StudyModel& m : paper_study_models()) {
    knees += fmt::format("{}{}{} {} req/s", knees.empty() ? "" : ", ", m.model,
                         m.tensor_parallel > 1 ? fmt::format(" at tp {}", m.tensor_parallel) : "", m.knee_rate);
  }
  md += fmt::format(
      "- Request rates: per model about 0.5, 0.8, 1 and 1.5 x the knee of its `vllm` point, the highest rate at "
      "which vllm still (almost) never preempts, found by `kvsim run` sweeps on the datasheet h100-sxm5-80gb "
      "profile ({}). Past the knee preemptions run into the hundreds and TTFT jumps from seconds to minutes. With "
      "`--set hardware=...` the rates stay as listed.\n",
      knees);
    md +=
        "- The comparative study of vLLM, InfiniGen and H2O this grid stands for varies request rate, model size and "
        "sparsity level but does not publish its exact grid; this one is kvsim's.\n";
  }
  md += "- Peak HBM, host KV and PCIe bytes are per GPU.\n";
}

}  // namespace

bool study_point_ranked(const Json& summary) {
  return summary.at("rejected").get<int64_t>() == 0 && summary.at("completed").get<int64_t>() > 0;
}

std::vector<std::string> study_csv_columns() {
  std::vector<std::string> c = {"model", "tp", "policy", "sparsity", "rate"};
  for (const char* k : kCompareSummaryKeys) c.emplace_back(k);
  c.emplace_back("retention_early_facts");
  return c;
}

std::string study_csv(const std::vector<StudyPoint>& points, const std::vector<Json>& summaries) {
  check_sizes(points, summaries);
  const std::vector<std::string> columns = study_csv_columns();
  std::string out = join(columns, ",") + "\n";
  for (size_t i = 0; i < points.size(); ++i) {
    const StudyPoint& p = points[i];
    std::vector<std::string> cells = {p.model, std::to_string(p.tensor_parallel), p.policy,
                                      std::to_string(p.sparsity_pct), rate_label(p.rate)};
    for (size_t c = cells.size(); c < columns.size(); ++c) cells.push_back(csv_cell(summaries[i].at(columns[c])));
    out += join(cells, ",") + "\n";
  }
  return out;
}

const std::vector<StudyCriterion>& study_criteria() {
  static const std::vector<StudyCriterion> kCriteria = {{"throughput", "output_throughput", true},
                                                        {"p99 TTFT", "p99_ttft_ms", false},
                                                        {"p99 TPOT", "p99_tpot_ms", false},
                                                        {"peak HBM", "peak_hbm_bytes", false}};
  return kCriteria;
}

std::vector<size_t> study_winners(const std::vector<StudyPoint>& points, const std::vector<Json>& summaries,
                                  const std::string& model, double rate, const StudyCriterion& criterion) {
  check_sizes(points, summaries);
  std::vector<size_t> candidates;
  std::optional<size_t> best;
  for (size_t i = 0; i < points.size(); ++i) {
    if (points[i].model != model || points[i].rate != rate || !study_point_ranked(summaries[i])) continue;
    candidates.push_back(i);
    const double v = num(summaries[i], criterion.key);
    if (!best || (criterion.higher_is_better ? v > num(summaries[*best], criterion.key)
                                             : v < num(summaries[*best], criterion.key))) {
      best = i;
    }
  }
  if (!best) return {};
  const double b = num(summaries[*best], criterion.key);
  std::vector<size_t> winners = {*best};
  for (size_t i : candidates) {
    if (i != *best && std::abs(num(summaries[i], criterion.key) - b) <= kStudyTieTolerance * std::abs(b)) {
      winners.push_back(i);
    }
  }
  return winners;
}

std::vector<std::string> study_winner_lines(const std::vector<StudyPoint>& points, const std::vector<Json>& summaries) {
  std::vector<std::string> lines;
  for (const std::string& model : models_of(points)) {
    std::vector<std::string> parts;
    for (const StudyCriterion& c : study_criteria()) {
      // Winner label -> the rates it wins at, in order of first win.
      std::vector<std::pair<std::string, std::vector<std::string>>> wins;
      for (double rate : rates_of(points, model)) {
        const std::string label = winners_label(points, study_winners(points, summaries, model, rate, c));
        auto it = std::find_if(wins.begin(), wins.end(), [&](const auto& e) { return e.first == label; });
        if (it == wins.end()) it = wins.insert(wins.end(), {label, {}});
        it->second.push_back(rate_label(rate));
      }
      std::vector<std::string> by;
      for (const auto& [label, rates] : wins) by.push_back(fmt::format("{} at {} req/s", label, join(rates)));
      parts.push_back(fmt::format("{}: {}", c.name, join(by)));
    }
    lines.push_back(fmt::format("{} (tp {}): {}", model, first_of(points, model).tensor_parallel, join(parts, "; ")));
  }
  return lines;
}

std::string study_markdown(const std::string& name, const std::vector<StudyPoint>& points,
                           const std::vector<Json>& summaries) {
  check_sizes(points, summaries);
  if (points.empty()) throw Error(fmt::format("study '{}' has no points", name));
  std::string md = fmt::format("# kvsim study `{}`: vLLM, H2O and InfiniGen\n\n", name);
  md += fmt::format(
      "Generated by `kvsim compare --study {}`: {} points, one simulation each; every point's outputs "
      "(summary.json, requests.csv, memory.csv, scenario.resolved.yaml) are under "
      "`<model>/<policy>[-s<pct>]/rate-<r>/` beside this file, and `study.csv` has one row per point.\n\n",
      name, points.size());
  write_grid(name, points, summaries, md);

  md += "\n## Which policy wins where\n\n";
  static_assert(kStudyTieTolerance == 0.01, "the text below says 1 %");
  md +=
      "Per model and request rate: throughput = highest `output_throughput`; latency = lowest `p99_ttft_ms` and "
      "lowest `p99_tpot_ms`; memory = lowest `peak_hbm_bytes`. Points within 1 % of the best tie and are all named "
      "(`vllm = infinigen-s10`). Only points that served every request are ranked: "
      "a point that rejected requests (H2O's eager prefill cannot hold the longest prompts) served an easier "
      "workload. **Retention values are a synthetic proxy** (the share of attention mass and of early-context "
      "facts kept, under a synthetic attention model: sim/cache/quality.h), an assumption and not a measurement; "
      "**winners are not ranked by retention**, so a policy that wins on speed or memory may lose on quality.\n\n";
  for (const std::string& line : study_winner_lines(points, summaries)) {
    const size_t sp = line.find(' ');
    md += fmt::format("- **{}**{}\n", line.substr(0, sp), line.substr(sp));
  }
  md += study_findings(points, summaries);

  for (const std::string& model : models_of(points)) {
    md += fmt::format("\n## {} (tp {})\n\n", model, first_of(points, model).tensor_parallel);
    md +=
        "| policy | sparsity % | rate | completed | rejected | output tok/s | TTFT p50 ms | TTFT p99 ms | "
        "TPOT p50 ms | TPOT p99 ms | preemptions | peak HBM GiB | host KV GiB | PCIe GiB | retention attn* | "
        "retention facts* |\n";
    md += "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n";
    std::vector<std::pair<std::string, std::vector<std::string>>> unranked;  // label -> rates
    for (size_t i = 0; i < points.size(); ++i) {
      const StudyPoint& p = points[i];
      if (p.model != model) continue;
      const Json& j = summaries[i];
      if (!study_point_ranked(j)) {
        if (unranked.empty() || unranked.back().first != p.label()) unranked.push_back({p.label(), {}});
        unranked.back().second.push_back(rate_label(p.rate));
      }
      md += fmt::format(
          "| {} | {} | {} | {} | {} | {:.1f} | {:.1f} | {:.1f} | {:.1f} | {:.1f} | {} | {:.2f} | {:.2f} | {:.2f} | "
          "{:.3f} | {:.3f} |\n",
          p.label(), p.sparsity_pct, rate_label(p.rate), j.at("completed").get<int64_t>(),
          j.at("rejected").get<int64_t>(), num(j, "output_throughput"), num(j, "median_ttft_ms"), num(j, "p99_ttft_ms"),
          num(j, "median_tpot_ms"), num(j, "p99_tpot_ms"), j.at("num_preemptions").get<int64_t>(),
          bytes_to_gib(bytes(j, "peak_hbm_bytes")), bytes_to_gib(bytes(j, "peak_kv_host_bytes")),
          bytes_to_gib(bytes(j, "pcie_h2d_bytes") + bytes(j, "pcie_d2h_bytes")), num(j, "retention_attention"),
          num(j, "retention_early_facts"));
    }
    md += "\n* synthetic proxy, not a measurement (see above).\n\n";
    md += fmt::format("Winners for {}, per rate (among the points that served every request):\n\n", model);
    md += "| rate (req/s) |";
    for (const StudyCriterion& c : study_criteria()) md += fmt::format(" {} |", c.name);
    md += "\n|---:|";
    for (size_t c = 0; c < study_criteria().size(); ++c) md += "---|";
    md += "\n";
    for (double rate : rates_of(points, model)) {
      md += fmt::format("| {} |", rate_label(rate));
      for (const StudyCriterion& c : study_criteria()) {
        const std::vector<size_t> w = study_winners(points, summaries, model, rate, c);
        md += fmt::format(" {} |", w.empty() ? std::string("none ranked")
                                             : winners_label(points, w) + winner_value(summaries[w.front()], c));
      }
      md += "\n";
    }
    if (!unranked.empty()) {
      std::vector<std::string> parts;
      for (const auto& [label, rates] : unranked) parts.push_back(fmt::format("{} at {} req/s", label, join(rates)));
      md += fmt::format("\nNot ranked (rejected requests): {}.\n", join(parts, "; "));
    }
  }

  // The notes the runs attach (presets applied beyond what their paper evaluated), once each.
  std::vector<std::string> notes;
  for (const Json& j : summaries) {
    if (!j.contains("notes")) continue;
    for (const auto& n : j.at("notes")) {
      const std::string s = n.get<std::string>();
      if (std::find(notes.begin(), notes.end(), s) == notes.end()) notes.push_back(s);
    }
  }
  if (!notes.empty()) {
    md += "\n## Notes from the runs\n\n";
    for (const std::string& n : notes) md += "- " + n + "\n";
  }
  return md;
}

void write_study_reports(const std::string& dir, const std::string& name, const std::vector<StudyPoint>& points,
                         const std::vector<Json>& summaries) {
  const bool scenarios = name == "scenarios";
  const std::string csv = scenarios ? deployment_study_csv(points, summaries) : study_csv(points, summaries);
  const std::string md =
      scenarios ? deployment_study_markdown(points, summaries) : study_markdown(name, points, summaries);
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) throw Error(Place{dir}, fmt::format("cannot create output folder: {}", ec.message()));
  write_file_atomic(dir + "/study.csv", csv);
  write_file_atomic(dir + "/study.md", md);
}

}  // namespace kvsim::sim
