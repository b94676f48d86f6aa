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
  // Room for a full store up front (at most 2^22 entries: a big store fills as the run goes), so that filling it
  // does not rehash.
  where_.reserve(static_cast<size_t>(std::min<int64_t>(int64_t{homes} * blocks_per_home, int64_t{1} << 22)));
}

int KvStore::find(uint64_t key) {
  const auto it = where_.find(key);
  if (it == where_.end()) return -1;
  auto& list = lru_[static_cast<size_t>(it->second.home)];
  list.splice(list.end(), list, it->second.at);
  return it->second.home;
}

int64_t KvStore::put(uint64_t key, int home) {
  const auto [it, inserted] = where_.try_emplace(key, Entry{home, {}});
  if (!inserted) {
    auto& held = lru_[static_cast<size_t>(it->second.home)];
    held.splice(held.end(), held, it->second.at);
    return 0;
  }
  auto& list = lru_.at(static_cast<size_t>(home));
  int64_t dropped = 0;
  while (static_cast<int64_t>(list.size()) >= blocks_per_home_) {
    where_.erase(list.front());  // erasing another key leaves `it` valid
    list.pop_front();
    ++dropped;
  }
  it->second.at = list.insert(list.end(), key);
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
