// The subcommands behind the CLI; each writes its report to `out` and returns the exit code. Library errors
// (kvsim::Error) propagate to run_cli.
#pragma once

#include <cstdint>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

namespace kvsim::app {

struct RunArgs {
  std::string scenario;
  std::string out_dir;
  std::optional<uint64_t> seed;
  std::vector<std::string> overrides;
  std::string format = "table";
  bool check_invariants = false;
};

struct CompareArgs {
  RunArgs run;
  std::vector<std::string> policies;
  std::vector<double> rates;
};

struct CostArgs {
  std::string model, hardware, phase = "prefill", format = "table", dtype;
  int64_t tokens = 0, batch = 1, context = 0, tp = 1;
  bool eager = false;
};

struct ListArgs {
  std::string format = "table";
};

int cmd_run(const RunArgs& args, std::ostream& out, std::ostream& err);
int cmd_compare(const CompareArgs& args, std::ostream& out, std::ostream& err);
int cmd_cost(const CostArgs& args, std::ostream& out);
int cmd_models(const ListArgs& args, std::ostream& out);
int cmd_hardware(const ListArgs& args, std::ostream& out);

}  // namespace kvsim::app
