#include "sim/serving/router.h"

#include <algorithm>

namespace kvsim::serving {

namespace {
// Sessions, shared prefixes and block hashes live in different id spaces: tag them apart.
constexpr uint64_t kSessionTag = 1, kPrefixTag = 2, kHashTag = 3;
uint64_t tagged(uint64_t id, uint64_t tag) { return id * 4 + tag; }

// The least outstanding of `replicas` (the lowest index on ties).
size_t least_loaded(const std::vector<size_t>& replicas, const std::vector<int64_t>& outstanding) {
  size_t best = replicas.front();
  for (const size_t r : replicas) {
    if (outstanding[r] < outstanding[best] || (outstanding[r] == outstanding[best] && r < best)) best = r;
  }
  return best;
}
size_t least_loaded(const std::vector<int64_t>& outstanding) {
  return static_cast<size_t>(std::min_element(outstanding.begin(), outstanding.end()) - outstanding.begin());
}
}  // namespace

PrefixRouter::PrefixRouter(size_t replicas, const sim::ClusterConfig& config, int64_t index_tokens_per_replica,
                           int64_t index_entries_per_replica)
    : config_(config),
      budget_tokens_(std::max<int64_t>(1, index_tokens_per_replica)),
      budget_entries_(std::max<int64_t>(1, index_entries_per_replica)),
      lru_(replicas),
      lru_tokens_(replicas, 0),
      stamp_(replicas, 0) {}

bool PrefixRouter::imbalanced(const std::vector<int64_t>& outstanding) const {
  const auto [lo, hi] = std::minmax_element(outstanding.begin(), outstanding.end());
  return *hi - *lo > config_.prefix_balance_abs &&
         static_cast<double>(*hi) > config_.prefix_balance_rel * static_cast<double>(*lo);
}

// A request's prefix identity as a chain of links, each standing for the prompt from its start to the link's end:
// its block hashes (chained, so equal hashes at j mean equal tokens up to block j); else its shared prefix, then its
// session (a session's turns extend one another).
void PrefixRouter::build_chain(const traces::Request& request) {
  chain_.clear();
  if (!request.block_hashes.empty() && request.hash_block_tokens > 0) {
    for (size_t j = 0; j < request.block_hashes.size(); ++j) {
      const int64_t end = std::min(request.prompt_tokens, static_cast<int64_t>(j + 1) * request.hash_block_tokens);
      chain_.push_back({tagged(request.block_hashes[j], kHashTag), std::max<int64_t>(1, end)});
      if (end >= request.prompt_tokens) break;
    }
    return;
  }
  if (request.prefix_id != 0) {
    chain_.push_back(
        {tagged(request.prefix_id, kPrefixTag),
         std::clamp<int64_t>(request.shared_prefix_tokens, 1, std::max<int64_t>(1, request.prompt_tokens))});
  }
  if (request.session_id != 0) {
    chain_.push_back({tagged(request.session_id, kSessionTag), std::max<int64_t>(1, request.prompt_tokens)});
  }
}

size_t PrefixRouter::match() {
  candidates_.clear();
  size_t matched = 0;
  for (const Link& link : chain_) {
    const auto it = holders_.find(link.key);
    if (it == holders_.end()) break;
    next_.clear();
    if (matched == 0) {
      for (const Holder& h : it->second) next_.push_back(h.replica);
    } else {
      ++epoch_;
      for (const size_t r : candidates_) stamp_[r] = epoch_;
      for (const Holder& h : it->second) {
        if (stamp_[h.replica] == epoch_) next_.push_back(h.replica);
      }
    }
    if (next_.empty()) break;
    candidates_.swap(next_);
    ++matched;
  }
  return matched;
}

size_t PrefixRouter::route(const traces::Request& request, const std::vector<int64_t>& outstanding) {
  build_chain(request);
  last_match_tokens_ = 0;
  size_t target = 0;
  if (chain_.empty()) {
    last_reason_ = Reason::kNoPrefix;
  } else if (imbalanced(outstanding)) {
    last_reason_ = Reason::kImbalanced;
  } else {
    const size_t matched = match();
    if (matched > 0) last_match_tokens_ = chain_[matched - 1].end_tokens;
    const double share =
        static_cast<double>(last_match_tokens_) / static_cast<double>(std::max<int64_t>(1, request.prompt_tokens));
    if (matched > 0 && share > config_.prefix_cache_threshold) {
      last_reason_ = Reason::kPrefixMatch;
      target = least_loaded(candidates_, outstanding);
    } else {
      last_reason_ = Reason::kShortMatch;
    }
  }
  if (last_reason_ != Reason::kPrefixMatch) target = least_loaded(outstanding);
  remember(target);
  return target;
}

// The links are touched last to first, so that on every replica a prefix is more recent than what extends it and is
// forgotten after it: a replica holding link j holds links 0..j-1 too.
void PrefixRouter::remember(size_t replica) {
  for (auto it = chain_.rbegin(); it != chain_.rend(); ++it) touch(replica, *it);
  while (!lru_[replica].empty() &&
         (lru_tokens_[replica] > budget_tokens_ || static_cast<int64_t>(lru_[replica].size()) > budget_entries_)) {
    evict_front(replica);
  }
}

void PrefixRouter::touch(size_t replica, const Link& link) {
  const int64_t start = &link == chain_.data() ? 0 : (&link - 1)->end_tokens;
  const int64_t tokens = std::max<int64_t>(1, link.end_tokens - start);
  Lru& lru = lru_[replica];
  std::vector<Holder>& holders = holders_[link.key];
  for (Holder& h : holders) {
    if (h.replica != replica) continue;
    lru.splice(lru.end(), lru, h.node);
    lru_tokens_[replica] += tokens - h.node->tokens;
    h.node->tokens = tokens;
    return;
  }
  lru.push_back({link.key, tokens});
  holders.push_back({replica, std::prev(lru.end())});
  lru_tokens_[replica] += tokens;
  ++pairs_;
}

void PrefixRouter::evict_front(size_t replica) {
  Lru& lru = lru_[replica];
  const Node& node = lru.front();
  const auto it = holders_.find(node.key);
  std::vector<Holder>& holders = it->second;
  for (size_t i = 0; i < holders.size(); ++i) {
    if (holders[i].replica != replica) continue;
    holders.erase(holders.begin() + static_cast<std::ptrdiff_t>(i));
    break;
  }
  if (holders.empty()) holders_.erase(it);
  lru_tokens_[replica] -= node.tokens;
  lru.pop_front();
  --pairs_;
}

}  // namespace kvsim::serving
