// `contiguous_pool`: each sequence's KV in one contiguous extent of the pool, as FasterTransformer and Orca store it
// (Kwon et al., SOSP 2023, sec. 3: "existing systems store the KV cache of a request in contiguous space", reserving
// it for the request's maximum length at admission). Extents are placed first fit from the lowest free offset
// (Knuth, TAOCP vol. 1, sec. 2.5) and coalesced with their free neighbours when released. With requests of different
// sizes the free space splits into holes that a new reservation may not fit although the free blocks add up to it:
// the external fragmentation of the vLLM paper's Fig. 2, which a block pool does not have.
#include <algorithm>
#include <iterator>
#include <map>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "sim/cache/cache_policy.h"

namespace kvsim::cache {

namespace {

class ContiguousPolicy final : public CachePolicy {
 public:
  explicit ContiguousPolicy(const sim::MemoryPlan& plan) : plan_(plan) {
    if (plan_.num_gpu_blocks > 0) holes_.emplace(0, plan_.num_gpu_blocks);
  }

  int64_t blocks_for_tokens(int64_t tokens) const override { return plan_.blocks_for_tokens(tokens); }

  int64_t blocks_needed(const SeqKv& seq, int64_t tokens) const override {
    return std::max<int64_t>(0, size_for(seq, tokens) - seq.blocks);
  }

  bool grow(SeqKv& seq, int64_t tokens) override {
    const int64_t size = std::max(size_for(seq, tokens), seq.blocks);
    if (size > seq.blocks) {
      const int64_t at = seq.blocks == 0 ? take_first_fit(size) : extend(seq, size);
      if (at < 0) return false;
      used_ += size - seq.blocks;
      allocated_ += size - seq.blocks;
      seq.extent = at;
      seq.blocks = size;
    }
    const int64_t keep = kept_tokens(seq, tokens, seq.keep_at_most);
    stored_ += keep - seq.tokens;
    seq.tokens = keep;
    return true;
  }

  void release(SeqKv& seq) override {
    if (seq.blocks > 0) {
      give_back(seq.extent, seq.blocks);
      used_ -= seq.blocks;
      freed_ += seq.blocks;
    }
    stored_ -= seq.tokens;
    seq.blocks = seq.tokens = seq.shared_blocks = 0;
    seq.extent = -1;
  }

  int64_t acquire_cached_prefix(SeqKv&) override { return 0; }  // no prefix sharing in contiguous storage
  void on_computed(SeqKv&, int64_t) override {}

  int64_t total_blocks() const override { return plan_.num_gpu_blocks; }
  int64_t used_blocks() const override { return used_; }
  int64_t cached_blocks() const override { return 0; }
  int64_t stored_tokens() const override { return stored_; }
  int64_t host_tokens() const override { return 0; }
  int64_t blocks_allocated() const override { return allocated_; }
  int64_t blocks_freed() const override { return freed_; }

  std::string check_seq(const SeqKv& s) const override {
    if (s.tokens < 0 || s.blocks < 0 || s.shared_blocks != 0) {
      return fmt::format("holding {} blocks, {} tokens, {} shared (contiguous storage shares none)", s.blocks, s.tokens,
                         s.shared_blocks);
    }
    if (s.blocks < blocks_for_tokens(s.tokens)) {
      return fmt::format("holds {} blocks for {} tokens of KV (needs {})", s.blocks, s.tokens,
                         blocks_for_tokens(s.tokens));
    }
    if ((s.blocks > 0) != (s.extent >= 0) || s.extent + s.blocks > plan_.num_gpu_blocks) {
      return fmt::format("extent at block {} of {} blocks lies outside the pool of {}", s.extent, s.blocks,
                         plan_.num_gpu_blocks);
    }
    return "";
  }

  // The extents of the holders and the holes tile the pool exactly: no overlap, no block lost.
  std::string check(const std::vector<const SeqKv*>& holders) const override {
    std::vector<std::pair<int64_t, int64_t>> pieces(holes_.begin(), holes_.end());
    int64_t held = 0, tokens = 0;
    for (const SeqKv* s : holders) {
      if (s->blocks > 0) pieces.emplace_back(s->extent, s->blocks);
      held += s->blocks;
      tokens += s->tokens;
    }
    if (allocated_ - freed_ != used_) {
      return fmt::format("blocks not conserved: {} allocated - {} freed != {} in use", allocated_, freed_, used_);
    }
    if (held != used_) return fmt::format("{} blocks in use, sequences hold {}", used_, held);
    if (stored_ != tokens) return fmt::format("{} tokens stored, sequences hold {}", stored_, tokens);
    std::sort(pieces.begin(), pieces.end());
    int64_t next = 0;
    for (size_t i = 0; i < pieces.size(); ++i) {
      if (pieces[i].first != next) {
        return fmt::format("extents do not tile the pool: block {} expected, an extent starts at {}", next,
                           pieces[i].first);
      }
      if (i > 0 && pieces[i].first == pieces[i - 1].first + pieces[i - 1].second && is_hole(pieces[i].first) &&
          is_hole(pieces[i - 1].first)) {
        return fmt::format("adjacent holes at blocks {} and {} were not coalesced", pieces[i - 1].first,
                           pieces[i].first);
      }
      next += pieces[i].second;
    }
    if (next != plan_.num_gpu_blocks) {
      return fmt::format("extents cover {} blocks of a pool of {}", next, plan_.num_gpu_blocks);
    }
    return "";
  }

 private:
  // Blocks the sequence's extent must span to hold `tokens`.
  int64_t size_for(const SeqKv& seq, int64_t tokens) const {
    return footprint_blocks(plan_, seq, tokens, seq.keep_at_most);
  }

  bool is_hole(int64_t offset) const { return holes_.contains(offset); }

  // The lowest hole of at least `size` blocks gives its first `size` blocks; -1 when none is large enough.
  int64_t take_first_fit(int64_t size) {
    for (auto it = holes_.begin(); it != holes_.end(); ++it) {
      if (it->second < size) continue;
      const auto [at, length] = *it;
      holes_.erase(it);
      if (length > size) holes_.emplace(at + size, length - size);
      return at;
    }
    return -1;
  }

  // A sequence outgrowing its extent (only when it outgrows its reservation): extended in place when the hole after
  // it is large enough, else moved to the first hole that fits the new size (a reallocation and copy, as a
  // contiguous cache must); -1 when neither fits, and the sequence keeps its extent.
  int64_t extend(const SeqKv& seq, int64_t size) {
    const int64_t more = size - seq.blocks;
    auto after = holes_.find(seq.extent + seq.blocks);
    if (after != holes_.end() && after->second >= more) {
      const int64_t rest = after->second - more;
      holes_.erase(after);
      if (rest > 0) holes_.emplace(seq.extent + size, rest);
      return seq.extent;
    }
    give_back(seq.extent, seq.blocks);
    const int64_t at = take_first_fit(size);
    if (at >= 0) return at;
    // Nothing fits: take the old extent back exactly where it was (its hole was just formed around it).
    auto hole = std::prev(holes_.upper_bound(seq.extent));
    const auto [start, length] = *hole;
    holes_.erase(hole);
    if (seq.extent > start) holes_.emplace(start, seq.extent - start);
    const int64_t end = seq.extent + seq.blocks;
    if (start + length > end) holes_.emplace(end, start + length - end);
    return -1;
  }

  // Returns [at, at + size) to the holes, merged with the holes on either side.
  void give_back(int64_t at, int64_t size) {
    auto next = holes_.lower_bound(at);
    if (next != holes_.end() && next->first == at + size) {
      size += next->second;
      next = holes_.erase(next);
    }
    if (next != holes_.begin()) {
      auto prev = std::prev(next);
      if (prev->first + prev->second == at) {
        prev->second += size;
        return;
      }
    }
    holes_.emplace(at, size);
  }

  sim::MemoryPlan plan_;
  std::map<int64_t, int64_t> holes_;  // free extents: first block -> length in blocks
  int64_t used_ = 0, stored_ = 0, allocated_ = 0, freed_ = 0;
};

}  // namespace

void register_contiguous_policy(CachePolicyRegistry& registry) {
  registry.add(
      "contiguous_pool",
      "contiguous KV per request, reserved at admission and placed first fit (FasterTransformer, Orca; "
      "Kwon et al., SOSP 2023, sec. 3)",
      [](const sim::Scenario&, const sim::MemoryPlan& plan) { return std::make_unique<ContiguousPolicy>(plan); });
}

}  // namespace kvsim::cache
