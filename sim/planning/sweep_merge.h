// `kvsim sweep GRID --merge DIR... -o OUT`: the output folders of `sweep --shard I/N` runs of one grid, merged into
// one results.jsonl equal, byte for byte, to the unsharded sweep's (its lines in point order, as `--jobs 1` writes
// them). Every point of the grid must be in exactly one folder, made by this grid (its key, the hash of its resolved
// scenario, matches): a folder without results, a line of another grid, a point in two folders or a point in none
// is an error naming the folder, and nothing is written.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "sim/planning/sweep.h"

namespace kvsim::sim {

struct MergeOptions {
  std::vector<std::string> dirs;  // the shards' output folders
  std::string out_dir;            // may be one of them
  bool force = false;             // replace an existing out_dir/results.jsonl
};

// Returns the points written to out_dir/results.jsonl (every point of the grid).
int64_t merge_sweep(const SweepGrid& grid, const MergeOptions& options);

}  // namespace kvsim::sim
