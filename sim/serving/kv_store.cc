#include "sim/serving/kv_store.h"

#include <algorithm>

#include <fmt/format.h>

#include "sim/core/error.h"

namespace kvsim::serving {

KvStore::KvStore(int homes, int64_t blocks_per_home) : blocks_per_home_(blocks_per_home) {
  if (homes < 1 || blocks_per_home < 1) {
    throw Error(
        fmt::format("KV store: needs at least one home of at least one block, found {} of {}", homes, blocks_per_home));
  }
  lru_.resize(static_cast<size_t>(homes));
}

int KvStore::find(uint64_t key) {
  const auto it = where_.find(key);
  if (it == where_.end()) return -1;
  auto& list = lru_[static_cast<size_t>(it->second.home)];
  list.splice(list.end(), list, it->second.at);
  return it->second.home;
}

int64_t KvStore::put(uint64_t key, int home) {
  if (find(key) >= 0) return 0;
  auto& list = lru_.at(static_cast<size_t>(home));
  int64_t dropped = 0;
  while (static_cast<int64_t>(list.size()) >= blocks_per_home_) {
    where_.erase(list.front());
    list.pop_front();
    ++dropped;
  }
  where_.emplace(key, Entry{home, list.insert(list.end(), key)});
  evicted_ += dropped;
  peak_ = std::max(peak_, blocks());
  return dropped;
}

std::string KvStore::check() const {
  size_t listed = 0;
  for (size_t h = 0; h < lru_.size(); ++h) {
    if (static_cast<int64_t>(lru_[h].size()) > blocks_per_home_) {
      return fmt::format("home {} holds {} blocks, above its share of {}", h, lru_[h].size(), blocks_per_home_);
    }
    for (uint64_t k : lru_[h]) {
      const auto it = where_.find(k);
      if (it == where_.end() || it->second.home != static_cast<int>(h) || *it->second.at != k) {
        return fmt::format("block {:#x} listed at home {} but not booked there", k, h);
      }
    }
    listed += lru_[h].size();
  }
  if (listed != where_.size()) return fmt::format("{} blocks booked, {} listed", where_.size(), listed);
  return "";
}

}  // namespace kvsim::serving
