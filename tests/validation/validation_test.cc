// kvsim validate: cases load or fail with their place, a wrong reference fails the command, the Markdown report is
// the same bytes for the same input, measured cases take their reference from a vLLM benchmark result.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "tests/apps/cli_runner.h"
#include "tests/test_support.h"
#include "validation/case.h"
#include "validation/report.h"
#include "validation/runner.h"

namespace kvsim::validation {
namespace {

namespace fs = std::filesystem;
using kvsim::testing::error_of;

const std::string kFixtures = std::string(KVSIM_TEST_SOURCE_DIR) + "/tests/validation/fixtures";
const std::string kCases = std::string(KVSIM_TEST_SOURCE_DIR) + "/validation/cases";

std::string write_case(const std::string& name, const std::string& text) {
  const fs::path dir = fs::temp_directory_path() / ("kvsim-validation-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  const fs::path p = dir / (name + ".yaml");
  std::ofstream(p) << text;
  return p.string();
}

const char* const kRun = R"(name: tiny
source: "a test"
command: run
scenario:
  model: llama-3.1-8b
  hardware: h100-sxm5-80gb
  workload: {requests: 4, arrival: {process: all-at-once}, prompt_tokens: 100, output_tokens: 10}
expect:
  - metric: completed
    value: 4
    tolerance: 0
)";

TEST(Cases, MalformedCasesNameFileLineAndKey) {
  const auto err = [](const std::string& name, const std::string& text) {
    const std::string path = write_case(name, text);
    std::string e = error_of([&] { load_case(path); });
    const size_t at = e.find(name + ".yaml");
    return at == std::string::npos ? e : e.substr(at);
  };
  EXPECT_EQ(err("no-metric",
                "name: a\nsource: b\ncommand: run\nscenario: {model: x}\nexpect:\n  - {value: 3, "
                "tolerance: 0.1}\n"),
            "no-metric.yaml:6:5: expect[0].metric: required key is missing (expected a string)");
  EXPECT_EQ(err("bad-relation",
                "name: a\nsource: b\ncommand: run\nscenario: {model: x}\nexpect:\n  - {metric: m, "
                "relation: bigger:n}\n"),
            "bad-relation.yaml:6:27: expect[0].relation: expected greater_than:<metric> or less_than:<metric>, found "
            "'bigger:n'");
  EXPECT_EQ(err("typo",
                "name: a\nsource: b\ncommand: run\nscenario: {model: x}\nexpect:\n  - {metric: m, value: 1, "
                "tolerence: 0.1}\n"),
            "typo.yaml:6:27: expect[0].tolerence: unknown key (did you mean 'tolerance'?)");
  EXPECT_EQ(err("no-bound",
                "name: a\nsource: b\ncommand: run\nscenario: {model: x}\nexpect:\n  - {metric: m, value: "
                "1}\n"),
            "no-bound.yaml:6:5: expect[0].tolerance: required key is missing (tolerance: relative, or abs: absolute)");
  EXPECT_EQ(err("gap",
                "name: a\nsource: b\ncommand: run\nstatus: known-gap\nscenario: {model: x}\nexpect:\n  - "
                "{metric: m, value: 1, abs: 1}\n"),
            "gap.yaml:4:9: status: a known-gap case needs a reason");
  EXPECT_EQ(err("cmd", "name: a\nsource: b\ncommand: simulate\nexpect: []\n"),
            "cmd.yaml:3:10: command: expected one of run, compare, cost, transfer, found 'simulate'");
  EXPECT_EQ(err("noscen", "name: a\nsource: b\ncommand: run\nexpect:\n  - {metric: m, value: 1, abs: 1}\n"),
            "noscen.yaml:1:1: scenario: command 'run' needs a scenario: set scenario or scenario_file (one of them)");
  EXPECT_EQ(err("ref", std::string(kRun) + "reference_file: x.json\n"),
            "ref.yaml:12:17: reference_file: only a case of kind: measured takes a reference_file");
}

// The shipped cases all load, and every case's name is unique.
TEST(Cases, ShippedCasesLoad) {
  const auto cases = load_cases({kCases});
  EXPECT_GE(cases.size(), 10u);
  int gaps = 0;
  for (const Case& c : cases) {
    EXPECT_FALSE(c.source.empty()) << c.name;
    if (c.status == "known-gap") ++gaps;
  }
  EXPECT_GT(gaps, 0);
}

TEST(Runner, AWrongReferenceFailsAndTheCommandExitsOne) {
  const std::string good = write_case("good", kRun);
  std::string wrong_text = kRun;
  wrong_text.replace(wrong_text.find("value: 4"), 8, "value: 5");
  wrong_text.replace(wrong_text.find("name: tiny"), 10, "name: wrong");
  const std::string wrong = write_case("wrong", wrong_text);
  const auto ok = app::testing::cli({"validate", "--cases", good});
  EXPECT_EQ(ok.code, 0) << ok.out << ok.err;
  EXPECT_NE(ok.out.find("1 passed, 0 failed"), std::string::npos);
  const auto bad = app::testing::cli({"validate", "--cases", good, "--cases", wrong});
  EXPECT_EQ(bad.code, 1);
  EXPECT_NE(bad.out.find("1 passed, 1 failed"), std::string::npos);
  // Marked as a known gap, the same wrong value is reported but does not fail the command.
  std::string gap_text = wrong_text + "status: known-gap\nreason: a test of the status\n";
  gap_text.replace(gap_text.find("name: wrong"), 11, "name: gap");
  const auto gap = app::testing::cli({"validate", "--cases", good, "--cases", write_case("gap", gap_text)});
  EXPECT_EQ(gap.code, 0);
  EXPECT_NE(gap.out.find("FAIL (known gap)"), std::string::npos);
  // Relations: the metric against another of the same case.
  Case c = load_case(good);
  Expectation rel;
  rel.metric = "total_input_tokens";
  rel.relation = "greater_than";
  rel.relation_metric = "total_output_tokens";
  c.expect = {rel};
  EXPECT_TRUE(run_case(c).at(0).pass);
  c.expect[0].relation = "less_than";
  EXPECT_FALSE(run_case(c).at(0).pass);
}

TEST(Runner, MeasuredCasesTakeTheirReferenceFromABenchmarkResult) {
  fs::copy_file(kFixtures + "/vllm_bench.json", fs::path(write_case("x", "")).parent_path() / "vllm_bench.json",
                fs::copy_options::overwrite_existing);
  const std::string path = write_case("measured", R"yaml(name: measured
source: "vllm bench serve result (a test fixture)"
kind: measured
command: run
reference_file: vllm_bench.json
scenario:
  model: llama-3.1-8b
  hardware: h100-sxm5-80gb
  workload: {requests: 4, arrival: {process: all-at-once}, prompt_tokens: 100, output_tokens: 10}
expect:
  - {metric: completed, tolerance: 0}
  - {metric: total_input_tokens, tolerance: 0}
  - {metric: total_output_tokens, reference_key: total_output_tokens, abs: 0}
)yaml");
  const Case c = load_case(path);
  ASSERT_EQ(c.expect.size(), 3u);
  EXPECT_EQ(*c.expect[0].value, 4);
  EXPECT_EQ(*c.expect[1].value, 400);
  for (const Outcome& o : run_case(c)) EXPECT_TRUE(o.pass) << o.metric << " " << o.error;
  EXPECT_NE(error_of([&] {
              std::string t = R"(name: m2
source: s
kind: measured
command: run
reference_file: vllm_bench.json
scenario: {model: x}
expect:
  - {metric: mean_itl_ms, tolerance: 0.1}
)";
              load_case(write_case("m2", t));
            }).find("the reference_file has no number 'mean_itl_ms'"),
            std::string::npos);
}

// The committed report is regenerated, never hand-edited: the same cases give the same bytes.
TEST(Report, MarkdownIsTheSameBytesForTheSameInput) {
  const std::string out1 = (fs::temp_directory_path() / "kvsim-val-1.md").string();
  const std::string out2 = (fs::temp_directory_path() / "kvsim-val-2.md").string();
  ASSERT_LE(app::testing::cli({"validate", "--quick", "--format", "md", "-o", out1}).code, 1);
  ASSERT_LE(app::testing::cli({"validate", "--quick", "--format", "md", "-o", out2}).code, 1);
  const auto read = [](const std::string& p) {
    std::ifstream in(p);
    return std::string(std::istreambuf_iterator<char>(in), {});
  };
  EXPECT_EQ(read(out1), read(out2));
  EXPECT_NE(read(out1).find("| case | metric |"), std::string::npos);
}

// The knee is the highest rate before the normalized latency first exceeds the factor x its first value.
TEST(Runner, KneeRateIsTheLastRateBeforeTheBlowUp) {
  EXPECT_DOUBLE_EQ(knee_rate({1, 2, 3, 4}, {10, 12, 50, 500}, 10), 3);
  EXPECT_DOUBLE_EQ(knee_rate({1, 2, 3, 4}, {10, 12, 101, 500}, 10), 2);
  EXPECT_DOUBLE_EQ(knee_rate({1, 2, 3}, {10, 11, 12}, 10), 3);  // never blows up: the last rate swept
}

}  // namespace
}  // namespace kvsim::validation
