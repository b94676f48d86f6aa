// The prefix-aware router (cluster.router: prefix-aware), modelled on SGLang's cache-aware policy (sgl-router, now
// SGLang Model Gateway): each request goes to the replica that was recently sent the longest prefix of its prompt,
// where that prefix is most likely still cached, unless the replicas' loads are imbalanced (then the least loaded)
// or the match is too short a share of the prompt (then the least loaded too). llm-d's inference scheduler weighs
// the same two signals instead of switching (prefix-cache-scorer weight 3 against queue-scorer and
// kv-cache-utilization-scorer weight 2 each in its default profile); "consistent hashing with bounded loads"
// (Mirrokni, Thorup and Zadimoghaddam, SODA 2018) bounds each server's load at (1 + eps) x the mean in the same spirit.
// The index is the router's own record of what it sent where, as the Gateway API inference extension's approximate
// prefix plugin keeps one (an LRU of block hashes per server): the replicas' caches are never consulted.
#pragma once

#include <cstdint>
#include <list>
#include <unordered_map>
#include <vector>

#include "sim/scenario.h"
#include "traces/request.h"

namespace kvsim::serving {

class PrefixRouter {
 public:
  enum class Reason : uint8_t { kNoPrefix, kImbalanced, kShortMatch, kPrefixMatch };

  // `index_tokens_per_replica` and `index_entries_per_replica` bound what the index remembers per replica (the
  // tokens and blocks one replica's KV cache holds): least recently sent forgotten first.
  PrefixRouter(size_t replicas, const sim::ClusterConfig& config, int64_t index_tokens_per_replica,
               int64_t index_entries_per_replica);

  // The replica for `request`, given each replica's outstanding requests now; records that its prefix went there.
  // Deterministic: ties go to the lowest index.
  size_t route(const traces::Request& request, const std::vector<int64_t>& outstanding);

  // max - min > abs and max > rel x min (SGLang's imbalance test).
  bool imbalanced(const std::vector<int64_t>& outstanding) const;
  Reason last_reason() const { return last_reason_; }
  int64_t last_match_tokens() const { return last_match_tokens_; }
  // (prefix key, replica) pairs remembered now.
  size_t remembered() const { return pairs_; }
  // Prompt tokens those pairs stand for, over every replica.
  int64_t remembered_tokens() const {
    int64_t t = 0;
    for (int64_t r : lru_tokens_) t += r;
    return t;
  }

 private:
  struct Link {
    uint64_t key;
    int64_t end_tokens;  // the prompt tokens up to and including this link's
  };
  struct Node {
    uint64_t key;
    int64_t tokens;
  };
  using Lru = std::list<Node>;  // least recently sent first
  struct Holder {
    size_t replica;
    Lru::iterator node;
  };

  void build_chain(const traces::Request& request);
  // The replicas holding the longest prefix of chain_ (into candidates_); the number of links matched.
  size_t match();
  void remember(size_t replica);
  void touch(size_t replica, const Link& link);
  void evict_front(size_t replica);

  sim::ClusterConfig config_;
  int64_t budget_tokens_, budget_entries_;
  std::vector<Lru> lru_;
  std::vector<int64_t> lru_tokens_;
  std::unordered_map<uint64_t, std::vector<Holder>> holders_;
  size_t pairs_ = 0;
  // Scratch, reused across requests.
  std::vector<Link> chain_;
  std::vector<size_t> candidates_, next_;
  std::vector<uint64_t> stamp_;
  uint64_t epoch_ = 0;
  Reason last_reason_ = Reason::kNoPrefix;
  int64_t last_match_tokens_ = 0;
};

}  // namespace kvsim::serving
