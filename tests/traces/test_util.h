// Helpers shared by the traces tests: parse a workload from YAML text, collect a stream, catch an error's text.
#pragma once

#include <functional>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "sim/core/yaml.h"
#include "tests/test_support.h"
#include "traces/request.h"
#include "traces/workload.h"

namespace kvsim::traces::testing {

using kvsim::testing::error_of;

// Parses the `workload` section of a scenario given as text named s.yaml.
inline WorkloadSpec parse_text(const std::string& text) {
  auto source = std::make_shared<yaml::Source>();
  source->file = "s.yaml";
  const YAML::Node root = yaml::load_string(text, "s.yaml");
  const yaml::Map top(root, source);
  WorkloadSpec spec = parse_workload(top.child("workload"));
  top.finish();
  return spec;
}

inline std::vector<Request> collect(RequestSource& source, size_t limit = SIZE_MAX) {
  std::vector<Request> out;
  while (out.size() < limit) {
    std::optional<Request> r = source.next();
    if (!r) break;
    out.push_back(*r);
  }
  return out;
}

inline std::unique_ptr<std::istream> text_stream(const std::string& text) {
  return std::make_unique<std::istringstream>(text);
}

}  // namespace kvsim::traces::testing
