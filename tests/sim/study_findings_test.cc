// The study's findings are computed from the points: each claim flips with the numbers behind it.
#include <gtest/gtest.h>

#include "sim/planning/study_report.h"

namespace kvsim::sim {
namespace {

using Json = nlohmann::ordered_json;
const std::string kModel = "m";

StudyPoint point(const std::string& policy, int sparsity, double rate) {
  StudyPoint p;
  p.model = kModel;
  p.policy = policy;
  p.sparsity_pct = sparsity;
  p.rate = rate;
  return p;
}

// A summary with the keys the findings and the winners read.
Json summary(double throughput, int64_t preemptions, double kv_share, double running, double facts) {
  Json j;
  j["completed"] = 10;
  j["rejected"] = 0;
  j["output_throughput"] = throughput;
  j["p99_ttft_ms"] = 1.0;
  j["p99_tpot_ms"] = 1.0;
  j["peak_hbm_bytes"] = 1;
  j["num_preemptions"] = preemptions;
  j["kv_pool_token_share"] = kv_share;
  j["kv_capacity_tokens"] = 1000;
  j["mean_running_requests"] = running;
  j["retention_attention"] = facts < 1.0 ? 0.9 : 1.0;
  j["retention_early_facts"] = facts;
  return j;
}

TEST(StudyFindings, EachClaimFollowsThePoints) {
  // Rate 1: the KV fits (vllm never preempts) and vllm is fastest. Rate 2: vllm preempts and infinigen is fastest.
  // H2O stores 0.3 of vllm's KV per running request (a 70 % cut) and keeps fewer early facts than InfiniGen.
  std::vector<StudyPoint> points;
  std::vector<Json> s;
  for (double rate : {1.0, 2.0}) {
    points.push_back(point("vllm", 100, rate));
    s.push_back(summary(rate == 1.0 ? 100 : 50, rate == 1.0 ? 0 : 5, 0.5, 10, 1.0));
    points.push_back(point("h2o", 20, rate));
    s.push_back(summary(40, 0, 0.15, 10, 0.5));
    points.push_back(point("infinigen", 20, rate));
    s.push_back(summary(rate == 1.0 ? 60 : 80, 0, 0.05, 10, 1.0));
  }
  std::string md = study_findings(points, s);
  EXPECT_NE(md.find("when the KV fits on the GPU* (the rates where vllm never preempts): **reproduced** at all 1 "
                    "points"),
            std::string::npos)
      << md;
  EXPECT_NE(md.find("**reproduced** at all 1 budgets. h2o-s20: median 70 % less KV"), std::string::npos) << md;
  EXPECT_NE(md.find("early facts better than H2O* (retention_early_facts at the same model, rate and share of the KV; "
                    "the proxy): **reproduced** at all 2 points"),
            std::string::npos)
      << md;
  EXPECT_NE(md.find("does not fit on the GPU* (the rates where vllm preempts; throughput): **reproduced** at all 1 "
                    "points"),
            std::string::npos)
      << md;

  // Now vllm also wins where it preempts, and H2O keeps as much KV as vllm.
  s[3]["output_throughput"] = 200.0;
  s[4]["kv_pool_token_share"] = 0.5;
  s[1]["kv_pool_token_share"] = 0.5;
  md = study_findings(points, s);
  EXPECT_NE(md.find("**not reproduced** at any of 1 points. The winner there: m at 2 req/s: vllm (5 preemptions of "
                    "vllm)"),
            std::string::npos)
      << md;
  EXPECT_NE(md.find("**not reproduced** at any of 1 budgets. h2o-s20: median 0 % less KV"), std::string::npos) << md;
}

}  // namespace
}  // namespace kvsim::sim
