// Generated workloads: arrival processes hold their rate and burstiness, dataset presets their documented means,
// empirical lengths their file's rows, sessions their prefix structure, and the trace transforms what they promise.
#include <algorithm>
#include <cmath>
#include <filesystem>
#include <map>

#include <fmt/format.h>

#include <gtest/gtest.h>

#include "tests/traces/test_util.h"
#include "traces/arrival.h"
#include "traces/datasets.h"
#include "traces/trace_stats.h"
#include "traces/workload.h"

namespace kvsim::traces {
namespace {

using testing::collect;
using testing::error_of;
using testing::parse_text;

const std::string kData = std::string(KVSIM_TEST_SHARED_DATA_DIR) + "/";

TraceStats stats_of(const std::string& workload_yaml, uint64_t seed = 1) {
  auto s = make_request_source(parse_text(workload_yaml), RngStreams(seed));
  return compute_trace_stats(*s);
}

// Inter-arrival CV: Poisson ~1, gamma the requested cv, within 5 % on 100k samples; every process its mean rate.
TEST(Arrivals, PoissonAndGammaHaveTheirCoefficientOfVariation) {
  const TraceStats p = stats_of("workload: {requests: 100000, arrival: {rate: 4}, prompt_tokens: 1, output_tokens: 1}");
  EXPECT_NEAR(p.interarrival_cv(), 1.0, 0.05);
  EXPECT_NEAR(p.mean_rate(), 4.0, 0.05 * 4);
  for (double cv : {0.5, 2.0, 4.0}) {
    const TraceStats g = stats_of(
        fmt::format("workload: {{requests: 100000, arrival: {{process: gamma, rate: 4, cv: {}}}, prompt_tokens: 1, "
                    "output_tokens: 1}}",
                    cv));
    EXPECT_NEAR(g.interarrival_cv(), cv, 0.05 * cv) << cv;
    EXPECT_NEAR(g.mean_rate(), 4.0, 0.05 * 4) << cv;
  }
}

TEST(Arrivals, WeibullOnOffAndDiurnalKeepTheirMeanRate) {
  const TraceStats w = stats_of(
      "workload: {requests: 100000, arrival: {process: weibull, rate: 2, shape: 0.6}, prompt_tokens: 1, "
      "output_tokens: 1}");
  EXPECT_NEAR(w.mean_rate(), 2.0, 0.05 * 2);
  EXPECT_GT(w.interarrival_cv(), 1.3);  // shape < 1 is burstier than Poisson (CV 1.76 at 0.6)
  // On 10 req/s for 20 s, off 1 req/s for 60 s: mean (10 x 20 + 60) / 80 = 3.25 req/s.
  const ArrivalSpec onoff{"onoff", 0, 1, 1, 10, 1, 20, 60, {}, 86400};
  EXPECT_DOUBLE_EQ(onoff.mean_rate(), 3.25);
  const TraceStats o = stats_of(
      "workload: {duration_s: 400000, arrival: {process: onoff, rate_on: 10, rate_off: 1, on_s: 20, off_s: 60}, "
      "prompt_tokens: 1, output_tokens: 1}");
  EXPECT_NEAR(o.mean_rate(), 3.25, 0.05 * 3.25);
  EXPECT_GT(o.interarrival_cv(), 1.2);
  // A day of 4 slots: the arrivals in each slot follow its rate.
  auto d = make_request_source(
      parse_text("workload: {duration_s: 40000, arrival: {process: diurnal, rates: [1, 4, 0, 2], period_s: 4000}, "
                 "prompt_tokens: 1, output_tokens: 1}"),
      RngStreams(2));
  std::vector<double> per_slot(4, 0);
  while (auto r = d->next()) per_slot[static_cast<size_t>((r->arrival_ns / (1000 * kNsPerS)) % 4)] += 1;
  const std::vector<double> want = {1, 4, 0, 2};
  for (size_t i = 0; i < 4; ++i) EXPECT_NEAR(per_slot[i] / 10000, want[i], 0.06 * want[i] + 1e-9) << i;
}

TEST(Arrivals, ResolvedSpecRoundTripsAndBadKeysNameTheProcess) {
  for (const char* text : {"workload: {requests: 5, arrival: {process: gamma, rate: 3, cv: 2.5}, prompt_tokens: 1, "
                           "output_tokens: 1}",
                           "workload: {requests: 5, arrival: {process: diurnal, rates: [1, 0.5], period_s: 60}, "
                           "dataset: sharegpt}",
                           "workload: {requests: 5, arrival: {process: onoff, rate_on: 3, rate_off: 0, on_s: 1, off_s: "
                           "2}, dataset: alpaca, sessions: {turns: {dist: uniform, min: 1, max: 4}}}"}) {
    const WorkloadSpec s = parse_text(text);
    YAML::Node root;
    root["workload"] = workload_to_yaml(s);
    EXPECT_EQ(parse_text(YAML::Dump(root)), s) << text;
  }
  EXPECT_EQ(error_of([] {
              parse_text(
                  "workload: {requests: 5, arrival: {process: poisson, rate: 2, cv: 3}, prompt_tokens: 1, "
                  "output_tokens: 1}");
            }),
            "s.yaml:1:66: workload.arrival.cv: not used by process 'poisson' (it takes rate)");
  EXPECT_EQ(error_of([] {
              parse_text("workload: {requests: 5, arrival: {process: diurnal}, prompt_tokens: 1, output_tokens: 1}");
            }).rfind("s.yaml:1:34: workload.arrival.rates: required key is missing", 0),
            0u);
}

// Each preset reproduces its documented mean within 5 % on 100k requests.
TEST(Datasets, PresetsReproduceTheirMeans) {
  for (const Dataset& d : datasets()) {
    const TraceStats s =
        stats_of(fmt::format("workload: {{requests: 100000, arrival: {{process: all-at-once}}, dataset: {}}}", d.name));
    EXPECT_NEAR(s.prompt.mean(), d.prompt_mean, 0.05 * d.prompt_mean) << d.name;
    EXPECT_NEAR(s.output.mean(), d.output_mean, 0.05 * d.output_mean) << d.name;
  }
  const Dataset* share = find_dataset("sharegpt");
  ASSERT_NE(share, nullptr);
  EXPECT_DOUBLE_EQ(share->prompt_mean, 161.31);  // vLLM paper, sec. 6.1
  EXPECT_DOUBLE_EQ(share->output_mean, 337.99);
  EXPECT_NE(share->source.find("assumed"), std::string::npos);
  EXPECT_EQ(error_of([] { parse_text("workload: {requests: 5, dataset: sharegpt, prompt_tokens: 5}"); }),
            "s.yaml:1:59: workload.prompt_tokens: workload.dataset 'sharegpt' sets the lengths: leave out "
            "prompt_tokens and output_tokens");
}

// The Azure presets are fitted from the real traces: their means and spreads match the files.
TEST(Datasets, AzurePresetsMatchTheRealFiles) {
  for (const auto& [name, file] : {std::pair{"azure-conv", "azure-llm-2023/AzureLLMInferenceTrace_conv.csv"},
                                   std::pair{"azure-code", "azure-llm-2023/AzureLLMInferenceTrace_code.csv"}}) {
    if (!std::filesystem::exists(kData + file)) GTEST_SKIP() << "shared data absent";
    const TraceStats real = compute_trace_stats(
        *make_request_source(parse_text(fmt::format("workload: {{trace: {}}}", kData + file)), RngStreams(1)));
    const Dataset& d = *find_dataset(name);
    EXPECT_NEAR(d.prompt_tokens.mean, real.prompt.mean(), 0.01 * real.prompt.mean()) << name;
    EXPECT_NEAR(d.prompt_tokens.stddev, real.prompt.stddev(), 0.01 * real.prompt.stddev()) << name;
    EXPECT_NEAR(d.output_tokens.mean, real.output.mean(), 0.01 * real.output.mean()) << name;
    EXPECT_NEAR(d.output_tokens.stddev, real.output.stddev(), 0.01 * real.output.stddev()) << name;
  }
}

// Empirical lengths from one file draw prompt and output from the same row: the arXiv file's negative correlation
// (-0.46) survives; drawn from two copies of the file it does not.
TEST(LengthDist, EmpiricalFromOneFileKeepsTheRowsTogether) {
  const std::string file = kData + "vidur-lengths/arxiv_summarization_stats_llama2_tokenizer_filtered_v2.csv";
  if (!std::filesystem::exists(file)) GTEST_SKIP() << "shared data absent: " << file;
  const auto correlation = [](const std::vector<Request>& reqs) {
    double sp = 0, so = 0, spp = 0, soo = 0, spo = 0;
    const double n = static_cast<double>(reqs.size());
    for (const Request& r : reqs) {
      const double p = static_cast<double>(r.prompt_tokens), o = static_cast<double>(r.output_tokens);
      sp += p, so += o, spp += p * p, soo += o * o, spo += p * o;
    }
    return (spo / n - sp / n * so / n) / std::sqrt((spp / n - sp * sp / n / n) * (soo / n - so * so / n / n));
  };
  const auto joint = collect(*make_request_source(
      parse_text(fmt::format("workload: {{requests: 20000, arrival: {{process: all-at-once}}, prompt_tokens: {{dist: "
                             "empirical, file: {}}}, output_tokens: {{dist: empirical, file: {}}}}}",
                             file, file)),
      RngStreams(1)));
  EXPECT_LT(correlation(joint), -0.4);
  const std::string copy = (std::filesystem::temp_directory_path() / "kvsim-arxiv-copy.csv").string();
  std::filesystem::copy_file(file, copy, std::filesystem::copy_options::overwrite_existing);
  const auto apart = collect(*make_request_source(
      parse_text(fmt::format("workload: {{requests: 20000, arrival: {{process: all-at-once}}, prompt_tokens: {{dist: "
                             "empirical, file: {}}}, output_tokens: {{dist: empirical, file: {}}}}}",
                             file, copy)),
      RngStreams(1)));
  EXPECT_LT(std::abs(correlation(apart)), 0.05);
  std::filesystem::remove(copy);
}

// Zipf on [1, 100] with s = 1.2: P(k) / P(2k) = 2^1.2.
TEST(LengthDist, ZipfFollowsItsPowerLaw) {
  auto s = make_request_source(parse_text("workload: {requests: 200000, arrival: {process: all-at-once}, "
                                          "prompt_tokens: {dist: zipf, s: 1.2, min: 1, max: 100}, output_tokens: 1}"),
                               RngStreams(5));
  std::vector<double> count(101, 0);
  while (auto r = s->next()) count[static_cast<size_t>(r->prompt_tokens)] += 1;
  EXPECT_NEAR(count[1] / count[2], std::pow(2.0, 1.2), 0.05 * std::pow(2.0, 1.2));
  EXPECT_NEAR(count[3] / count[6], std::pow(2.0, 1.2), 0.1 * std::pow(2.0, 1.2));
  EXPECT_GT(count[100], 0);
}

// A session's turn holds its system prompt, every earlier turn and answer, and its own message; turns link to their
// parent and come at least a think time after it.
TEST(Sessions, EachTurnHoldsThePreviousTurnsAndLinksToItsParent) {
  const auto reqs = collect(*make_request_source(
      parse_text("workload: {requests: 400, arrival: {rate: 2}, prompt_tokens: {dist: uniform, min: 10, max: 200}, "
                 "output_tokens: {dist: uniform, min: 5, max: 50}, sessions: {turns: 4, think_time_s: 3, "
                 "system_prompt_tokens: 100, system_prompts: 3}}"),
      RngStreams(9)));
  ASSERT_EQ(reqs.size(), 400u);
  std::map<uint64_t, const Request*> by_id;
  std::map<uint64_t, int> turns;
  SimTime last = 0;
  for (const Request& r : reqs) {
    EXPECT_GE(r.arrival_ns, last);
    last = r.arrival_ns;
    by_id[r.id] = &r;
    ++turns[r.session_id];
    EXPECT_EQ(r.prefix_id, (r.session_id - 1) % 3 + 1);
    EXPECT_EQ(r.shared_prefix_tokens, 100);
    if (r.parent_id < 0) {
      EXPECT_GE(r.prompt_tokens, 110);  // system prompt + first message
      EXPECT_LE(r.prompt_tokens, 300);
      continue;
    }
    const Request& p = *by_id.at(static_cast<uint64_t>(r.parent_id));
    EXPECT_EQ(p.session_id, r.session_id);
    EXPECT_TRUE(p.has_next_turn);
    EXPECT_GE(r.prompt_tokens, p.prompt_tokens + p.output_tokens + 10);
    EXPECT_LE(r.prompt_tokens, p.prompt_tokens + p.output_tokens + 200);
    EXPECT_EQ(r.arrival_ns, p.arrival_ns + r.think_time_ns);
  }
  for (const auto& [session, n] : turns) EXPECT_LE(n, 4) << session;
  // A session ends when its next turn would not fit the context.
  WorkloadSpec capped = parse_text(
      "workload: {requests: 50, arrival: {rate: 1}, prompt_tokens: 300, output_tokens: 100, sessions: {turns: 10}, "
      "clip_to_context: true}");
  capped.context_tokens = 1000;
  for (const Request& r : collect(*make_request_source(capped, RngStreams(1)))) {
    EXPECT_LE(r.prompt_tokens + r.output_tokens, 1000);
  }
}

// Trace transforms: window, rate scaling, target rate, exact sampling, merging.
TEST(Transforms, WindowScaleSampleAndMerge) {
  const std::string conv = std::string(KVSIM_TEST_SOURCE_DIR) + "/traces/samples/azure_conv_1k.csv";
  const auto base = collect(*make_request_source(parse_text("workload: {trace: " + conv + "}"), RngStreams(1)));
  ASSERT_EQ(base.size(), 1000u);
  const auto window = collect(*make_request_source(
      parse_text("workload: {trace: " + conv + ", window: {start_s: 60, end_s: 120}}"), RngStreams(1)));
  const auto in_window = std::count_if(base.begin(), base.end(), [](const Request& r) {
    return r.arrival_ns >= 60 * kNsPerS && r.arrival_ns < 120 * kNsPerS;
  });
  ASSERT_EQ(static_cast<int64_t>(window.size()), in_window);
  EXPECT_GE(window.front().arrival_ns, 0);
  EXPECT_LT(window.back().arrival_ns, 60 * kNsPerS);
  EXPECT_EQ(window.back().id, window.size() - 1);
  const auto doubled =
      collect(*make_request_source(parse_text("workload: {trace: " + conv + ", rate_scale: 2}"), RngStreams(1)));
  EXPECT_EQ(doubled.back().arrival_ns, base.back().arrival_ns / 2);
  const TraceStats target = compute_trace_stats(
      *make_request_source(parse_text("workload: {trace: " + conv + ", target_rate: 10}"), RngStreams(1)));
  EXPECT_NEAR(target.mean_rate(), 10.0, 0.01);
  const auto sampled =
      collect(*make_request_source(parse_text("workload: {trace: " + conv + ", sample: 137}"), RngStreams(1)));
  EXPECT_EQ(sampled.size(), 137u);
  const auto merged =
      collect(*make_request_source(parse_text("workload: {trace: [" + conv + ", " + conv + "]}"), RngStreams(1)));
  ASSERT_EQ(merged.size(), 2000u);
  for (size_t i = 1; i < merged.size(); ++i) {
    EXPECT_GE(merged[i].arrival_ns, merged[i - 1].arrival_ns);
    EXPECT_EQ(merged[i].id, i);
  }
  EXPECT_EQ(error_of([&] { parse_text("workload: {trace: a.csv, window: {start_s: 5, end_s: 2}}"); }),
            "s.yaml:1:54: workload.window.end_s: expected a time after start_s (5 s), found 2");
}

}  // namespace
}  // namespace kvsim::traces
