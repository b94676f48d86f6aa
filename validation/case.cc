#include "validation/case.h"

#include <algorithm>
#include <filesystem>
#include <fstream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "sim/core/input_file.h"
#include "sim/core/yaml.h"

namespace kvsim::validation {

namespace fs = std::filesystem;

const std::vector<std::string>& case_commands() {
  static const std::vector<std::string> c = {"run", "compare", "cost", "transfer"};
  return c;
}

namespace {

// A vLLM `benchmark_serving` / `vllm bench serve` result: a JSON object whose numeric keys (request_throughput,
// mean_ttft_ms, ...) are reference values.
nlohmann::json load_reference(const std::string& path, const Place& place) {
  std::ifstream in(path);
  if (!in) throw Error(place, fmt::format("reference_file: cannot open '{}'", path));
  nlohmann::json j = nlohmann::json::parse(in, nullptr, false);
  if (j.is_discarded() || !j.is_object()) {
    throw Error(place,
                fmt::format("reference_file: '{}' is not a JSON object (a vLLM benchmark_serving result)", path));
  }
  return j;
}

Expectation parse_expectation(const yaml::Map& e, const nlohmann::json* reference) {
  Expectation x;
  x.place = e.place();
  x.metric = e.req_string("metric");
  x.value = e.opt_double("value", -1e18, 1e18);
  const std::string reference_key = e.get_string("reference_key", x.metric);
  x.tolerance = e.opt_double("tolerance", 0, 1e9);
  x.abs = e.opt_double("abs", 0, 1e18);
  const std::string relation = e.get_string("relation", "");
  x.below = e.opt_double("below", -1e18, 1e18);
  e.finish();
  if (x.below) {
    if (x.value || x.tolerance || x.abs || !relation.empty()) {
      e.fail("below", "an upper bound takes no value, tolerance, abs or relation");
    }
    return x;
  }
  if (!relation.empty()) {
    const size_t colon = relation.find(':');
    x.relation = relation.substr(0, colon);
    if (colon == std::string::npos || (x.relation != "greater_than" && x.relation != "less_than") ||
        colon + 1 == relation.size()) {
      e.fail("relation", fmt::format("expected greater_than:<metric> or less_than:<metric>, found '{}'", relation));
    }
    x.relation_metric = relation.substr(colon + 1);
    if (x.value || x.tolerance || x.abs) e.fail("relation", "a relation takes no value, tolerance or abs");
    return x;
  }
  if (!x.value && reference) {
    const auto it = reference->find(reference_key);
    if (it == reference->end() || !it->is_number()) {
      e.fail("metric", fmt::format("the reference_file has no number '{}'", reference_key));
    }
    x.value = it->get<double>();
  }
  if (!x.value) e.fail("value", "required key is missing (a reference value, a relation, or a reference_file)");
  if (!x.tolerance && !x.abs) e.fail("tolerance", "required key is missing (tolerance: relative, or abs: absolute)");
  if (x.tolerance && x.abs) e.fail("abs", "set tolerance or abs, not both");
  return x;
}

}  // namespace

Case load_case(const std::string& path) {
  auto source = std::make_shared<yaml::Source>();
  source->file = path;
  const YAML::Node root = yaml::load_file(path);
  if (!root.IsMap())
    throw Error(Place{path, 1, 1}, "expected a validation case (a mapping with name, command, expect)");
  const yaml::Map m(root, source);
  Case c;
  c.file = path;
  c.name = m.req_string("name");
  c.source = m.req_string("source");
  c.kind = m.get_choice("kind", "published", {"published", "measured"});
  c.command = m.get_choice("command", "run", case_commands());
  const bool needs_scenario = c.command == "run" || c.command == "compare";
  const YAML::Node scenario = m.raw("scenario");
  const bool has_scenario = scenario.IsDefined() && !scenario.IsNull();
  const std::optional<std::string> scenario_file = m.opt_string("scenario_file");
  if (needs_scenario) {
    if (has_scenario == scenario_file.has_value()) {
      m.fail(scenario_file ? "scenario_file" : "scenario",
             fmt::format("command '{}' needs a scenario: set scenario or scenario_file (one of them)", c.command));
    }
    if (scenario_file) {
      const fs::path p = fs::path(path).parent_path() / *scenario_file;
      c.scenario_text = yaml::Document{p.string(), read_input_file(p.string()), "", ""};
      c.scenario = c.scenario_text.fresh();
      c.scenario_name = p.string();
    } else {
      if (!scenario.IsMap()) m.fail("scenario", "expected a mapping (a scenario document)");
      c.scenario_text = yaml::Document{path, read_input_file(path), "scenario", ""};
      c.scenario = c.scenario_text.fresh();
      c.scenario_name = path;
    }
  } else if (has_scenario || scenario_file) {
    m.fail(scenario_file ? "scenario_file" : "scenario",
           fmt::format("command '{}' takes its inputs from args, not a scenario", c.command));
  }
  const YAML::Node args = m.raw("args");
  const bool has_args = args.IsDefined() && !args.IsNull();
  if (has_args && !args.IsMap()) m.fail("args", "expected a mapping");
  c.args = has_args ? args : YAML::Node(YAML::NodeType::Map);  // shared, not cloned: it keeps its marks
  c.status = m.get_choice("status", "", {"", "known-gap"});
  c.reason = m.get_string("reason", "");
  if (c.status == "known-gap" && c.reason.empty()) m.fail("status", "a known-gap case needs a reason");
  c.fast = m.get_bool("fast", false);
  std::optional<nlohmann::json> reference;
  if (const auto ref = m.opt_string("reference_file")) {
    if (c.kind != "measured") m.fail("reference_file", "only a case of kind: measured takes a reference_file");
    reference = load_reference((fs::path(path).parent_path() / *ref).string(), m.place_of("reference_file"));
  }
  const YAML::Node more = m.raw("reference");
  if (more.IsDefined() && !more.IsNull()) {
    if (c.kind != "measured") m.fail("reference", "only a case of kind: measured takes reference values");
    if (!more.IsMap()) m.fail("reference", "expected a mapping of summary.json key: measured value");
    const yaml::Map r(more, source, "reference");
    for (const auto& kv : more) {
      const std::string key = kv.first.as<std::string>();
      c.reference.emplace_back(key, r.get_double(key, 0, 0, 1e300));
    }
    r.finish();
  }
  const YAML::Node expect = m.raw("expect");
  if (!expect.IsSequence() || expect.size() == 0) {
    m.fail("expect", "expected a non-empty list of {metric, value, tolerance} entries");
  }
  for (size_t i = 0; i < expect.size(); ++i) {
    if (!expect[i].IsMap()) {
      throw Error(yaml::place_of_node(expect[i], *source),
                  fmt::format("expect[{}]: expected a mapping {{metric, value, tolerance}}", i));
    }
    const yaml::Map e(expect[i], source, fmt::format("expect[{}]", i));
    c.expect.push_back(parse_expectation(e, reference ? &*reference : nullptr));
  }
  m.finish();
  return c;
}

std::vector<Case> load_cases(const std::vector<std::string>& paths) {
  std::vector<std::string> files;
  for (const std::string& p : paths) {
    std::error_code ec;
    if (fs::is_directory(p, ec)) {
      for (const auto& entry : fs::directory_iterator(p)) {
        if (entry.is_regular_file() && entry.path().extension() == ".yaml") files.push_back(entry.path().string());
      }
    } else if (fs::exists(p, ec)) {
      files.push_back(p);
    } else {
      throw Error(Place{p}, "no such case file or folder");
    }
  }
  std::sort(files.begin(), files.end());
  std::vector<Case> out;
  for (const auto& f : files) out.push_back(load_case(f));
  for (size_t i = 0; i < out.size(); ++i) {
    for (size_t j = 0; j < i; ++j) {
      if (out[i].name == out[j].name) {
        throw Error(Place{out[i].file}, fmt::format("case name '{}' is also the name of {}", out[i].name, out[j].file));
      }
    }
  }
  return out;
}

}  // namespace kvsim::validation
