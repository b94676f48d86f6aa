// Helpers for simulator tests: scenarios from YAML strings, temporary folders, file contents.
#pragma once

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>
#include <string>
#include <vector>

#include "sim/core/yaml.h"
#include "sim/scenario.h"
#include "tests/test_support.h"

namespace kvsim::testing {

inline sim::Scenario scenario_from(const std::string& yaml_text, const std::vector<std::string>& overrides = {}) {
  return sim::parse_scenario(yaml::load_string(yaml_text, "test.yaml"), "test.yaml", overrides);
}

inline std::string temp_dir(const std::string& name) {
  const auto dir = std::filesystem::temp_directory_path() / ("kvsim-test-" + name + "-" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  return dir.string();
}

inline std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

}  // namespace kvsim::testing
