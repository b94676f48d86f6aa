// --check-invariants catches what it claims to: a cache policy with a planted fault (a sequence told of one block fewer
// than it holds, a block leaked on release) stops the run with a message naming the replica, the time and the
// request; the same run with the fault switched off passes every check.
#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "models/cost_model.h"
#include "sim/cache/cache_policy.h"
#include "sim/core/error.h"
#include "sim/metrics/collector.h"
#include "sim/run.h"
#include "sim/serving/memory_plan.h"
#include "sim/serving/replica.h"
#include "tests/sim/test_util.h"

namespace kvsim::serving {
namespace {

enum class Fault { kNone, kShortBlocks, kLeakOnRelease };

// Forwards to the real block pool, breaking one thing from the `after`-th call of the faulty kind.
class FaultyPolicy final : public cache::CachePolicy {
 public:
  FaultyPolicy(std::unique_ptr<cache::CachePolicy> inner, Fault fault, int64_t after)
      : inner_(std::move(inner)), fault_(fault), after_(after) {}

  int64_t blocks_for_tokens(int64_t t) const override { return inner_->blocks_for_tokens(t); }
  int64_t blocks_needed(const cache::SeqKv& s, int64_t t) const override { return inner_->blocks_needed(s, t); }
  bool grow(cache::SeqKv& s, int64_t t) override {
    const int64_t before = s.blocks;
    if (!inner_->grow(s, t)) return false;
    // The sequence is told of one block fewer than the pool gave it.
    if (fault_ == Fault::kShortBlocks && s.blocks > before && ++grows_ == after_) --s.blocks;
    return true;
  }
  void release(cache::SeqKv& s) override {
    if (fault_ == Fault::kLeakOnRelease && s.blocks > 0 && ++releases_ == after_) {
      s.blocks = s.tokens = s.shared_blocks = 0;  // forgets the blocks instead of returning them
      return;
    }
    inner_->release(s);
  }
  int64_t acquire_cached_prefix(cache::SeqKv& s) override { return inner_->acquire_cached_prefix(s); }
  void on_computed(cache::SeqKv& s, int64_t c) override { inner_->on_computed(s, c); }
  int64_t total_blocks() const override { return inner_->total_blocks(); }
  int64_t used_blocks() const override { return inner_->used_blocks(); }
  int64_t cached_blocks() const override { return inner_->cached_blocks(); }
  int64_t stored_tokens() const override { return inner_->stored_tokens(); }
  int64_t host_tokens() const override { return inner_->host_tokens(); }
  int64_t blocks_allocated() const override { return inner_->blocks_allocated(); }
  int64_t blocks_freed() const override { return inner_->blocks_freed(); }
  std::string check_seq(const cache::SeqKv& s) const override { return inner_->check_seq(s); }
  std::string check(const std::vector<const cache::SeqKv*>& h) const override { return inner_->check(h); }

 private:
  std::unique_ptr<cache::CachePolicy> inner_;
  Fault fault_;
  int64_t after_;
  int64_t grows_ = 0, releases_ = 0;
};

// 40 requests on one replica, a new one every 5 ms, through a replica whose policy carries `fault`.
void run_with(Fault fault, int64_t after) {
  const sim::Scenario s = testing::scenario_from(R"(
model: llama-3.1-8b
hardware: h100-sxm5-80gb
check_invariants: true
engine: {max_model_len: 4096}
workload: {requests: 40, prompt_tokens: 300, output_tokens: 40}
)");
  const sim::MemoryPlan plan = sim::plan_memory(s);
  const models::CostModel cost(s.model, s.hardware, sim::exec_config(s));
  engine::EventQueue queue;
  metrics::CollectorConfig mc;
  mc.kv_blocks_total = plan.num_gpu_blocks;
  metrics::Collector collector(mc, nullptr, nullptr);
  auto inner = cache::builtin_policies().make(cache::implementation_for(s.cache), s, plan);
  Replica replica(0, s, plan, cost, queue, collector, nullptr, {},
                  std::make_unique<FaultyPolicy>(std::move(inner), fault, after));
  struct Arrivals final : engine::EventHandler {
    Replica* replica;
    void on_event(SimTime now, uint32_t, uint64_t id) override {
      traces::Request r;
      r.id = id;
      r.arrival_ns = now;
      r.prompt_tokens = 300 + static_cast<int64_t>(id) * 7;
      r.output_tokens = 40;
      replica->submit(r, now);
    }
  } arrivals;
  arrivals.replica = &replica;
  for (uint64_t id = 0; id < 40; ++id) queue.schedule(static_cast<SimTime>(id) * 5'000'000, &arrivals, 0, id);
  while (queue.step()) {
  }
  replica.check_end_state();
  EXPECT_EQ(collector.completed(), 40);
}

std::string violation(Fault fault, int64_t after) {
  try {
    run_with(fault, after);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(CheckInvariants, AFaultFreeRunPassesEveryCheck) { EXPECT_NO_THROW(run_with(Fault::kNone, 0)); }

TEST(CheckInvariants, ASequenceShortOfBlocksNamesTheRequestAndTheTime) {
  const std::string msg = violation(Fault::kShortBlocks, 5);
  EXPECT_NE(msg.find("invariant violated on replica 0 at t="), std::string::npos) << msg;
  EXPECT_NE(msg.find(" ns), request "), std::string::npos) << msg;
  EXPECT_NE(msg.find("blocks for"), std::string::npos) << msg;
}

TEST(CheckInvariants, ABlockLeakedOnReleaseBreaksConservation) {
  const std::string msg = violation(Fault::kLeakOnRelease, 3);
  EXPECT_NE(msg.find("invariant violated on replica 0 at t="), std::string::npos) << msg;
  EXPECT_NE(msg.find("the iteration of requests"), std::string::npos) << msg;
  EXPECT_NE(msg.find("blocks in use, sequences hold"), std::string::npos) << msg;
}

}  // namespace
}  // namespace kvsim::serving
