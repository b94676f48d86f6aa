// `kvsim model-info CONFIG --format yaml` writes a catalog entry: loaded back by path, it is the same model (the
// same JSON report: parameters, bytes per dtype, KV and state bytes, layer counts; only the config keys each value
// was read from differ).
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "apps/commands.h"

namespace kvsim::app {
namespace {

nlohmann::json report(const std::string& model) {
  std::ostringstream out;
  EXPECT_EQ(cmd_model_info(ModelInfoArgs{model, "json"}, out), 0) << model;
  return nlohmann::json::parse(out.str());
}

TEST(ModelInfoYaml, TheWrittenEntryLoadsBackToTheSameModel) {
  const std::filesystem::path dir = std::filesystem::temp_directory_path() / "kvsim_model_info_yaml";
  std::filesystem::create_directories(dir);
  for (const char* name : {"jamba-v0.1", "qwen3-next-80b-a3b", "nemotron-3-nano-30b-a3b", "deepseek-v3"}) {
    const std::string config = std::string(KVSIM_TEST_SOURCE_DIR) + "/tests/models/fixtures/" + name + ".config.json";
    std::ostringstream yaml;
    ASSERT_EQ(cmd_model_info(ModelInfoArgs{config, "yaml"}, yaml), 0) << name;
    const std::filesystem::path file = dir / (std::string(name) + ".yaml");
    std::ofstream(file) << yaml.str();
    nlohmann::json want = report(config), got = report(file.string());
    // Where each value was read from differs (config keys against catalog keys); everything else must not.
    for (nlohmann::json* j : {&want, &got}) {
      j->erase("read_from");
      for (auto& layer : (*j)["kv"]["layer_types"]) layer.erase("from");
    }
    EXPECT_EQ(got, want) << name;
  }
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace kvsim::app
