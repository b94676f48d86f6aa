#include "sim/planning/sweep.h"

#include <algorithm>
#include <atomic>
#include <exception>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <set>
#include <thread>

#include <fmt/format.h>

#include "sim/core/atomic_file.h"
#include "sim/core/error.h"
#include "sim/core/interrupt.h"
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
  YAML::Node root = yaml::load_file(path);
  if (!root.IsMap() || !root["sweep"]) {
    throw Error(Place{path, 1, 1}, "sweep: required key is missing (a mapping of dotted keys to lists of values)");
  }
  const YAML::Node sweep = root["sweep"];
  if (!sweep.IsMap() || sweep.size() == 0) {
    throw Error(yaml::place_of_node(sweep, *source), "sweep: expected a mapping of dotted keys to lists of values");
  }
  std::vector<Dimension> dims;
  for (const auto& kv : sweep) {
    const std::string key = kv.first.as<std::string>();
    if (key == "zip") {
      if (!kv.second.IsMap() || kv.second.size() == 0) {
        throw Error(yaml::place_of_node(kv.second, *source),
                    "sweep.zip: expected a mapping of keys to equal-length lists");
      }
      Dimension z;
      size_t length = 0;
      for (const auto& zk : kv.second) {
        const std::string k = zk.first.as<std::string>();
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
  root.remove("sweep");
  g.base = root;
  // Cartesian product, the last dimension fastest.
  int64_t total = 1;
  for (const Dimension& d : dims) {
    total *= static_cast<int64_t>(d.values.size());
    if (total > (int64_t{1} << 24))
      throw Error(Place{path}, fmt::format("sweep: more than {} points", int64_t{1} << 24));
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
// The whole lines of a results file with their point index; a line cut by a kill is dropped from the file.
std::vector<std::pair<int64_t, std::string>> read_points(const std::string& results_file) {
  std::vector<std::pair<int64_t, std::string>> good;
  std::ifstream in(results_file);
  if (!in) return good;
  bool dropped = false;
  for (std::string line; std::getline(in, line);) {
    const auto j = nlohmann::json::parse(line, nullptr, false);
    if (j.is_discarded() || !j.is_object() || !j.contains("point")) {
      dropped = true;  // a line cut by a kill
      continue;
    }
    good.emplace_back(j["point"].get<int64_t>(), line);
  }
  in.close();
  if (dropped) {
    std::string text;
    for (const auto& [point, l] : good) text += l + "\n";
    write_file_atomic(results_file, text);
  }
  return good;
}
}  // namespace

std::vector<int64_t> completed_points(const std::string& results_file) {
  std::vector<int64_t> done;
  for (const auto& [point, line] : read_points(results_file)) done.push_back(point);
  return done;
}

int64_t gather_results(const std::string& out_dir, const std::vector<std::string>& parts) {
  std::set<int64_t> have;
  std::string text;
  std::vector<std::string> files{"results.jsonl"};
  files.insert(files.end(), parts.begin(), parts.end());
  for (const std::string& file : files) {
    for (const auto& [point, line] : read_points(out_dir + "/" + file)) {
      if (have.insert(point).second) text += line + "\n";
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
  std::vector<const SweepPoint*> mine;
  for (const SweepPoint& p : grid.points) {
    if (p.index % o.shards == o.shard) mine.push_back(&p);
  }
  // Every point's scenario must be valid before anything runs or is written.
  std::vector<Scenario> scenarios;
  scenarios.reserve(mine.size());
  for (const SweepPoint* p : mine) {
    try {
      scenarios.push_back(parse_scenario(YAML::Clone(grid.base), grid.file, p->overrides()));
    } catch (const Error& e) {
      throw Error(fmt::format("sweep point {} ({}): {}", p->index, join(p->overrides(), ", "), e.what()));
    }
  }
  std::filesystem::create_directories(o.out_dir);
  const std::string results = o.out_dir + "/" + o.results_file;
  std::set<int64_t> done;
  if (o.resume) {
    for (int64_t i : completed_points(results)) done.insert(i);
    for (const std::string& f : o.also_done) {
      for (int64_t i : completed_points(o.out_dir + "/" + f)) done.insert(i);
    }
  } else if (std::filesystem::exists(results) && std::filesystem::file_size(results) > 0) {
    throw Error(Place{results}, "results already exist: pass --resume to continue the sweep, or choose another -o");
  }
  SweepResult r;
  r.total = static_cast<int64_t>(mine.size());
  std::vector<size_t> todo;
  for (size_t i = 0; i < mine.size(); ++i) {
    if (done.contains(mine[i]->index)) {
      ++r.skipped;
    } else {
      todo.push_back(i);
    }
  }
  std::ofstream out(results, std::ios::app);
  if (!out) throw Error(Place{results}, "cannot open for appending");
  std::mutex mutex;
  std::atomic<size_t> next{0};
  std::atomic<int64_t> finished{r.skipped}, failed{0}, ran{0};
  std::exception_ptr error;
  const auto work = [&] {
    while (true) {
      const size_t k = next++;
      if (k >= todo.size()) return;
      const SweepPoint& p = *mine[todo[k]];
      nlohmann::ordered_json line;
      line["point"] = p.index;
      line["params"] = p.params_json();
      throw_if_interrupted();
      try {
        line["summary"] = run_scenario(scenarios[todo[k]], "").summary;
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
    }
  };
  const auto worker = [&] {
    try {
      work();
    } catch (...) {
      std::lock_guard<std::mutex> lock(mutex);
      if (!error) error = std::current_exception();
      next = todo.size();  // the others stop after their current point
    }
  };
  const int threads = std::max(1, std::min<int>(o.jobs, static_cast<int>(todo.size())));
  std::vector<std::thread> pool;
  for (int t = 1; t < threads; ++t) pool.emplace_back(worker);
  worker();
  for (auto& t : pool) t.join();
  if (error) std::rethrow_exception(error);
  r.run = ran;
  r.failed = failed;
  return r;
}

}  // namespace kvsim::sim
