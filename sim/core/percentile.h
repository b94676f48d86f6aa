// numpy.percentile's default (linear interpolation between the closest ranks) over a sorted sample, q in [0, 1]:
// the error tables of the operator fit and of `kvsim validate` both report it.
#pragma once

#include <algorithm>
#include <cstddef>
#include <vector>

namespace kvsim {

inline double percentile_of_sorted(const std::vector<double>& sorted, double q) {
  if (sorted.empty()) return 0;
  const double pos = q * static_cast<double>(sorted.size() - 1);
  const auto lo = static_cast<size_t>(pos);
  const size_t hi = std::min(lo + 1, sorted.size() - 1);
  return sorted[lo] + (pos - static_cast<double>(lo)) * (sorted[hi] - sorted[lo]);
}

}  // namespace kvsim
