// The books of a cluster-wide KV store (sim/scenario.h KvStoreConfig): which prefix blocks it holds and on which of
// its nodes (homes), each home holding at most its share of the capacity and dropping its least recently used block
// when a new one comes (Mooncake Store's default eviction is LRU: Qin et al., FAST 2025, sec. 4). Blocks are keys (the
// cache policy's block identities); a block is stored once, wherever it was first written. No time and no transfer
// here: sim/serving/kv_store_service.h moves the bytes.
#pragma once

#include <cstdint>
#include <list>
#include <string>
#include <unordered_map>
#include <vector>

namespace kvsim::serving {

class KvStore {
 public:
  KvStore(int homes, int64_t blocks_per_home);

  // The home holding `key` (now its most recently used block), or -1.
  int find(uint64_t key);
  bool contains(uint64_t key) const { return where_.contains(key); }
  // The home holding `key`, or -1, leaving its recency as it is.
  int home_of(uint64_t key) const {
    const auto it = where_.find(key);
    return it == where_.end() ? -1 : it->second.home;
  }
  // Store `key` at `home` (a block stored already stays where it is, made most recently used); returns the blocks
  // its home dropped to make room.
  int64_t put(uint64_t key, int home);

  int homes() const { return static_cast<int>(lru_.size()); }
  int64_t blocks_per_home() const { return blocks_per_home_; }
  int64_t blocks() const { return static_cast<int64_t>(where_.size()); }
  int64_t peak_blocks() const { return peak_; }
  int64_t evicted_blocks() const { return evicted_; }
  // "" when the books agree (each home within its share, every key in exactly its home's list), else what is wrong.
  std::string check() const;

 private:
  struct Entry {
    int home;
    std::list<uint64_t>::iterator at;
  };
  int64_t blocks_per_home_;
  std::vector<std::list<uint64_t>> lru_;  // per home: least recently used first
  std::unordered_map<uint64_t, Entry> where_;
  int64_t peak_ = 0, evicted_ = 0;
};

}  // namespace kvsim::serving
