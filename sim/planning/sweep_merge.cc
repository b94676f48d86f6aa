#include "sim/planning/sweep_merge.h"

#include <algorithm>
#include <filesystem>
#include <map>
#include <numeric>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "sim/core/atomic_file.h"
#include "sim/core/error.h"
#include "sim/core/input_file.h"
#include "sim/core/interrupt.h"
#include "sim/run.h"
#include "sim/scenario.h"

namespace kvsim::sim {

namespace {

namespace fs = std::filesystem;

struct Held {
  std::string text;  // the line as the shard wrote it
  size_t dir = 0;
};

int line_of(int64_t number) { return static_cast<int>(std::min<int64_t>(number, INT32_MAX)); }

// The grid's keys, as run_sweep records them.
std::vector<std::string> grid_keys(const SweepGrid& grid) {
  std::vector<std::string> keys;
  for (const SweepPoint& p : grid.points) {
    if ((p.index & 63) == 0) throw_if_interrupted();
    try {
      keys.push_back(scenario_key(scenario_to_yaml(parse_scenario(grid.base_text.fresh(), grid.file, p.overrides()))));
    } catch (const Error& e) {
      throw Error(fmt::format("sweep point {} ({}): {}", p.index, join(p.overrides(), ", "), e.what()));
    }
  }
  return keys;
}

// The shard count the folders' points show: every folder of `sweep --shard I/N` holds points N apart.
int64_t shard_stride(const std::vector<std::vector<int64_t>>& points_by_dir) {
  int64_t stride = 0;
  for (const auto& points : points_by_dir) {
    for (size_t i = 1; i < points.size(); ++i) stride = std::gcd(stride, points[i] - points[i - 1]);
  }
  return stride;
}

[[noreturn]] void missing(const std::vector<int64_t>& absent, const std::vector<std::vector<int64_t>>& points_by_dir,
                          const MergeOptions& o, size_t total) {
  const std::string which = fmt::format("{} of the grid's {} points (first: point {}) are in no folder", absent.size(),
                                        total, absent.front());
  const auto n = static_cast<int64_t>(o.dirs.size());
  const int64_t stride = shard_stride(points_by_dir);
  if (stride > n) {
    throw Error(Place{join(o.dirs, ", ")},
                fmt::format("{}: the folders' points are {} apart ({} shards), but {} folder{} given: add the "
                            "missing shards' folders",
                            which, stride, stride, n, n == 1 ? " is" : "s are"));
  }
  // The folder whose shard (its points' residue modulo the folder count) should hold the first absent point.
  for (size_t d = 0; d < o.dirs.size(); ++d) {
    const auto& points = points_by_dir[d];
    if (!points.empty() && points.front() % n == absent.front() % n) {
      throw Error(Place{o.dirs[d]},
                  fmt::format("{}: this shard ({}/{} by its points) is unfinished: run its sweep again with --resume "
                              "before merging",
                              which, points.front() % n, n));
    }
  }
  throw Error(Place{join(o.dirs, ", ")}, fmt::format("{}: a shard's folder is missing or empty", which));
}

}  // namespace

int64_t merge_sweep(const SweepGrid& grid, const MergeOptions& o) {
  if (o.dirs.empty()) throw Error(Place{"--merge"}, "expected the shards' output folders, found none");
  const std::vector<std::string> keys = grid_keys(grid);
  std::vector<Held> lines(keys.size());
  std::vector<bool> seen(keys.size(), false);
  std::vector<std::vector<int64_t>> points_by_dir(o.dirs.size());
  for (size_t d = 0; d < o.dirs.size(); ++d) {
    const std::string& dir = o.dirs[d];
    const std::string file = (fs::path(dir) / "results.jsonl").string();
    std::error_code ec;
    if (!fs::is_regular_file(file, ec)) {
      throw Error(Place{dir}, "not a sweep output folder: it has no results.jsonl");
    }
    const auto in = open_input_stream(file, /*record=*/false);  // -o may be one of the folders (with --force)
    int64_t number = 0;
    for (std::string line; read_line(*in, line, file, ++number);) {
      const auto j = nlohmann::json::parse(line, nullptr, false);
      if (j.is_discarded() || !j.is_object() || !j.contains("point") || !j["point"].is_number_integer() ||
          !j.contains("key") || !j["key"].is_string()) {
        throw Error(
            Place{file, line_of(number)},
            fmt::format("expected a whole sweep result {{point, key, params, summary}}, found '{}' (a shard cut "
                        "short: run its sweep again with --resume)",
                        excerpt(line)));
      }
      const auto point = j["point"].get<int64_t>();
      if (point < 0 || point >= static_cast<int64_t>(keys.size()) ||
          j["key"].get<std::string>() != keys[static_cast<size_t>(point)]) {
        throw Error(Place{file, line_of(number)},
                    fmt::format("point {} was made by another grid or base scenario than {}: merge the shards of one "
                                "sweep",
                                point, grid.file));
      }
      const auto p = static_cast<size_t>(point);
      if (seen[p]) {
        throw Error(Place{file, line_of(number)},
                    fmt::format("point {} is also in {}: the folders' shards overlap", point, o.dirs[lines[p].dir]));
      }
      seen[p] = true;
      lines[p] = Held{line, d};
      points_by_dir[d].push_back(point);
    }
  }
  std::vector<int64_t> absent;
  for (size_t p = 0; p < seen.size(); ++p) {
    if (!seen[p]) absent.push_back(static_cast<int64_t>(p));
  }
  if (!absent.empty()) {
    for (auto& points : points_by_dir) std::sort(points.begin(), points.end());
    missing(absent, points_by_dir, o, keys.size());
  }
  const std::string results = (fs::path(o.out_dir) / "results.jsonl").string();
  std::error_code ec;
  if (!o.force && fs::exists(results, ec) && fs::file_size(results, ec) > 0) {
    throw Error(Place{results}, "results already exist: choose another -o, or pass --force to replace them");
  }
  fs::create_directories(o.out_dir, ec);
  if (ec || !fs::is_directory(o.out_dir)) {
    throw Error(Place{o.out_dir},
                fmt::format("cannot create the output folder: {}", ec ? ec.message() : "a file of that name exists"));
  }
  std::string text;
  for (const Held& h : lines) text += h.text + "\n";
  write_file_atomic(results, text);
  return static_cast<int64_t>(lines.size());
}

}  // namespace kvsim::sim
