// kvsim sweep GRID.yaml -o DIR [--jobs N] [--shard I/N] [--resume] (sim/planning/sweep.h), or
// kvsim sweep GRID.yaml --merge DIR... -o OUT (sim/planning/sweep_merge.h).
#include <unistd.h>

#include <charconv>
#include <chrono>
#include <cstdio>

#include <fmt/format.h>

#ifdef KVSIM_HAVE_MPI
#include <mpi.h>
#endif

#include <cstdlib>

#include "apps/commands.h"
#include "sim/core/atomic_file.h"
#include "sim/core/input_file.h"
#include "sim/core/error.h"
#include "sim/planning/report.h"
#include "sim/planning/sweep.h"
#include "sim/planning/sweep_merge.h"

namespace kvsim::app {

int cmd_sweep(const SweepArgs& args, std::ostream& out, std::ostream& err) {
  int64_t shard = 0, shards = 1;
  if (!args.shard.empty()) {
    const std::string_view text = args.shard;
    const size_t slash = text.find('/');
    const auto whole = [](std::string_view part, int64_t& v) {
      const auto [ptr, ec] = std::from_chars(part.data(), part.data() + part.size(), v);
      return !part.empty() && ec == std::errc() && ptr == part.data() + part.size();
    };
    if (slash == std::string_view::npos || !whole(text.substr(0, slash), shard) ||
        !whole(text.substr(slash + 1), shards) || shards < 1 || shard < 0 || shard >= shards) {
      throw Error(Place{"--shard"}, fmt::format("expected I/N with 0 <= I < N, found '{}'", excerpt(args.shard)));
    }
  }
  const sim::SweepGrid grid = sim::load_sweep(args.grid);
  if (!args.merge.empty()) {
    if (!args.shard.empty() || args.resume) {
      throw Error(Place{"--merge"}, "merges finished shards: leave --shard and --resume out");
    }
    sim::MergeOptions m;
    m.dirs = args.merge;
    m.out_dir = args.out_dir.empty() ? "kvsim-out/sweep" : args.out_dir;
    m.force = args.force;
    const int64_t points = sim::merge_sweep(grid, m);
    out << fmt::format("sweep {}: merged {} points from {} folders into {}/results.jsonl\n", args.grid, points,
                       m.dirs.size(), m.out_dir);
    return 0;
  }
  // Under mpirun every rank runs every size-th point into its own file; rank 0 gathers them into results.jsonl.
  int rank = 0, ranks = 1;
#ifdef KVSIM_HAVE_MPI
  const bool under_mpirun = std::getenv("OMPI_COMM_WORLD_SIZE") || std::getenv("PMI_SIZE");
  if (under_mpirun) {
    MPI_Init(nullptr, nullptr);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &ranks);
  }
  struct Finalize {
    bool on;
    ~Finalize() {
      if (on) MPI_Finalize();
    }
  } finalize{under_mpirun};
#endif
  if (ranks > 1 && !args.shard.empty()) {
    throw Error(Place{"--shard"}, "under mpirun the ranks are the shards: leave --shard out");
  }
  sim::SweepOptions o;
  o.out_dir = args.out_dir.empty() ? "kvsim-out/sweep" : args.out_dir;
  o.jobs = args.jobs;
  o.shard = ranks > 1 ? rank : shard;
  o.shards = ranks > 1 ? ranks : shards;
  o.resume = args.resume;
  o.force = args.force;
  std::vector<std::string> parts;
  if (ranks > 1) {
    for (int r = 0; r < ranks; ++r) parts.push_back(fmt::format("results.rank-{}.jsonl", r));
    o.results_file = parts[static_cast<size_t>(rank)];
    o.also_done = {"results.jsonl"};
  }
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
  if (rank != 0) o.progress = nullptr;  // one progress line, rank 0's share
  sim::SweepResult r;
#ifdef KVSIM_HAVE_MPI
  if (ranks > 1) {
    try {
      r = sim::run_sweep(grid, o);
    } catch (const Error& e) {
      err << e.what() << "\n";
      MPI_Abort(MPI_COMM_WORLD, 2);
    }
    MPI_Barrier(MPI_COMM_WORLD);
    int64_t mine[3] = {r.run, r.skipped, r.failed}, all[3] = {0, 0, 0};
    MPI_Reduce(mine, all, 3, MPI_INT64_T, MPI_SUM, 0, MPI_COMM_WORLD);
    if (rank != 0) return 0;
    const int64_t held = sim::gather_results(o.out_dir, parts);
    out << fmt::format(
        "sweep {}: {} points over {} MPI ranks, {} run, {} skipped (already done), {} could not run; "
        "{} points in {}/results.jsonl\n",
        args.grid, grid.points.size(), ranks, all[0], all[1], all[2], held, o.out_dir);
    return 0;
  }
#endif
  r = sim::run_sweep(grid, o);
  out << fmt::format(
      "sweep {}: {} points{}, {} run, {} skipped (already done), {} could not run; results in {}/results.jsonl\n",
      args.grid, r.total, shards > 1 ? fmt::format(" (shard {}/{} of {})", shard, shards, grid.points.size()) : "",
      r.run, r.skipped, r.failed, o.out_dir);
  return 0;
}

int cmd_report(const std::string& dir, const std::string& out_path, bool force, std::ostream& out) {
  const std::string html = sim::render_report(dir);
  const std::string path = out_path.empty() ? dir + "/report.html" : out_path;
  check_may_write(path, force);
  write_file_atomic(path, html);
  out << fmt::format("wrote {}\n", path);
  return 0;
}

}  // namespace kvsim::app
