// Inputs the fuzz targets (tests/fuzz, scripts/fuzz.sh) found crashing, kept as regression tests: each must now be
// rejected with a kvsim::Error (a clear message), never another exception or a crash.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "sim/core/error.h"
#include "sim/core/yaml.h"
#include "sim/scenario.h"
#include "sim/serving/memory_plan.h"

namespace kvsim::sim {
namespace {

namespace fs = std::filesystem;

TEST(FuzzRegressions, ScenarioInputsAreRejectedWithAClearError) {
  const fs::path dir = fs::path(KVSIM_TEST_SOURCE_DIR) / "tests/fuzz/regressions/scenario_yaml";
  int n = 0;
  for (const auto& entry : fs::directory_iterator(dir)) {
    std::ifstream in(entry.path(), std::ios::binary);
    std::stringstream text;
    text << in.rdbuf();
    bool rejected = false;
    try {
      plan_memory(parse_scenario(yaml::load_string(text.str(), "fuzz.yaml"), "fuzz.yaml", {}));
    } catch (const Error& e) {
      rejected = true;
      EXPECT_FALSE(std::string(e.what()).empty());
    }
    EXPECT_TRUE(rejected) << entry.path();
    ++n;
  }
  EXPECT_GE(n, 2);
}

}  // namespace
}  // namespace kvsim::sim
