// kvsim sweep GRID.yaml -o DIR [--jobs N] [--shard I/N] [--resume] (sim/sweep.h).
#include <unistd.h>

#include <chrono>
#include <cstdio>

#include <fmt/format.h>

#include "apps/commands.h"
#include "sim/core/atomic_file.h"
#include "sim/core/error.h"
#include "sim/report.h"
#include "sim/sweep.h"

namespace kvsim::app {

int cmd_sweep(const SweepArgs& args, std::ostream& out, std::ostream& err) {
  int64_t shard = 0, shards = 1;
  if (!args.shard.empty()) {
    if (std::sscanf(args.shard.c_str(), "%ld/%ld", &shard, &shards) != 2 || shards < 1 || shard < 0 ||
        shard >= shards) {
      throw Error(Place{"--shard"}, fmt::format("expected I/N with 0 <= I < N, found '{}'", args.shard));
    }
  }
  const sim::SweepGrid grid = sim::load_sweep(args.grid);
  sim::SweepOptions o;
  o.out_dir = args.out_dir.empty() ? "kvsim-out/sweep" : args.out_dir;
  o.jobs = args.jobs;
  o.shard = shard;
  o.shards = shards;
  o.resume = args.resume;
  const bool tty = ::isatty(STDERR_FILENO) != 0;
  const auto start = std::chrono::steady_clock::now();
  int64_t first_done = -1;
  o.progress = [&](int64_t done, int64_t total) {
    if (first_done < 0) first_done = done - 1;
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    const double rate = s > 0 ? static_cast<double>(done - first_done) / s : 0;
    const double eta = rate > 0 ? static_cast<double>(total - done) / rate : 0;
    if (tty) {
      const int width = 30, filled = total > 0 ? static_cast<int>(width * done / total) : width;
      err << fmt::format("\r[{}{}] {}/{} points, {:.2f}/s, ETA {:.0f} s", std::string(filled, '#'),
                         std::string(width - filled, '.'), done, total, rate, eta)
          << std::flush;
      if (done == total) err << "\n";
    } else {
      err << fmt::format("sweep: {}/{} points done ({:.2f}/s, ETA {:.0f} s)\n", done, total, rate, eta);
    }
  };
  const sim::SweepResult r = sim::run_sweep(grid, o);
  out << fmt::format(
      "sweep {}: {} points{}, {} run, {} skipped (already done), {} could not run; results in {}/results.jsonl\n",
      args.grid, r.total, shards > 1 ? fmt::format(" (shard {}/{} of {})", shard, shards, grid.points.size()) : "",
      r.run, r.skipped, r.failed, o.out_dir);
  return 0;
}

int cmd_report(const std::string& dir, const std::string& out_path, std::ostream& out) {
  const std::string html = sim::render_report(dir);
  const std::string path = out_path.empty() ? dir + "/report.html" : out_path;
  write_file_atomic(path, html);
  out << fmt::format("wrote {}\n", path);
  return 0;
}

}  // namespace kvsim::app
