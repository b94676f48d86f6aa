// The paper study's grid: every point loads, the sparsity keys and the cluster are set as the grid says, and every
// prompt + output fits the model's context.
#include "sim/planning/study.h"

#include <gtest/gtest.h>

#include <cmath>
#include <set>

#include "models/model_loader.h"
#include "sim/core/error.h"

namespace kvsim::sim {
namespace {

TEST(Study, PaperGridHasEveryPolicySettingAtEveryRateOfEveryModel) {
  StudyOptions o;
  o.out_dir = "out";
  o.requests = 5;
  const std::vector<StudyPoint> points = paper_study_grid(o);
  size_t expected = 0;
  for (const StudyModel& m : paper_study_models()) expected += 7 * m.rates.size();
  ASSERT_EQ(points.size(), expected);
  std::set<std::string> dirs;
  for (const StudyPoint& p : points) {
    const Scenario& s = p.scenario;
    EXPECT_EQ(s.model.name, p.model);
    EXPECT_EQ(s.cluster.tensor_parallel, p.tensor_parallel);
    EXPECT_EQ(s.cache.policy, p.policy);
    EXPECT_EQ(s.workload.requests, 5);
    EXPECT_DOUBLE_EQ(s.workload.arrival.rate, p.rate);
    const double share = p.sparsity_pct / 100.0;
    if (p.policy == "h2o") {
      EXPECT_DOUBLE_EQ(s.cache.heavy_ratio, share / 2) << p.dir;
      EXPECT_DOUBLE_EQ(s.cache.recent_ratio, share / 2) << p.dir;
    } else if (p.policy == "infinigen") {
      EXPECT_DOUBLE_EQ(s.cache.max_kv_ratio, share) << p.dir;
    } else {
      EXPECT_EQ(p.sparsity_pct, 100);
      EXPECT_EQ(s.cache.retention, "full");
    }
    EXPECT_LE(s.workload.prompt_tokens.max + s.workload.output_tokens.max, s.model.max_position_embeddings) << p.dir;
    EXPECT_EQ(p.dir.rfind("out/" + p.model + "/" + p.label() + "/rate-", 0), 0u) << p.dir;
    dirs.insert(p.dir);
  }
  EXPECT_EQ(dirs.size(), points.size());
  EXPECT_EQ(points.front().scenario.model.name, "llama-3.1-8b");
}

TEST(Study, OverridesApplyToEveryPointAfterTheGrid) {
  StudyOptions o;
  o.overrides = {"seed=7", "workload.requests=3"};
  o.requests = 5;  // --set wins over --requests
  for (const StudyPoint& p : paper_study_grid(o)) {
    EXPECT_EQ(p.scenario.seed, 7u);
    EXPECT_EQ(p.scenario.workload.requests, 3);
  }
}

TEST(Study, PromptsKeepTheBuiltInStudyWhereTheyFitAndScaleDownWhereTheyDoNot) {
  const StudyLengths long_ctx = paper_study_lengths(models::load_model("llama-3.1-8b"));
  EXPECT_EQ(long_ctx.prompt_tokens.mean, 12000);
  EXPECT_EQ(long_ctx.prompt_tokens.max, 32768);
  EXPECT_EQ(long_ctx.output_tokens.max, 2048);
  // llama-2-13b: 4096 positions; output <= 4096 / 8, prompts scaled by 3584 / 32768 so prompt + output <= 4096.
  const StudyLengths short_ctx = paper_study_lengths(models::load_model("llama-2-13b"));
  EXPECT_EQ(short_ctx.output_tokens.max, 512);
  EXPECT_EQ(short_ctx.prompt_tokens.max, 3584);
  EXPECT_EQ(short_ctx.prompt_tokens.min, 112);
  EXPECT_EQ(short_ctx.prompt_tokens.mean, 1313);
  EXPECT_EQ(short_ctx.prompt_tokens.max + short_ctx.output_tokens.max, 4096);
  // Every catalog model with a context of its own gets lengths that fit it.
  for (const std::string& name : models::model_catalog_names()) {
    const models::ModelSpec m = models::load_model(name);
    const StudyLengths l = paper_study_lengths(m);
    EXPECT_LE(l.prompt_tokens.max + l.output_tokens.max, m.max_position_embeddings) << name;
    EXPECT_LE(l.prompt_tokens.min, l.prompt_tokens.max) << name;
  }
}

TEST(Study, UnknownNameIsAnErrorAtStudyListingTheValidNames) {
  try {
    study_grid("papers", {});
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.place().file, "--study");
    EXPECT_EQ(std::string(e.what()), "--study: unknown study 'papers' (did you mean 'paper'?); valid: paper, scenarios");
  }
}

}  // namespace
}  // namespace kvsim::sim
