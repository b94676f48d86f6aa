// The KV-cache policy of one replica: how many blocks a sequence needs, who holds them and which can be shared.
// Policies are named implementations in a registry (presets such as `vllm`); the scheduler asks them for room and
// never touches blocks itself.
// Contract: a policy never allocates past its capacity (grow() either succeeds whole or changes nothing), never
// schedules events and never looks at scheduler queues. Units: blocks of MemoryPlan::block_size tokens, tokens.
#pragma once

#include <algorithm>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "sim/core/registry.h"
#include "sim/scenario.h"
#include "sim/serving/memory_plan.h"

namespace kvsim::cache {

// What a sequence holds in the pool.
struct SeqKv {
  int64_t blocks = 0;         // blocks it references on the GPU (shared ones included)
  int64_t tokens = 0;         // KV entries stored for it
  int64_t shared_blocks = 0;  // leading blocks it shares through the prefix cache
  uint64_t prefix_id = 0;     // the request's shared prefix (0 = none), and its length in tokens
  int64_t prefix_tokens = 0;
  // Prefix identity beyond one shared prefix (vLLM's block hashes): Mooncake-style chained hashes, one per
  // hash_block_tokens of the prompt; or a multi-turn session, whose blocks past the shared prefix are the session's
  // (turn k's prompt holds turns 1..k-1 and their outputs, so block j of a session is the same in every turn that has
  // it). identity_tokens: the tokens whose full blocks can be cached; lookup_tokens: those a new sequence may find
  // cached (at most prompt - 1: the last prompt token is always computed, as in vLLM).
  std::shared_ptr<const std::vector<uint64_t>> block_hashes;
  int64_t hash_block_tokens = 0;
  uint64_t session_id = 0;
  int64_t identity_tokens = 0;
  int64_t lookup_tokens = 0;
  bool has_identity() const { return prefix_id != 0 || block_hashes || session_id != 0; }
  int64_t cacheable_tokens() const { return block_hashes || session_id != 0 ? identity_tokens : prefix_tokens; }
  int64_t findable_tokens() const { return block_hashes || session_id != 0 ? lookup_tokens : prefix_tokens; }
  int64_t reserved_tokens = 0;  // reserved at admission by reservation layouts (0: paged, grows on demand)
  int64_t keep_at_most = 0;     // evicting retention: tokens kept at most (0: all)
  int64_t extra_blocks = 0;     // fixed GPU blocks beside the tokens' (offload: the fetch double buffer; KIVI: the
                                // full-precision residual window)
  int64_t compress_after = 0;   // compressing retention (SnapKV): past this many tokens the prompt keeps keep_prompt
  int64_t keep_prompt = 0;
  int64_t extent = -1;  // contiguous allocation: the first block of the sequence's one extent (-1: holds none)
};

// The KV entries `seq` keeps of `tokens`: an evicting retention (H2O, StreamingLLM) at most keep_at_most, each new
// token replacing an evicted one; a compressing one (SnapKV) keep_prompt of the prompt once past it, plus every later
// token.
inline int64_t kept_tokens(const SeqKv& seq, int64_t tokens, int64_t keep_at_most) {
  if (keep_at_most > 0) return tokens < keep_at_most ? tokens : keep_at_most;
  if (seq.compress_after > 0 && tokens > seq.compress_after) return seq.keep_prompt + tokens - seq.compress_after;
  return tokens;
}

// Blocks `seq` spans when it holds `tokens` entries: what its retention keeps (its reservation at least) plus its
// fixed buffers. Both pools size a sequence by it.
inline int64_t footprint_blocks(const sim::MemoryPlan& plan, const SeqKv& seq, int64_t tokens, int64_t keep_at_most) {
  return plan.blocks_for_tokens(std::max(kept_tokens(seq, tokens, keep_at_most), seq.reserved_tokens)) +
         seq.extra_blocks;
}

// Prefix blocks a tiered placement moved since the last call: loaded back to the GPU from host memory or disk (a
// prefix hit below the GPU tier), and demoted from the GPU to host memory (written out as they leave).
struct TierMoves {
  int64_t host_loads = 0;
  int64_t disk_loads = 0;
  int64_t demoted = 0;
};

// Which prefix blocks a policy hands to a cluster-wide KV store (sim/scenario.h KvStoreConfig): none, those its GPU
// prefix cache evicts, or each full block once computed.
enum class StoreWrites : uint8_t { kNone, kEvicted, kComputed };

class CachePolicy {
 public:
  virtual ~CachePolicy() = default;

  // Blocks a sequence of `tokens` KV entries occupies.
  virtual int64_t blocks_for_tokens(int64_t tokens) const = 0;
  // New blocks `seq` needs to hold `tokens` entries (after its retention cap, reservation and fixed buffers).
  virtual int64_t blocks_needed(const SeqKv& seq, int64_t tokens) const = 0;
  // Make `seq` hold `tokens` entries; false (and no change) when the pool lacks the blocks.
  virtual bool grow(SeqKv& seq, int64_t tokens) = 0;
  // Give back every block of `seq` (shared blocks stay cached while others use them, or until evicted).
  virtual void release(SeqKv& seq) = 0;

  // Prefix caching. For a sequence holding nothing: take the cached blocks of its shared prefix and return how many
  // tokens need no computing.
  virtual int64_t acquire_cached_prefix(SeqKv& seq) = 0;
  // `seq` has `computed` tokens of KV now: full blocks of its prefix become reusable by other sequences.
  virtual void on_computed(SeqKv& seq, int64_t computed) = 0;

  virtual int64_t total_blocks() const = 0;
  virtual int64_t used_blocks() const = 0;    // referenced by some sequence
  virtual int64_t cached_blocks() const = 0;  // unreferenced but kept for reuse; evicted when room is needed
  int64_t free_blocks() const { return total_blocks() - used_blocks(); }
  // Distinct token states held (a shared block counts once).
  virtual int64_t stored_tokens() const = 0;
  // Tokens whose full KV sits in the host pool (offloaded placement) or host tier (tiered placement), else 0.
  virtual int64_t host_tokens() const = 0;
  // Tiered placement: the moves between tiers since the last call (then reset).
  virtual TierMoves take_tier_moves() { return {}; }
  // A cluster-wide KV store. shares_prefixes: the policy caches prefix blocks by identity (else the store sees none);
  // block_identity: the key of block `index` of `seq`'s prompt, the same on every replica of the model;
  // take_store_writes: appends the keys to write since the last call (as set_store_writes asks) and forgets them.
  virtual bool shares_prefixes() const { return false; }
  virtual uint64_t block_identity(const SeqKv& /*seq*/, int64_t /*index*/) const { return 0; }
  virtual void set_store_writes(StoreWrites /*writes*/) {}
  virtual void take_store_writes(std::vector<uint64_t>& /*out*/) {}
  // Closed-form decode growth (engine.fast_forward: analytic, sim/serving/replica_stretch.cc): the blocks `seq` takes
  // each time the tokens it holds pass a multiple of the block size, when from now on that is all a further token
  // changes in the pool (no retention cap, reservation, compression, host pool, tier or sliding group; its blocks
  // exactly its footprint; no prefix block of it left for on_computed to register); 0 when growth is not that simple.
  // Growing such sequences step by step or at once to the same lengths leaves the pool in the same state.
  virtual int64_t uniform_growth_blocks(const SeqKv& /*seq*/) const { return 0; }
  // The same growth of many such sequences counted at once (a decode cohort's steps): the pool's books move as if
  // they had grown by `tokens` tokens taking `blocks` blocks; adopt_growth later writes one sequence's share into
  // it without counting it again (`tokens`: what it holds now). Policies that report no uniform growth never get
  // these calls; one that does must implement both (the defaults throw: a policy that counted nothing would leave the
  // pool's books wrong without a word).
  virtual void book_growth(int64_t blocks, int64_t tokens);
  virtual void adopt_growth(SeqKv& seq, int64_t tokens) const;
  // Lifetime counters for conservation: allocated = freed + cached at any quiet point.
  virtual int64_t blocks_allocated() const = 0;
  virtual int64_t blocks_freed() const = 0;
  // "" when what `seq` holds is consistent (its blocks cover its tokens, its shared blocks are among them), else what
  // is wrong; the scheduler names the request.
  virtual std::string check_seq(const SeqKv& seq) const = 0;
  // "" when the policy's books agree with the sequences that hold blocks (blocks conserved: every block allocated is
  // in use, cached or freed; tiers within their capacity), else what is wrong.
  virtual std::string check(const std::vector<const SeqKv*>& holders) const = 0;
};

using CachePolicyRegistry = Registry<CachePolicy, const sim::Scenario&, const sim::MemoryPlan&>;

// Adds the built-in implementations: `block_pool` (vLLM's block manager, Kwon et al., SOSP 2023, sec. 4.2-4.3:
// fixed-size blocks allocated on demand, at most one partially filled block per sequence, automatic prefix caching
// by block hash as in vLLM's docs; with a reservation layout it takes a request's whole reservation at admission, in
// blocks from anywhere in the pool) and `contiguous_pool` (a reservation in one contiguous extent, first fit, as
// FasterTransformer and Orca store a request's KV: vLLM paper sec. 3, whose Fig. 2 shows the external fragmentation
// this leaves). Presets (presets.h) choose axes; implementation_for() maps them to an entry.
void register_builtin_policies(CachePolicyRegistry& registry);
void register_contiguous_policy(CachePolicyRegistry& registry);
const CachePolicyRegistry& builtin_policies();
// The registry entry implementing a scenario's cache axes.
std::string implementation_for(const sim::CacheConfig& cache);

}  // namespace kvsim::cache
