// kvsim compare: one scenario under several policies and rates, or a named study grid (--study, sim/planning/study.h).
#include <algorithm>
#include <charconv>
#include <functional>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "apps/commands.h"
#include "sim/planning/compare_columns.h"
#include "sim/core/error.h"
#include "sim/core/units.h"
#include "sim/metrics/overload.h"
#include "sim/run.h"
#include "sim/scenario.h"
#include "sim/planning/deployment_study.h"
#include "sim/planning/study.h"
#include "sim/planning/study_report.h"

namespace kvsim::app {

namespace {

std::string rate_label(double rate) { return fmt::format("{:g}", rate); }

std::string cell(const nlohmann::ordered_json& v) {
  if (v.is_number_integer() || v.is_number_unsigned()) return fmt::format("{}", v.get<int64_t>());
  return fmt::format("{:.3f}", v.get<double>());
}

// One row of the compare table: a policy label, a rate label and the point's summary.json.
struct TableRow {
  std::string label, rate;
  const nlohmann::ordered_json* summary;
};

// The human-readable table: median and p99 latencies (the means are in the CSV and JSON), memory in GiB per GPU,
// PCIe both directions together. Columns are as wide as their widest cell.
void print_compare_table(const std::vector<TableRow>& rows, std::ostream& out) {
  using Json = nlohmann::ordered_json;
  using Value = std::function<std::string(const Json&)>;
  auto integer = [](const char* key) -> Value { return [key](const Json& j) { return cell(j.at(key)); }; };
  auto fixed = [](const char* key, int digits) -> Value {
    return [key, digits](const Json& j) { return fmt::format("{:.{}f}", j.at(key).get<double>(), digits); };
  };
  auto gib = [](std::vector<const char*> keys) -> Value {
    return [keys](const Json& j) {
      uint64_t b = 0;
      for (const char* k : keys) b += j.at(k).get<uint64_t>();
      return fmt::format("{:.2f}", bytes_to_gib(b));
    };
  };
  const std::vector<std::pair<std::string, Value>> columns = {{"completed", integer("completed")},
                                                              {"rejected", integer("rejected")},
                                                              {"req/s", fixed("request_throughput", 3)},
                                                              {"tok/s", fixed("output_throughput", 1)},
                                                              {"ttft_p50", fixed("median_ttft_ms", 1)},
                                                              {"ttft_p99", fixed("p99_ttft_ms", 1)},
                                                              {"tpot_p50", fixed("median_tpot_ms", 1)},
                                                              {"tpot_p99", fixed("p99_tpot_ms", 1)},
                                                              {"preempt", integer("num_preemptions")},
                                                              {"kv_util", fixed("kv_token_utilization", 3)},
                                                              {"slo", fixed("slo_attainment", 3)},
                                                              {"goodput", fixed("goodput", 3)},
                                                              {"peak_hbm_gib", gib({"peak_hbm_bytes"})},
                                                              {"host_kv_gib", gib({"peak_kv_host_bytes"})},
                                                              {"pcie_gib", gib({"pcie_h2d_bytes", "pcie_d2h_bytes"})},
                                                              {"retain*", fixed("retention_attention", 3)}};
  std::vector<std::vector<std::string>> table = {{"policy", "rate"}};
  for (const auto& c : columns) table.front().push_back(c.first);
  for (const TableRow& r : rows) {
    std::vector<std::string> cells = {r.label, r.rate};
    for (const auto& c : columns) cells.push_back(c.second(*r.summary));
    table.push_back(std::move(cells));
  }
  std::vector<size_t> width(table.front().size(), 0);
  for (const auto& cells : table) {
    for (size_t i = 0; i < cells.size(); ++i) width[i] = std::max(width[i], cells[i].size());
  }
  for (const auto& cells : table) {
    std::string line = fmt::format("{:<{}}", cells[0], width[0]);
    for (size_t i = 1; i < cells.size(); ++i) line += fmt::format(" {:>{}}", cells[i], width[i]);
    out << line << "\n";
  }
}

constexpr const char* kRetentionFootnote =
    "* retain: share of attention mass kept, under a synthetic attention model (an assumption, not a measurement; "
    "sim/cache/quality.h)\n";

// --requests goes first, so that an explicit --set workload.requests still wins, as it does for a study.
std::vector<std::string> compare_overrides(const CompareArgs& args) {
  std::vector<std::string> o;
  if (args.requests) o.push_back(fmt::format("workload.requests={}", *args.requests));
  for (std::string& s : run_overrides(args.run)) o.push_back(std::move(s));
  return o;
}

int cmd_study(const CompareArgs& args, std::ostream& out) {
  const std::string& name = *args.study;
  sim::require_study_name(name);
  if (!args.run.scenario.empty()) {
    throw Error(Place{"--study"}, fmt::format("study '{}' builds its own scenarios and takes no scenario file "
                                              "(found '{}'); change every point with --set instead",
                                              name, args.run.scenario));
  }
  if (!args.policies.empty()) {
    throw Error(Place{"--study"},
                fmt::format("study '{}' sets its own policies and sparsity levels; drop --policies", name));
  }
  if (!args.rates.empty()) {
    throw Error(Place{"--study"}, fmt::format("study '{}' sets its own request rates per model; drop --rates", name));
  }
  sim::StudyOptions options;
  options.out_dir = args.run.out_dir.empty() ? "kvsim-out/study" : args.run.out_dir;
  options.overrides = run_overrides(args.run);
  options.requests = args.requests;
  // Every point is loaded (and validated) here, before anything runs or is written.
  const std::vector<sim::StudyPoint> points = sim::study_grid(name, options);

  std::vector<nlohmann::ordered_json> summaries;
  summaries.reserve(points.size());
  const bool scenarios = name == "scenarios";
  for (const sim::StudyPoint& p : points) {
    summaries.push_back(scenarios ? sim::run_deployment_point(p) : sim::run_scenario(p.scenario, p.dir, args.run.force).summary);
  }
  sim::write_study_reports(options.out_dir, name, points, summaries);

  if (args.run.format == "csv") {
    out << (scenarios ? sim::deployment_study_csv(points, summaries) : sim::study_csv(points, summaries));
    return 0;
  }
  if (args.run.format == "json") {
    nlohmann::ordered_json all = nlohmann::ordered_json::array();
    for (size_t i = 0; i < points.size(); ++i) {
      const sim::StudyPoint& p = points[i];
      all.push_back({{"scenario", p.group},
                     {"strategy", p.label()},
                     {"model", p.model},
                     {"tp", p.tensor_parallel},
                     {"policy", p.policy},
                     {"sparsity", p.sparsity_pct},
                     {"rate", p.rate},
                     {"summary", summaries[i]}});
    }
    out << all.dump(2) << "\n";
    return 0;
  }
  if (scenarios) {
    out << fmt::format("kvsim compare --study scenarios: {} points; outputs in {}/ (study.md, study.csv)\n",
                       points.size(), options.out_dir);
    for (const sim::DeploymentScenario& s : sim::deployment_scenarios()) {
      out << fmt::format("\n{} ({} on {}):\n", s.name, s.model, s.hardware);
      std::vector<TableRow> rows;
      for (size_t i = 0; i < points.size(); ++i) {
        if (points[i].group == s.id && !summaries[i].contains("error")) {
          rows.push_back({points[i].label(), rate_label(points[i].rate), &summaries[i]});
        }
      }
      print_compare_table(rows, out);
      const sim::DeploymentRanking ranking = sim::rank_deployment(points, summaries, s.id);
      for (const auto& e : ranking.excluded) {
        if (!summaries[e.index].contains("error")) continue;
        out << fmt::format("  {}: {}\n", points[e.index].label(), e.why);
      }
      out << "  " << sim::deployment_verdict(points, summaries, ranking) << "\n";
    }
    out << kRetentionFootnote;
    return 0;
  }
  const sim::Scenario& s0 = points.front().scenario;
  out << fmt::format(
      "kvsim compare --study {}: {} points, {} requests per point; outputs in {}/ (study.md, "
      "study.csv)\n",
      name, points.size(), s0.workload.requests ? std::to_string(*s0.workload.requests) : "trace", options.out_dir);
  for (size_t i = 0; i < points.size();) {
    const sim::StudyPoint& first = points[i];
    out << fmt::format("\n{} on {} (tp {})\n", first.model, first.scenario.hardware.name, first.tensor_parallel);
    std::vector<TableRow> rows;
    for (; i < points.size() && points[i].model == first.model; ++i) {
      rows.push_back({points[i].label(), rate_label(points[i].rate), &summaries[i]});
    }
    print_compare_table(rows, out);
  }
  out << "\nwhich policy wins where (among the points that served every request; never ranked by retention):\n";
  for (const std::string& line : sim::study_winner_lines(points, summaries)) out << "  " << line << "\n";
  out << kRetentionFootnote;
  return 0;
}

}  // namespace

int cmd_compare(const CompareArgs& args, std::ostream& out, std::ostream& err) {
  if (args.study) return cmd_study(args, out);
  const std::vector<std::string> policies = args.policies.empty() ? sim::default_compare_policies() : args.policies;
  const std::vector<std::string> known = sim::policy_names();
  for (const std::string& p : policies) {
    if (std::find(known.begin(), known.end(), p) == known.end()) {
      throw Error(Place{"--policies"},
                  fmt::format("unknown policy '{}'{}; valid: {}", p, did_you_mean(p, known), join(known)));
    }
  }
  std::vector<double> rates = args.rates;
  if (rates.empty() && args.run.scenario.empty()) rates = sim::builtin_study_rates();
  for (double r : rates) {
    if (!(r > 0)) throw Error(Place{"--rates"}, fmt::format("expected rates > 0, found {:g}", r));
  }
  const std::string base = args.run.out_dir.empty() ? "kvsim-out/compare" : args.run.out_dir;

  // --disaggregated P:D splits, each a label ("1P:3D") and its pools.
  struct Split {
    std::string label, dir;
    int64_t prefill = 0, decode = 0;
    bool no_store = false;  // --without-kv-store
  };
  std::vector<Split> splits = {{}};  // the colocated scenario first
  if (args.without_kv_store) splits.push_back({" no store", "-no-store", 0, 0, true});
  for (const std::string& d : args.disaggregated) {
    Split sp;
    const char* const end = d.data() + d.size();
    const auto [colon, e1] = std::from_chars(d.data(), end, sp.prefill);
    bool whole = e1 == std::errc() && colon != end && *colon == ':';
    if (whole) {
      const auto [rest, e2] = std::from_chars(colon + 1, end, sp.decode);
      whole = e2 == std::errc() && rest == end;
    }
    if (!whole || sp.prefill < 1 || sp.decode < 1 || sp.prefill > (1 << 20) || sp.decode > (1 << 20)) {
      throw Error(Place{"--disaggregated"},
                  fmt::format("expected P:D, prefill and decode replicas >= 1 (e.g. 1:3), found '{}'", d));
    }
    sp.label = fmt::format(" {}P:{}D", sp.prefill, sp.decode);
    sp.dir = fmt::format("-{}p{}d", sp.prefill, sp.decode);
    splits.push_back(sp);
  }

  // Load every point first, so bad input fails before anything runs or is written.
  struct Point {
    std::string policy;
    std::optional<double> rate;
    sim::Scenario scenario;
    std::string dir;
  };
  std::vector<Point> points;
  for (const std::string& policy : policies) {
    const std::vector<std::optional<double>> point_rates =
        rates.empty() ? std::vector<std::optional<double>>{std::nullopt}
                      : std::vector<std::optional<double>>(rates.begin(), rates.end());
    for (const Split& split : splits) {
      for (const auto& rate : point_rates) {
        std::vector<std::string> o = compare_overrides(args);
        o.push_back("cache.policy=" + policy);
        if (rate) o.push_back(fmt::format("workload.arrival.rate={}", *rate));
        Point p{policy + split.label, rate, sim::load_scenario(args.run.scenario, o), ""};
        if (split.no_store) p.scenario = sim::without_kv_store(p.scenario);
        if (split.prefill > 0) p.scenario = sim::disaggregate(p.scenario, split.prefill, split.decode);
        if (rate && !p.scenario.workload.trace.empty()) {
          throw Error(Place{"--rates"}, "the scenario replays a trace; --rates applies to synthetic Poisson workloads");
        }
        p.dir = base + "/" + policy + split.dir + (rate ? "/rate-" + rate_label(*rate) : "");
        points.push_back(std::move(p));
      }
    }
  }

  nlohmann::ordered_json all = nlohmann::ordered_json::object();
  std::vector<std::pair<const Point*, nlohmann::ordered_json>> results;
  for (const Point& p : points) {
    sim::RunResult r = sim::run_scenario(p.scenario, p.dir, args.run.force);
    if (p.rate) {
      r.summary["request_rate"] = *p.rate;
      all[p.policy].push_back(r.summary);
    } else {
      all[p.policy] = r.summary;
    }
    results.emplace_back(&p, r.summary);
  }
  for (const auto& [p, j] : results) {
    const std::string what = p->rate ? fmt::format("{} at {} req/s", p->policy, rate_label(*p->rate)) : p->policy;
    if (const std::string w = metrics::overload_warning(j, what); !w.empty()) err << w << "\n";
  }

  if (args.run.format == "json") {
    out << all.dump(2) << "\n";
    return 0;
  }
  if (args.run.format == "csv") {
    std::vector<std::string> header = {"policy", "rate"};
    for (const char* c : sim::kCompareSummaryKeys) header.emplace_back(c);
    out << join(header, ",") << "\n";
    for (const auto& [p, j] : results) {
      std::vector<std::string> cells = {p->policy, p->rate ? rate_label(*p->rate) : "-"};
      for (const char* c : sim::kCompareSummaryKeys) cells.push_back(cell(j.at(c)));
      out << join(cells, ",") << "\n";
    }
    return 0;
  }
  const sim::Scenario& s0 = points.front().scenario;
  out << fmt::format("kvsim compare: {} on {} x{} (tp {}), {} requests per point; outputs in {}/\n", s0.model.name,
                     s0.hardware.name, s0.cluster.replicas, s0.cluster.tensor_parallel,
                     s0.workload.requests ? std::to_string(*s0.workload.requests) : "trace", base);
  std::vector<TableRow> rows;
  for (const auto& [p, j] : results) rows.push_back({p->policy, p->rate ? rate_label(*p->rate) : "-", &j});
  print_compare_table(rows, out);
  out << kRetentionFootnote;
  return 0;
}

}  // namespace kvsim::app
