// kvsim plan's traffic: trace arrivals with their bursts, the busiest minute, the context cap, the search space.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include <fmt/format.h>

#include "sim/core/error.h"
#include "sim/planning/plan.h"
#include "sim/planning/plan_traffic.h"
#include "tests/sim/test_util.h"

namespace kvsim::sim {
namespace {

class VectorSource : public traces::RequestSource {
 public:
  explicit VectorSource(std::vector<SimTime> arrivals, std::vector<int64_t> prompts = {})
      : arrivals_(std::move(arrivals)), prompts_(std::move(prompts)) {}
  std::optional<traces::Request> next() override {
    if (i_ == arrivals_.size()) return std::nullopt;
    traces::Request r;
    r.id = i_;
    r.arrival_ns = arrivals_[i_];
    r.prompt_tokens = prompts_.empty() ? 10 : prompts_[i_];
    r.output_tokens = 5;
    ++i_;
    return r;
  }
  std::string describe() const override { return "vector"; }

 private:
  std::vector<SimTime> arrivals_;
  std::vector<int64_t> prompts_;
  size_t i_ = 0;
};

// The busiest window is found wherever it lies, and a window is half-open: arrivals exactly window_ns apart are in
// different windows.
TEST(PlanTraffic, ScanFindsTheBusiestWindowLongestRequestAndOverCap) {
  std::vector<SimTime> t;
  for (int i = 0; i < 10; ++i) t.push_back(i * 10 * kNsPerS);                 // 1 per 10 s over 0..90 s
  for (int i = 0; i < 30; ++i) t.push_back(100 * kNsPerS + i * kNsPerS);      // 30 in 100..129 s
  for (int i = 0; i < 5; ++i) t.push_back(200 * kNsPerS + i * 60 * kNsPerS);  // exactly a minute apart
  std::vector<int64_t> prompts(t.size(), 100);
  prompts[7] = 9000;
  prompts[20] = 20000;
  VectorSource s(t, prompts);
  const TrafficScan scan = scan_traffic(s, 8192, 60 * kNsPerS);
  EXPECT_EQ(scan.requests, 45);
  EXPECT_EQ(scan.longest_tokens, 20005);
  EXPECT_EQ(scan.over_cap, 2);
  // 30 in [100, 129] plus the ones of 70, 80, 90 s within the minute before 129 s: 33.
  EXPECT_EQ(scan.peak_window_requests, 33);
  EXPECT_DOUBLE_EQ(scan.span_s(), 440);
}

TEST(PlanTraffic, ArrivalTextIsCheckedWithTheFlagNamed) {
  EXPECT_EQ(parse_plan_arrivals("", true).process, "trace");
  EXPECT_EQ(parse_plan_arrivals("", false).process, "poisson");
  EXPECT_DOUBLE_EQ(parse_plan_arrivals("gamma:2.5", false).cv, 2.5);
  EXPECT_EQ(testing::error_of([] { parse_plan_arrivals("gamma:x", false); }),
            "--arrival: 'gamma:x': expected a number in [0.01, 100] after 'gamma:' (expected trace, poisson, "
            "gamma:CV or weibull:SHAPE)");
  EXPECT_EQ(testing::error_of([] { parse_plan_arrivals("trace", false); }),
            "--arrival: 'trace': trace arrivals need a trace: give one with --workload FILE (expected trace, poisson, "
            "gamma:CV or weibull:SHAPE)");
  EXPECT_EQ(testing::error_of([] { parse_plan_arrivals("uniform", false); }),
            "--arrival: 'uniform': unknown arrival process (expected trace, poisson, gamma:CV or weibull:SHAPE)");
}

// A trace in kvsim's own format: bursts of `burst_s` at `burst_rate` every `period_s`, silent in between; every
// request 16 prompt + 100 output tokens. Its mean rate is burst_rate x burst_s / period_s.
std::string bursty_trace(const std::string& dir, double period_s, double burst_s, double burst_rate, int periods,
                         int64_t long_prompt = 0) {
  std::filesystem::create_directories(dir);
  const std::string path = dir + "/bursty.csv";
  std::ofstream out(path);
  out << "arrival_s,prompt_tokens,output_tokens\n";
  const auto per_burst = static_cast<int>(burst_s * burst_rate);
  for (int p = 0; p < periods; ++p) {
    for (int i = 0; i < per_burst; ++i) {
      const bool long_one = long_prompt > 0 && p == 0 && i == 0;
      out << fmt::format("{:.9f},{},100\n", p * period_s + i / burst_rate, long_one ? long_prompt : 16);
    }
  }
  return path;
}

PlanRequest small_plan(const std::string& trace) {
  PlanRequest r;
  r.model = "llama-3.1-8b";
  r.slo = parse_plan_slo("ttft_p90_ms=5000");
  r.gpus = {"h100-sxm5-80gb"};
  r.max_gpus = 8;
  r.seeds = 2;
  r.trace = trace;
  r.dataset = "";
  // One sequence at a time: a replica serves ~1 req/s of these (Plan.ARateOneGpuCannotServeButTwoCanTakesTwo).
  r.overrides = {"engine.max_num_seqs=1"};
  return r;
}

// The issue this answers: a plan that replays only a trace's lengths as Poisson arrivals undersizes bursty traffic.
// 20 s bursts at 6 req/s every 120 s: 480 requests over 380 s (first to last arrival), 1.26 req/s, scaled to 1.2
// req/s (x 0.95). A replica serves one request in ~0.66 s (100 decode steps), ~1.5 req/s: Poisson at 1.2 req/s needs
// one or two, but a burst's 5.7 req/s needs four; the plan says the busiest minute holds one burst, 120 requests
// (2 req/s).
TEST(PlanTraffic, TraceArrivalsNeedMoreReplicasThanPoissonOnABurstyTrace) {
  const std::string dir = testing::temp_dir("plan-bursty");
  const std::string trace = bursty_trace(dir, 120, 20, 6, 4);
  PlanRequest r = small_plan(trace);
  r.rate = 1.2;
  r.duration_s = 120;
  const PlanResult bursty = run_plan(r);
  r.arrival = "poisson";
  const PlanResult poisson = run_plan(r);
  ASSERT_TRUE(bursty.best.has_value()) << bursty.to_json().dump(2);
  ASSERT_TRUE(poisson.best.has_value()) << poisson.to_json().dump(2);
  EXPECT_EQ(bursty.traffic.arrivals.process, "trace");
  EXPECT_EQ(poisson.traffic.arrivals.process, "poisson");
  const auto tp1 = [](const PlanResult& p) {
    for (const PlanCandidate& c : p.candidates)
      if (c.tp == 1) return c;
    return PlanCandidate{};
  };
  ASSERT_TRUE(tp1(bursty).feasible);
  ASSERT_TRUE(tp1(poisson).feasible);
  EXPECT_GE(tp1(bursty).replicas, 4);  // a burst's 5.7 req/s over ~1.5 req/s replicas
  EXPECT_LE(tp1(poisson).replicas, 2);
  EXPECT_NEAR(bursty.traffic.peak_minute_rate, 2.0, 0.02);
  EXPECT_LT(poisson.traffic.peak_minute_rate, 1.2 * 1.5);  // Poisson's busiest minute of 120 s: near the mean
  EXPECT_EQ(bursty.traffic.checked_requests, 480);
  std::filesystem::remove_all(dir);
}

// The cap is the longest request's need (rounded up to 1,024), not a fixed 8,192, and nothing is clipped; a cap set
// with --set clips, and the plan says how many.
TEST(PlanTraffic, ContextCapFollowsTheWorkloadAndClippingIsCounted) {
  const std::string dir = testing::temp_dir("plan-cap");
  const std::string trace = bursty_trace(dir, 60, 60, 1, 2, 20000);
  PlanRequest r = small_plan(trace);
  r.rate = 0.5;
  r.seeds = 1;
  r.duration_s = 60;
  PlanTraffic t = resolve_plan_traffic(r, 131072, 0);
  EXPECT_EQ(t.context_cap, 20480);  // 20,000 + 100 tokens, rounded up
  EXPECT_EQ(t.clipped, 0);
  EXPECT_EQ(t.checked_requests, 120);
  t = resolve_plan_traffic(r, 16384, 0);  // a model whose context is shorter than the longest request
  EXPECT_EQ(t.context_cap, 16384);
  EXPECT_EQ(t.clipped, 1);
  r.overrides.push_back("engine.max_model_len=4096");
  const PlanResult p = run_plan(r);
  EXPECT_EQ(p.traffic.context_cap, 4096);
  EXPECT_EQ(p.traffic.clipped, 1);
  ASSERT_FALSE(p.notes.empty());
  EXPECT_NE(p.notes.front().find("1 of 120 requests are longer than the context cap of 4096 tokens"), std::string::npos)
      << p.notes.front();
  std::filesystem::remove_all(dir);
}

// The search space is printed, a parallelism that cannot apply says why, the progress reaches its total without
// going back, and a lengths-only trace cannot give trace arrivals.
TEST(PlanTraffic, SearchSpaceProgressAndALengthsOnlyTrace) {
  PlanRequest r;
  r.model = "llama-3.1-8b";
  r.rate = 2;
  r.slo = parse_plan_slo("ttft_p90_ms=3000");
  r.gpus = {"h100-sxm5-80gb"};
  r.max_gpus = 2;
  r.seeds = 2;
  r.duration_s = 30;
  std::vector<std::pair<int64_t, int64_t>> steps;
  r.progress = [&](int64_t done, int64_t total, const std::string&) { steps.emplace_back(done, total); };
  const PlanResult p = run_plan(r);
  ASSERT_FALSE(steps.empty());
  for (size_t i = 1; i < steps.size(); ++i) {
    EXPECT_GE(steps[i].first, steps[i - 1].first);
    EXPECT_LE(steps[i].first, steps[i].second);  // never past the total
  }
  EXPECT_EQ(steps.back().first, steps.back().second);
  EXPECT_EQ(steps.back().second, 2 * 3);  // tp 1 and 2, two seeds + one check each
  ASSERT_GE(p.searched.size(), 6u);
  EXPECT_EQ(p.searched[0], "gpus: h100-sxm5-80gb (tp 1, 2; tp 4 > --max-gpus 2, tp 8 > --max-gpus 2)");
  EXPECT_NE(p.searched[5].find("context cap (engine.max_model_len)"), std::string::npos) << p.searched[5];

  const std::string dir = testing::temp_dir("plan-lengths");
  std::filesystem::create_directories(dir);
  {
    std::ofstream out(dir + "/lengths.csv");
    out << "arrival_s,prompt_tokens,output_tokens\n0,10,10\n0,20,20\n";
  }
  r.trace = dir + "/lengths.csv";
  r.arrival = "trace";
  EXPECT_NE(testing::error_of([&] { run_plan(r); }).find("--arrival: trace arrivals need a trace with arrival times"),
            std::string::npos);
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace kvsim::sim

namespace kvsim::sim {
namespace {

// One GPU type: --set cost.gpu_hour_usd prices it (an unpriced H200 becomes rankable); a bad price names --set.
TEST(PlanTraffic, SetPricesAPlanOfOneGpuType) {
  PlanRequest r;
  r.model = "llama-3.1-8b";
  r.rate = 1;
  r.slo = parse_plan_slo("ttft_p90_ms=3000");
  r.gpus = {"h200-sxm-141gb"};
  r.max_gpus = 1;
  r.seeds = 1;
  r.duration_s = 30;
  r.overrides = {"cost.gpu_hour_usd=3.5"};
  const PlanResult p = run_plan(r);
  ASSERT_TRUE(p.best.has_value()) << p.to_json().dump(2);
  EXPECT_DOUBLE_EQ(p.candidates[*p.best].gpu_usd_per_hour, 3.5);
  EXPECT_DOUBLE_EQ(p.candidates[*p.best].usd_per_hour, 3.5 * static_cast<double>(p.candidates[*p.best].replicas));
  r.overrides = {"cost.gpu_hour_usd=abc"};
  EXPECT_EQ(testing::error_of([&] { run_plan(r); }),
            "--set: 'cost.gpu_hour_usd=abc': expected a price in US$ per GPU-hour in (0 .. 1000000]");
}

}  // namespace
}  // namespace kvsim::sim
