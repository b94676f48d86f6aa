// The GPU measurement harness of validation/gpu/, exercised without a GPU: the Hugging Face script's dry run plans
// its grid with the catalog model's shapes, and its CSV becomes validation cases that load and run.
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "models/model_loader.h"
#include "models/model_spec.h"
#include "validation/case.h"
#include "validation/runner.h"

namespace kvsim::validation {
namespace {

namespace fs = std::filesystem;
const std::string kRoot = KVSIM_TEST_SOURCE_DIR;

bool have_python() { return std::system("python3 -c 'import csv, json' >/dev/null 2>&1") == 0; }

std::string run(const std::string& command) {
  std::string out;
  FILE* p = popen(command.c_str(), "r");
  if (!p) return out;
  char buf[4096];
  while (size_t n = fread(buf, 1, sizeof(buf), p)) out.append(buf, n);
  pclose(p);
  return out;
}

TEST(HfHarness, DryRunPlansTheGridWithTheCatalogShapes) {
  if (!have_python()) GTEST_SKIP() << "python3 not found";
  const std::string csv = (fs::temp_directory_path() / "kvsim-hf-plan.csv").string();
  const std::string out =
      run("python3 '" + kRoot + "/validation/gpu/hf_runs.py' --dry-run --grid full --out '" + csv + "'");
  const auto j = nlohmann::json::parse(out);
  EXPECT_EQ(j["points"].get<int>(), 3 * 4 * 4 * 2);  // caches x batches x prompts x outputs
  // The script's Llama config is the catalog model's: the same parameter count.
  const auto params = models::parameter_counts(models::load_model("llama-3.1-8b"));
  EXPECT_NEAR(j["parameters"].get<double>(), static_cast<double>(params.total()),
              0.005 * static_cast<double>(params.total()));
  std::ifstream in(csv);
  std::string header;
  std::getline(in, header);
  EXPECT_EQ(header.rfind("model,layers,cache,batch,prompt_tokens,output_tokens,ttft_ms,tpot_ms", 0), 0u);
  int rows = 0;
  for (std::string line; std::getline(in, line);) ++rows;
  EXPECT_EQ(rows, 96);
  fs::remove(csv);
}

TEST(HfHarness, MeasuredRowsBecomeCasesThatRunLikeForLike) {
  if (!have_python()) GTEST_SKIP() << "python3 not found";
  const fs::path dir = fs::temp_directory_path() / ("kvsim-hf-cases-" + std::to_string(::getpid()));
  fs::remove_all(dir);
  const std::string out =
      run("python3 '" + kRoot + "/validation/gpu/cases_from_hf_csv.py' --csv '" + kRoot +
          "/tests/validation/fixtures/hf_runs_fixture.csv' --hardware h100-sxm5-80gb --out '" + dir.string() + "'");
  EXPECT_NE(out.find("wrote 2 cases"), std::string::npos) << out;  // the shrunk model and the OOM row are skipped
  const auto cases = load_cases({dir.string()});
  ASSERT_EQ(cases.size(), 2u);
  for (const Case& c : cases) {
    EXPECT_EQ(c.kind, "measured");
    EXPECT_EQ(c.status == "known-gap", c.name.find("offloaded") != std::string::npos) << c.name;
    for (const Outcome& o : run_case(c)) {
      EXPECT_TRUE(o.error.empty()) << c.name << ": " << o.error;
      EXPECT_TRUE(o.predicted.has_value()) << c.name;
    }
  }
  fs::remove_all(dir);
}

}  // namespace
}  // namespace kvsim::validation
