#include "traces/workload.h"

#include <gtest/gtest.h>

#include "sim/core/limits.h"
#include "tests/traces/test_util.h"

namespace kvsim::traces {
namespace {

using testing::error_of;
using testing::parse_text;

WorkloadSpec round_trip(const WorkloadSpec& spec) {
  YAML::Node root(YAML::NodeType::Map);
  root["workload"] = workload_to_yaml(spec);
  YAML::Emitter out;
  out << root;
  return parse_text(out.c_str());
}

TEST(ParseWorkload, DefaultsAndKeys) {
  const WorkloadSpec s = parse_text("workload: {requests: 10, prompt_tokens: 100, output_tokens: 20}\n");
  EXPECT_EQ(*s.requests, 10);
  EXPECT_FALSE(s.duration_s.has_value());
  EXPECT_EQ(s.arrival.process, "poisson");
  EXPECT_EQ(s.arrival.rate, 1.0);
  EXPECT_TRUE(s.trace.empty());
}

TEST(ParseWorkload, NegativeOrZeroRateNamesPlaceAndKey) {
  const std::string tail = "  prompt_tokens: 1\n  output_tokens: 1\n";
  EXPECT_EQ(error_of([&] { parse_text("workload:\n  requests: 10\n  arrival:\n    rate: -2\n" + tail); }),
            "s.yaml:4:11: workload.arrival.rate: expected a number in [1e-06 .. 1000000], found '-2'");
  EXPECT_EQ(error_of([&] { parse_text("workload:\n  requests: 10\n  arrival:\n    rate: 0\n" + tail); }),
            "s.yaml:4:11: workload.arrival.rate: expected a number in [1e-06 .. 1000000], found '0'");
}

TEST(ParseWorkload, UnknownKeysGetDidYouMean) {
  EXPECT_EQ(error_of([] { parse_text("workload:\n  requets: 10\n  prompt_tokens: 1\n  output_tokens: 1\n"); }),
            "s.yaml:2:3: workload.requets: unknown key (did you mean 'requests'?)");
  EXPECT_EQ(error_of([] { parse_text("workload:\n  requests: 1\n  arrival: {proces: poisson}\n"); }),
            "s.yaml:3:13: workload.arrival.proces: unknown key (did you mean 'process'?)");
  EXPECT_EQ(
      error_of([] { parse_text("workload:\n  requests: 1\n  arrival: {process: poison}\n"); }),
      "s.yaml:3:22: workload.arrival.process: expected one of poisson, gamma, weibull, onoff, diurnal, all-at-once, "
      "found 'poison' (did you mean "
      "'poisson'?)");
}

TEST(ParseWorkload, SyntheticNeedsAnEnd) {
  EXPECT_EQ(error_of([] { parse_text("workload:\n  prompt_tokens: 1\n  output_tokens: 1\n"); }),
            "s.yaml:2:3: workload: a synthetic workload needs 'requests' or 'duration_s' (or both) to end");
  EXPECT_EQ(error_of([] {
              parse_text(
                  "workload:\n  duration_s: 5\n  arrival: {process: all-at-once}\n  prompt_tokens: 1\n"
                  "  output_tokens: 1\n");
            }),
            "s.yaml:3:22: workload.arrival.process: all-at-once needs workload.requests (how many requests arrive at t "
            "= 0)");
  EXPECT_EQ(error_of([] {
              parse_text(
                  "workload: {requests: 3, arrival: {process: all-at-once, rate: 2}, prompt_tokens: 1,"
                  " output_tokens: 1}\n");
            }),
            "s.yaml:1:63: workload.arrival.rate: not used by process 'all-at-once' (every request arrives at t = 0)");
  EXPECT_EQ(error_of([] { parse_text("workload: {requests: 0, prompt_tokens: 1, output_tokens: 1}\n"); }),
            "s.yaml:1:22: workload.requests: expected an integer in [1 .. 1099511627776], found '0'");
}

TEST(ParseWorkload, TraceTakesNoSyntheticKeys) {
  const WorkloadSpec s = parse_text("workload: {trace: t.csv, requests: 5}\n");
  EXPECT_EQ(s.trace, "t.csv");
  EXPECT_EQ(s.trace_format, "auto");
  EXPECT_EQ(error_of([] { parse_text("workload: {trace: t.csv, prompt_tokens: 5}\n"); }),
            "s.yaml:1:41: workload.prompt_tokens: not used with workload.trace (arrivals and lengths come from the "
            "file)");
  EXPECT_EQ(
      error_of([] { parse_text("workload: {trace: t.csv, trace_format: azur}\n"); }),
      "s.yaml:1:40: workload.trace_format: expected one of auto, simple, jsonl, azure, burstgpt, mooncake, lengths, "
      "found "
      "'azur' (did you mean "
      "'azure'?)");
  EXPECT_EQ(error_of([] { parse_text("workload: {requests: 1, trace_format: azure}\n"); }),
            "s.yaml:1:39: workload.trace_format: only used with workload.trace");
}

TEST(WorkloadToYaml, RoundTripsToTheSameSpec) {
  std::vector<WorkloadSpec> specs;
  specs.push_back(parse_text(
      "workload: {requests: 7, duration_s: 12.25, arrival: {rate: 0.1}, prompt_tokens: {dist: lognormal, mean: 1000.5,"
      " stddev: 333.3, min: 16, max: 8192}, output_tokens: {dist: uniform, min: 3, max: 9}}"));
  specs.push_back(parse_text(
      "workload: {requests: 7, arrival: {process: all-at-once}, prompt_tokens: 100, output_tokens: {value: 5}}"));
  specs.push_back(parse_text("workload: {trace: a/b.csv, trace_format: azure, duration_s: 60}"));
  specs.push_back(parse_text("workload: {duration_s: 0.3, prompt_tokens: 1, output_tokens: 2}"));
  for (const WorkloadSpec& s : specs) {
    EXPECT_EQ(round_trip(s), s);
    EXPECT_EQ(round_trip(round_trip(s)), s);
  }
  // Every default is written out.
  const YAML::Node n = workload_to_yaml(specs[3]);
  EXPECT_EQ(n["arrival"]["process"].as<std::string>(), "poisson");
  EXPECT_EQ(n["arrival"]["rate"].as<double>(), 1.0);
  EXPECT_EQ(n["prompt_tokens"]["dist"].as<std::string>(), "fixed");
  EXPECT_EQ(n["prompt_tokens"]["min"].as<int64_t>(), 1);
  EXPECT_EQ(n["prompt_tokens"]["max"].as<int64_t>(), kvsim::limits::kMaxRequestTokens);
}

TEST(MakeRequestSource, DescribesItself) {
  auto s = make_request_source(parse_text("workload: {requests: 1000, arrival: {rate: 2}, prompt_tokens: 1, "
                                          "output_tokens: {dist: lognormal, mean: 100, stddev: 50, max: 400}}"),
                               RngStreams(1));
  EXPECT_EQ(s->describe(),
            "poisson 2 req/s, prompt fixed 1, output lognormal(mean 100, stddev 50, clip [1, 400]), 1000 requests");
}

TEST(MakeRequestSource, RelativeTraceIsResolvedAgainstBaseDir) {
  const std::string dir = std::string(KVSIM_TEST_SOURCE_DIR) + "/traces";
  auto s =
      make_request_source(parse_text("workload: {trace: samples/azure_conv_1k.csv, requests: 10}"), RngStreams(1), dir);
  EXPECT_EQ(testing::collect(*s).size(), 10u);
  EXPECT_EQ(
      error_of([] { make_request_source(parse_text("workload: {trace: no/such.csv}"), RngStreams(1), "/nowhere"); }),
      "/nowhere/no/such.csv: cannot open file: No such file or directory");
}

}  // namespace
}  // namespace kvsim::traces
