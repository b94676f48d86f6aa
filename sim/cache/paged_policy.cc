#include <algorithm>
#include <list>
#include <unordered_map>
#include <utility>

#include <fmt/format.h>

#include "sim/cache/cache_policy.h"
#include "sim/core/error.h"

namespace kvsim::cache {

namespace {

// vLLM's block manager: blocks of block_size tokens taken from a free pool as a sequence grows and returned when it
// finishes or is preempted; with sliding-window layer groups a sequence holds at most window/block_size + 1 blocks
// per sliding group. With prefix caching, each full block of a shared prefix is identified by (prefix, index) (vLLM
// hashes the block's tokens and its parent), shared by reference count, and kept after its last user leaves in an
// LRU of evictable blocks that new allocations reclaim first-in first-out.
class PagedPolicy final : public CachePolicy {
 public:
  PagedPolicy(const sim::Scenario& scenario, const sim::MemoryPlan& plan)
      : plan_(plan),
        // Hybrid (sliding-window, state-space) models keep per-group caches in vLLM; kvsim shares full-attention
        // blocks only.
        prefix_caching_(scenario.cache.prefix_caching && plan.sliding_groups == 0 && plan.state_groups == 0),
        tiered_(scenario.cache.placement == "tiered" && prefix_caching_) {
    if (tiered_) {
      host_.capacity = static_cast<int64_t>(scenario.cache.host_kv_bytes / plan.block_bytes);
      disk_.capacity = static_cast<int64_t>(scenario.cache.disk_kv_bytes / plan.block_bytes);
    }
  }

  int64_t blocks_for_tokens(int64_t tokens) const override { return plan_.blocks_for_tokens(tokens); }

  int64_t blocks_needed(const SeqKv& seq, int64_t tokens) const override {
    return need_with(seq, tokens, seq.keep_at_most);
  }

  bool grow(SeqKv& seq, int64_t tokens) override {
    // Offloaded: every token's full KV also needs room in the host pool. When it is full, InfiniGen's pool evicts
    // (Lee et al., OSDI 2024, sec. 4.4: a counter-based policy drops the entries its speculation selects least):
    // from then on the sequence keeps what it holds plus the room left, each further token replacing an evicted one.
    int64_t keep_at_most = seq.keep_at_most;
    if (plan_.offload) {
      const int64_t room = plan_.host_capacity_tokens - host_tokens_;
      if (kept(seq, tokens, seq.keep_at_most) - seq.tokens > room) {
        if (seq.tokens + room < 1) return false;
        keep_at_most = seq.tokens + room;
      }
    }
    const int64_t need = need_with(seq, tokens, keep_at_most);
    tokens = kept(seq, tokens, keep_at_most);
    if (need > free_blocks()) return false;
    seq.keep_at_most = keep_at_most;
    if (need < 0) {
      // A compressing retention shrank the sequence (SnapKV after prefill): its surplus blocks go back.
      used_ += need;
      freed_ -= need;
      seq.blocks += need;
    }
    if (plan_.offload) host_tokens_ += tokens - seq.tokens;
    if (need > 0) {
      used_ += need;
      allocated_ += need;
      seq.blocks += need;
      while (used_ + cached_ > plan_.num_gpu_blocks) evict_oldest();
    }
    stored_ += tokens - seq.tokens;
    seq.tokens = tokens;
    return true;
  }

  void release(SeqKv& seq) override {
    if (plan_.offload) host_tokens_ -= seq.tokens;
    const int64_t own = seq.blocks - seq.shared_blocks;
    used_ -= own;
    freed_ += own;
    stored_ -= seq.tokens - seq.shared_blocks * plan_.block_size;
    for (int64_t i = 0; i < seq.shared_blocks; ++i) {
      const uint64_t k = block_key(seq, i);
      Entry& e = table_.at(k);
      if (--e.refs == 0) {
        --used_;
        ++cached_;
        stored_ -= plan_.block_size;
        e.lru = lru_.insert(lru_.end(), k);
      }
    }
    seq.blocks = seq.tokens = seq.shared_blocks = 0;
  }

  int64_t acquire_cached_prefix(SeqKv& seq) override {
    if (!prefix_caching_ || !seq.has_identity() || seq.blocks != 0) return 0;
    const int64_t full = seq.findable_tokens() / plan_.block_size;
    int64_t i = 0;
    for (; i < full; ++i) {
      const uint64_t k = block_key(seq, i);
      auto it = table_.find(k);
      if (it == table_.end() && tiered_) it = load_from_tier(k);
      if (it == table_.end()) break;
      if (it->second.refs++ == 0) {
        lru_.erase(it->second.lru);
        --cached_;
        ++used_;
        stored_ += plan_.block_size;
      }
    }
    seq.blocks = seq.shared_blocks = i;
    seq.tokens = i * plan_.block_size;
    return seq.tokens;
  }

  void on_computed(SeqKv& seq, int64_t computed) override {
    if (!prefix_caching_ || !seq.has_identity()) return;
    const int64_t full = std::min(computed, seq.cacheable_tokens()) / plan_.block_size;
    while (seq.shared_blocks < full) {
      // The sequence's own block becomes the cached copy; if another sequence cached it first, this one keeps its
      // private duplicate (as vLLM does when two requests compute the same block at once).
      const auto [it, inserted] = table_.try_emplace(block_key(seq, seq.shared_blocks));
      if (!inserted) return;
      it->second.refs = 1;
      if (store_writes_ == StoreWrites::kComputed) to_store_.push_back(it->first);
      ++seq.shared_blocks;
    }
  }

  int64_t uniform_growth_blocks(const SeqKv& seq) const override {
    if (plan_.offload || tiered_ || plan_.sliding_groups > 0 || seq.keep_at_most > 0 || seq.compress_after > 0 ||
        seq.tokens <= 0 || seq.reserved_tokens > seq.tokens ||
        footprint_blocks(plan_, seq, seq.tokens, 0) != seq.blocks) {
      return 0;
    }
    if (prefix_caching_ && seq.has_identity() && seq.shared_blocks < seq.cacheable_tokens() / plan_.block_size)
      return 0;
    return plan_.full_groups;
  }

  void book_growth(int64_t blocks, int64_t tokens) override {
    used_ += blocks;
    allocated_ += blocks;
    while (used_ + cached_ > plan_.num_gpu_blocks) evict_oldest();
    stored_ += tokens;
  }

  void adopt_growth(SeqKv& seq, int64_t tokens) const override {
    seq.blocks = footprint_blocks(plan_, seq, tokens, 0);
    seq.tokens = tokens;
  }

  bool shares_prefixes() const override { return prefix_caching_; }
  uint64_t block_identity(const SeqKv& seq, int64_t index) const override { return block_key(seq, index); }
  void set_store_writes(StoreWrites writes) override { store_writes_ = prefix_caching_ ? writes : StoreWrites::kNone; }
  void take_store_writes(std::vector<uint64_t>& out) override {
    out.insert(out.end(), to_store_.begin(), to_store_.end());
    to_store_.clear();
  }

  int64_t total_blocks() const override { return plan_.num_gpu_blocks; }
  int64_t used_blocks() const override { return used_; }
  int64_t cached_blocks() const override { return cached_; }
  int64_t stored_tokens() const override { return stored_; }
  int64_t host_tokens() const override { return tiered_ ? host_.size() * plan_.block_size : host_tokens_; }
  TierMoves take_tier_moves() override { return std::exchange(moves_, TierMoves{}); }
  int64_t blocks_allocated() const override { return allocated_; }
  int64_t blocks_freed() const override { return freed_; }

  std::string check_seq(const SeqKv& s) const override {
    if (s.tokens < 0 || s.blocks < 0 || s.shared_blocks < 0) {
      return fmt::format("negative holding: {} blocks, {} tokens, {} shared", s.blocks, s.tokens, s.shared_blocks);
    }
    if (s.blocks < blocks_for_tokens(s.tokens)) {
      return fmt::format("holds {} blocks for {} tokens of KV (needs {})", s.blocks, s.tokens,
                         blocks_for_tokens(s.tokens));
    }
    if (s.shared_blocks > s.blocks) return fmt::format("shares {} blocks but holds {}", s.shared_blocks, s.blocks);
    return "";
  }

  std::string check(const std::vector<const SeqKv*>& holders) const override {
    int64_t own = 0, shared_refs = 0, tokens = 0;
    for (const SeqKv* s : holders) {
      own += s->blocks - s->shared_blocks;
      shared_refs += s->shared_blocks;
      tokens += s->tokens - s->shared_blocks * plan_.block_size;
    }
    if (allocated_ - freed_ != used_ + cached_) {
      return fmt::format("blocks not conserved: {} allocated - {} freed != {} in use + {} cached", allocated_, freed_,
                         used_, cached_);
    }
    int64_t live = 0, refs = 0, idle = 0;
    for (const auto& [k, e] : table_) {
      refs += e.refs;
      (e.refs > 0 ? live : idle) += 1;
    }
    if (plan_.offload && host_tokens_ != tokens)
      return fmt::format("host pool holds {} tokens, sequences {}", host_tokens_, tokens);
    if (host_tokens_ > plan_.host_capacity_tokens && plan_.offload) return "host pool above its capacity";
    if (refs != shared_refs) return fmt::format("{} shared references held, {} counted", shared_refs, refs);
    if (used_ != own + live) return fmt::format("{} blocks in use, sequences hold {}", used_, own + live);
    if (cached_ != idle || cached_ != static_cast<int64_t>(lru_.size())) return "cached block count is off";
    if (stored_ != tokens + live * plan_.block_size) return "stored token count is off";
    if (host_.size() > host_.capacity || disk_.size() > disk_.capacity) return "a KV tier is above its capacity";
    if (used_ + cached_ > plan_.num_gpu_blocks) {
      return fmt::format("{} blocks used and {} cached, above the capacity of {}", used_, cached_,
                         plan_.num_gpu_blocks);
    }
    return "";
  }

 private:
  struct Entry {
    int64_t refs = 0;
    std::list<uint64_t>::iterator lru;
  };

  static int64_t kept(const SeqKv& seq, int64_t tokens, int64_t keep_at_most) {
    return kept_tokens(seq, tokens, keep_at_most);
  }

  // A lower tier of prefix blocks (host memory or disk): least recently demoted first out.
  struct Tier {
    int64_t capacity = 0;
    std::list<uint64_t> lru;
    std::unordered_map<uint64_t, std::list<uint64_t>::iterator> where;
    int64_t size() const { return static_cast<int64_t>(where.size()); }
    void put(uint64_t k) { where[k] = lru.insert(lru.end(), k); }
    uint64_t pop_oldest() {
      const uint64_t k = lru.front();
      lru.pop_front();
      where.erase(k);
      return k;
    }
    bool take(uint64_t k) {
      auto it = where.find(k);
      if (it == where.end()) return false;
      lru.erase(it->second);
      where.erase(it);
      return true;
    }
  };

  // A block evicted from the GPU goes to host memory; the host's oldest goes to disk when host memory is full, and
  // the disk's oldest is dropped.
  // A block computed again on the GPU after it was demoted is already below: one copy is kept (host memory's is
  // refreshed without a write; the disk's moves up to host memory).
  void demote(uint64_t k) {
    if (host_.capacity == 0) return;
    if (host_.take(k)) {
      host_.put(k);
      return;
    }
    disk_.take(k);
    if (host_.size() >= host_.capacity) {
      const uint64_t old = host_.pop_oldest();
      if (disk_.capacity > 0) {
        if (disk_.size() >= disk_.capacity) disk_.pop_oldest();
        disk_.put(old);
      }
    }
    host_.put(k);
    ++moves_.demoted;
  }

  // A prefix block found below the GPU tier is copied into a newly allocated GPU block (when one is free).
  std::unordered_map<uint64_t, Entry>::iterator load_from_tier(uint64_t k) {
    if (used_ >= plan_.num_gpu_blocks) return table_.end();
    const bool host = host_.where.contains(k);
    if (!host && !disk_.where.contains(k)) return table_.end();
    (host ? host_ : disk_).take(k);
    ++(host ? moves_.host_loads : moves_.disk_loads);
    ++allocated_;
    ++cached_;  // enters as an unreferenced cached block; the caller takes the reference
    table_.emplace(k, Entry{0, lru_.insert(lru_.end(), k)});
    while (used_ + cached_ > plan_.num_gpu_blocks) evict_oldest();
    return table_.find(k);
  }

  int64_t need_with(const SeqKv& seq, int64_t tokens, int64_t keep_at_most) const {
    return footprint_blocks(plan_, seq, tokens, keep_at_most) - seq.blocks;
  }

  static uint64_t key(uint64_t prefix_id, int64_t index) {
    return (prefix_id << 32) ^ static_cast<uint64_t>(index);  // index < 2^32 blocks, exact
  }

  // SplitMix64's finaliser (Steele, Lea and Flood, OOPSLA 2014): a well-mixed 64-bit key from a hash and a block
  // index, so chained hashes and session blocks do not collide with each other in practice.
  static uint64_t mix(uint64_t a, uint64_t b) {
    uint64_t z = a * 0x9E3779B97F4A7C15ull + b + 0x632BE59BD9B4E019ull;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }

  // The identity of block `index` of `seq`: a shared prefix's (prefix, index); a chained hash list's hash of the
  // hash block holding the block's last token (equal there means equal up to it); a session's (session, index)
  // past its shared prefix.
  uint64_t block_key(const SeqKv& seq, int64_t index) const {
    if (seq.block_hashes) {
      const auto& h = *seq.block_hashes;
      const auto k = static_cast<size_t>(((index + 1) * plan_.block_size - 1) / seq.hash_block_tokens);
      return mix(h[std::min(k, h.size() - 1)], static_cast<uint64_t>(index) | (1ull << 62));
    }
    if (seq.session_id != 0 && index >= seq.prefix_tokens / plan_.block_size) {
      return mix(seq.session_id, static_cast<uint64_t>(index) | (1ull << 63));
    }
    return key(seq.prefix_id, index);
  }

  void evict_oldest() {
    if (tiered_) demote(lru_.front());
    if (store_writes_ == StoreWrites::kEvicted) to_store_.push_back(lru_.front());
    table_.erase(lru_.front());
    lru_.pop_front();
    --cached_;
    ++freed_;
  }

  sim::MemoryPlan plan_;
  bool prefix_caching_;
  bool tiered_;
  Tier host_, disk_;
  TierMoves moves_;
  StoreWrites store_writes_ = StoreWrites::kNone;
  std::vector<uint64_t> to_store_;  // keys for the cluster's KV store since take_store_writes
  int64_t used_ = 0, cached_ = 0, stored_ = 0, allocated_ = 0, freed_ = 0, host_tokens_ = 0;
  std::unordered_map<uint64_t, Entry> table_;
  std::list<uint64_t> lru_;  // evictable blocks, least recently released first
};

}  // namespace

void register_builtin_policies(CachePolicyRegistry& registry) {
  registry.add("block_pool",
               "GPU block pool: paged or reserved KV, full retention, prefix caching (Kwon et al., SOSP 2023)",
               [](const sim::Scenario& scenario, const sim::MemoryPlan& plan) {
                 return std::make_unique<PagedPolicy>(scenario, plan);
               });
  register_contiguous_policy(registry);
}

void CachePolicy::book_growth(int64_t blocks, int64_t tokens) {
  throw Error(fmt::format(
      "internal: a cache policy reports uniform growth but cannot book {} blocks and {} tokens of it", blocks, tokens));
}

void CachePolicy::adopt_growth(SeqKv& /*seq*/, int64_t tokens) const {
  throw Error(
      fmt::format("internal: a cache policy reports uniform growth but cannot write a sequence's {} tokens", tokens));
}

std::string implementation_for(const sim::CacheConfig& cache) {
  return cache.allocation == "contiguous" ? "contiguous_pool" : "block_pool";
}

const CachePolicyRegistry& builtin_policies() {
  static const CachePolicyRegistry registry = [] {
    CachePolicyRegistry r("cache policy");
    register_builtin_policies(r);
    return r;
  }();
  return registry;
}

}  // namespace kvsim::cache
