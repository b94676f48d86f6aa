// kvsim validate: run the validation cases and report predicted vs reference (validation/).
#include <fnmatch.h>

#include <filesystem>
#include <sstream>

#include <fmt/format.h>

#include "apps/commands.h"
#include "sim/core/atomic_file.h"
#include "sim/core/input_file.h"
#include "validation/case.h"
#include "validation/engine_bench.h"
#include "validation/report.h"
#include "validation/runner.h"

namespace kvsim::app {

std::string default_cases_dir() {
  if (std::filesystem::is_directory("validation/cases")) return "validation/cases";
  return std::string(KVSIM_SOURCE_DIR) + "/validation/cases";
}

int cmd_validate(const ValidateArgs& args, std::ostream& out, std::ostream& err) {
  const std::vector<std::string> dirs = args.cases.empty() ? std::vector<std::string>{default_cases_dir()} : args.cases;
  std::vector<validation::Case> cases;
  for (validation::Case& c : validation::load_cases(dirs)) {
    if (!args.filter.empty() && fnmatch(args.filter.c_str(), c.name.c_str(), 0) != 0) continue;
    if (args.quick && !c.fast) continue;
    cases.push_back(std::move(c));
  }
  if (cases.empty()) {
    err << fmt::format("kvsim validate: no case in {}{}{}\n", join(dirs, ", "),
                       args.filter.empty() ? "" : " matches --filter " + args.filter, args.quick ? " is fast" : "");
    return 2;
  }
  std::vector<validation::Outcome> outcomes;
  for (const validation::Case& c : cases) {
    for (validation::Outcome& o : validation::run_case(c)) outcomes.push_back(std::move(o));
  }
  std::ostringstream report;
  if (args.format == "json") {
    validation::write_json(outcomes, report);
  } else if (args.format == "md") {
    validation::write_markdown(outcomes, cases, report);
  } else {
    validation::write_table(outcomes, report);
  }
  if (args.out.empty()) {
    out << report.str();
  } else {
    check_may_write(args.out, args.force);
    write_file_atomic(args.out, report.str());
    out << fmt::format("wrote {}\n", args.out);
  }
  const validation::Tally t = validation::tally(outcomes);
  if (!args.out.empty() || args.format != "table") out << validation::summary_line(t) << "\n";
  return t.ok() ? 0 : 1;
}

int cmd_engine_bench(const validation::EngineBenchArgs& args, const std::string& out_path, bool force,
                     std::ostream& out) {
  if (!out_path.empty()) check_may_write(out_path, force);
  const std::vector<validation::EngineBenchRow> rows = validation::run_engine_bench(args);
  std::ostringstream csv;
  validation::write_engine_bench_csv(rows, args, csv);
  if (out_path.empty()) {
    out << csv.str();
  } else {
    write_file_atomic(out_path, csv.str());
    out << fmt::format("wrote {} iterations to {}{}\n", rows.size(), out_path,
                       args.dry_run ? " (dry run: predicted only)" : "");
  }
  return 0;
}

}  // namespace kvsim::app
