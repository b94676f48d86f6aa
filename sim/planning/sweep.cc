#include "sim/planning/sweep.h"

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <set>

#include <fmt/format.h>

#include "sim/core/atomic_file.h"
#include "sim/core/error.h"
#include "sim/core/input_file.h"
#include "sim/core/interrupt.h"
#include "sim/core/parallel.h"
#include "sim/core/yaml.h"
#include "sim/run.h"
#include "sim/scenario.h"

namespace kvsim::sim {

namespace {

std::string scalar_text(const YAML::Node& n) {
  if (n.IsScalar()) return n.Scalar();
  YAML::Emitter e;
  e << YAML::Flow << n;
  return e.c_str();
}

struct Dimension {
  std::vector<std::string> keys;
  std::vector<std::vector<std::string>> values;  // values[i][k]: the i-th setting of keys[k]
};

// A dotted key of the sweep mapping: a plain scalar, swept by one dimension only.
std::string sweep_key(const YAML::Node& key, const std::string& prefix, const yaml::Source& source,
                      std::map<std::string, int>& seen) {
  if (!key.IsScalar() || key.Scalar().empty()) {
    throw Error(yaml::place_of_node(key, source),
                fmt::format("{}: expected a dotted key such as cache.block_size, found {}", prefix, yaml::describe(key)));
  }
  const std::string k = key.Scalar();
  const auto [it, fresh] = seen.emplace(k, key.Mark().line + 1);
  if (!fresh) {
    throw Error(yaml::place_of_node(key, source),
                fmt::format("{}.{}: already swept by another dimension (line {}): a key takes one list", prefix,
                            excerpt(k), it->second));
  }
  return k;
}

Dimension list_dimension(const std::string& key, const YAML::Node& list, const yaml::Source& source) {
  if (!list.IsSequence() || list.size() == 0) {
    throw Error(yaml::place_of_node(list, source),
                fmt::format("sweep.{}: expected a non-empty list of values, found {}", key, yaml::describe(list)));
  }
  Dimension d;
  d.keys = {key};
  for (const auto& v : list) d.values.push_back({scalar_text(v)});
  return d;
}

}  // namespace

std::vector<std::string> SweepPoint::overrides() const {
  std::vector<std::string> out;
  for (const auto& [k, v] : params) out.push_back(k + "=" + v);
  return out;
}

nlohmann::ordered_json SweepPoint::params_json() const {
  nlohmann::ordered_json j;
  for (const auto& [k, v] : params) j[k] = v;
  return j;
}

SweepGrid load_sweep(const std::string& path) {
  auto source = std::make_shared<yaml::Source>();
  source->file = path;
  const std::string text = read_input_file(path);
  YAML::Node root = yaml::load_string(text, path);
  if (!root.IsMap() || !root["sweep"]) {
    throw Error(Place{path, 1, 1}, "sweep: required key is missing (a mapping of dotted keys to lists of values)");
  }
  const YAML::Node sweep = root["sweep"];
  if (!sweep.IsMap() || sweep.size() == 0) {
    throw Error(yaml::place_of_node(sweep, *source), "sweep: expected a mapping of dotted keys to lists of values");
  }
  std::vector<Dimension> dims;
  std::map<std::string, int> seen;
  for (const auto& kv : sweep) {
    const bool zip = kv.first.IsScalar() && kv.first.Scalar() == "zip";
    const std::string key = zip ? "zip" : sweep_key(kv.first, "sweep", *source, seen);
    if (zip) {
      if (!kv.second.IsMap() || kv.second.size() == 0) {
        throw Error(yaml::place_of_node(kv.second, *source),
                    "sweep.zip: expected a mapping of keys to equal-length lists");
      }
      Dimension z;
      size_t length = 0;
      for (const auto& zk : kv.second) {
        const std::string k = sweep_key(zk.first, "sweep.zip", *source, seen);
        const Dimension one = list_dimension("zip." + k, zk.second, *source);
        if (z.keys.empty()) {
          length = one.values.size();
          z.values.assign(length, {});
        } else if (one.values.size() != length) {
          throw Error(
              yaml::place_of_node(zk.second, *source),
              fmt::format("sweep.zip.{}: {} values, but the group's first list has {}", k, one.values.size(), length));
        }
        z.keys.push_back(k);
        for (size_t i = 0; i < length; ++i) z.values[i].push_back(one.values[i][0]);
      }
      dims.push_back(z);
    } else {
      dims.push_back(list_dimension(key, kv.second, *source));
    }
  }
  SweepGrid g;
  g.file = path;
  g.base_text = yaml::Document{path, text, "", "sweep"};
  // Cartesian product, the last dimension fastest.
  int64_t total = 1;
  for (const Dimension& d : dims) {
    total *= static_cast<int64_t>(d.values.size());
    if (total > kMaxSweepPoints) {
      throw Error(Place{path}, fmt::format("sweep: more than {} points (each is validated before the first runs): "
                                           "split the grid into several files",
                                           kMaxSweepPoints));
    }
  }
  for (int64_t i = 0; i < total; ++i) {
    SweepPoint p;
    p.index = i;
    int64_t rest = i;
    std::vector<std::pair<std::string, std::string>> reversed;
    for (auto d = dims.rbegin(); d != dims.rend(); ++d) {
      const auto n = static_cast<int64_t>(d->values.size());
      const auto& setting = d->values[static_cast<size_t>(rest % n)];
      rest /= n;
      for (size_t k = d->keys.size(); k-- > 0;) reversed.emplace_back(d->keys[k], setting[k]);
    }
    p.params.assign(reversed.rbegin(), reversed.rend());
    g.points.push_back(std::move(p));
  }
  return g;
}

namespace {
struct ResultLine {
  int64_t point = 0;
  std::string key;  // empty in a line written before keys were recorded
  std::string text;
  int64_t line = 0;
};

// The whole lines of a results file. A last line cut by a kill is dropped from the file; any other line that is not
// one kvsim wrote is an error with its place.
std::vector<ResultLine> read_points(const std::string& results_file) {
  std::vector<ResultLine> good;
  std::error_code ec;
  if (!std::filesystem::exists(results_file, ec)) return good;
  const auto in = open_input_stream(results_file, /*record=*/false);
  bool dropped = false;
  std::string cut;
  int64_t number = 0;
  for (std::string line; read_line(*in, line, results_file, ++number);) {
    if (!cut.empty()) {
      throw Error(Place{results_file, static_cast<int>(number - 1)},
                  fmt::format("expected a sweep result (a JSON object), found '{}'", excerpt(cut)));
    }
    const auto j = nlohmann::json::parse(line, nullptr, false);
    if (j.is_discarded()) {
      cut = line.empty() ? " " : line;  // a cut line may only be the last
      dropped = true;
      continue;
    }
    if (!j.is_object() || !j.contains("point") || !j["point"].is_number_integer() ||
        (j.contains("key") && !j["key"].is_string())) {
      throw Error(Place{results_file, static_cast<int>(std::min<int64_t>(number, INT32_MAX))},
                  fmt::format("expected a sweep result {{point, key, params, summary}}, found '{}'", excerpt(line)));
    }
    good.push_back(ResultLine{j["point"].get<int64_t>(), j.value("key", ""), line, number});
  }
  if (dropped) {
    std::string text;
    for (const ResultLine& r : good) text += r.text + "\n";
    write_file_atomic(results_file, text);
  }
  return good;
}
}  // namespace

std::string scenario_key(const YAML::Node& resolved) {
  YAML::Emitter e;
  e << resolved;
  uint64_t h = 0xcbf29ce484222325ull;  // FNV-1a 64
  for (const char c : std::string_view(e.c_str(), e.size())) {
    h ^= static_cast<unsigned char>(c);
    h *= 0x100000001b3ull;
  }
  return fmt::format("{:016x}", h);
}

std::vector<int64_t> completed_points(const std::string& results_file) {
  std::vector<int64_t> done;
  for (const ResultLine& r : read_points(results_file)) done.push_back(r.point);
  return done;
}

int64_t gather_results(const std::string& out_dir, const std::vector<std::string>& parts) {
  std::set<int64_t> have;
  std::string text;
  std::vector<std::string> files{"results.jsonl"};
  files.insert(files.end(), parts.begin(), parts.end());
  for (const std::string& file : files) {
    for (const ResultLine& r : read_points(out_dir + "/" + file)) {
      if (have.insert(r.point).second) text += r.text + "\n";
    }
  }
  write_file_atomic(out_dir + "/results.jsonl", text);
  for (const std::string& part : parts) std::filesystem::remove(out_dir + "/" + part);
  return static_cast<int64_t>(have.size());
}

SweepResult run_sweep(const SweepGrid& grid, const SweepOptions& o) {
  if (o.shards < 1 || o.shard < 0 || o.shard >= o.shards) {
    throw Error(fmt::format("--shard: expected I/N with 0 <= I < N, found {}/{}", o.shard, o.shards));
  }
  // Every point's scenario must be valid before anything runs or is written; its key is the hash of its resolved
  // scenario. Scenarios are parsed again when they run, so memory stays O(points) of keys, not of scenarios.
  const bool all_keys = o.resume && o.shards > 1;  // a shared results file holds the other shards' points too
  std::vector<std::string> keys(grid.points.size());
  std::vector<size_t> mine;
  for (size_t i = 0; i < grid.points.size(); ++i) {
    const SweepPoint& p = grid.points[i];
    const bool ours = p.index % o.shards == o.shard;
    if (ours) mine.push_back(i);
    if (!ours && !all_keys) continue;
    if ((i & 63) == 0) throw_if_interrupted();
    try {
      keys[i] = scenario_key(scenario_to_yaml(parse_scenario(grid.base_text.fresh(), grid.file, p.overrides())));
    } catch (const Error& e) {
      throw Error(fmt::format("sweep point {} ({}): {}", p.index, join(p.overrides(), ", "), e.what()));
    }
  }
  std::error_code ec;
  std::filesystem::create_directories(o.out_dir, ec);
  if (ec || !std::filesystem::is_directory(o.out_dir)) {
    throw Error(Place{o.out_dir}, fmt::format("cannot create the output folder: {}",
                                              ec ? ec.message() : "a file of that name exists"));
  }
  const std::string results = o.out_dir + "/" + o.results_file;
  std::set<std::string> done;
  if (o.resume) {
    std::map<std::string, int64_t> grid_keys;  // key -> the point's index in this grid
    for (size_t i = 0; i < keys.size(); ++i) {
      if (!keys[i].empty()) grid_keys.emplace(keys[i], grid.points[i].index);
    }
    std::vector<std::string> files{o.results_file};
    files.insert(files.end(), o.also_done.begin(), o.also_done.end());
    for (const std::string& f : files) {
      const std::string path = o.out_dir + "/" + f;
      std::string kept, other;
      bool renumbered = false;
      for (const ResultLine& r : read_points(path)) {
        const auto it = r.key.empty() ? grid_keys.end() : grid_keys.find(r.key);
        if (it != grid_keys.end()) {
          done.insert(r.key);
          if (it->second == r.point) {
            kept += r.text + "\n";
          } else {  // the same point under its index in this grid
            auto j = nlohmann::ordered_json::parse(r.text);
            j["point"] = it->second;
            kept += j.dump() + "\n";
            renumbered = true;
          }
        } else if (!o.force) {
          throw Error(Place{path, static_cast<int>(std::min<int64_t>(r.line, INT32_MAX))},
                      fmt::format("point {} was made by another grid or base scenario{}: --resume continues the same "
                                  "sweep; choose another -o, or pass --force to move such lines to "
                                  "results.other-grid.jsonl",
                                  r.point, r.key.empty() ? " (or by a kvsim that did not record keys)" : ""));
        } else {
          other += r.text + "\n";
        }
      }
      if (!other.empty()) {
        std::ofstream aside(o.out_dir + "/results.other-grid.jsonl", std::ios::app);
        aside << other;
        if (!aside) throw Error(Place{o.out_dir + "/results.other-grid.jsonl"}, "write failed");
      }
      if (!other.empty() || renumbered) write_file_atomic(path, kept);
    }
  } else if (std::filesystem::exists(results) && std::filesystem::file_size(results) > 0) {
    throw Error(Place{results}, "results already exist: pass --resume to continue the sweep, or choose another -o");
  }
  SweepResult r;
  r.total = static_cast<int64_t>(mine.size());
  std::vector<size_t> todo;
  for (const size_t i : mine) {
    if (done.contains(keys[i])) {
      ++r.skipped;
    } else {
      todo.push_back(i);
    }
  }
  std::ofstream out(results, std::ios::app);
  if (!out) throw Error(Place{results}, "cannot open for appending");
  std::mutex mutex;  // the results file and the progress callback
  std::atomic<int64_t> finished{r.skipped}, failed{0}, ran{0};
  // A body's exception (an interrupt, a failed write) stops the sweep, keeping the points it finished.
  parallel_for(todo.size(), o.jobs, [&](size_t k) {
    const SweepPoint& p = grid.points[todo[k]];
    nlohmann::ordered_json line;
    line["point"] = p.index;
    line["key"] = keys[todo[k]];
    line["params"] = p.params_json();
    throw_if_interrupted();
    try {
      line["summary"] = run_scenario(parse_scenario(grid.base_text.fresh(), grid.file, p.overrides()), "").summary;
      ++ran;
    } catch (const Interrupted&) {
      throw;  // not the point's failure: the sweep stops, keeping the points it finished
    } catch (const std::exception& e) {
      line["error"] = e.what();
      ++failed;
    }
    const std::string text = line.dump() + "\n";
    std::lock_guard<std::mutex> lock(mutex);
    out << text << std::flush;  // one whole line per point, at once
    if (!out) throw Error(Place{results}, "write failed");
    const int64_t d = ++finished;
    if (o.progress) o.progress(d, r.total);
  });
  r.run = ran;
  r.failed = failed;
  return r;
}

}  // namespace kvsim::sim
