// The kvsim command line: parses argv with CLI11, dispatches to a subcommand, and is the only place that catches
// kvsim::Error (one line on stderr, exit code 2).
#pragma once

#include <iosfwd>

namespace kvsim::app {

int run_cli(int argc, char** argv);
int run_cli(int argc, char** argv, std::ostream& out, std::ostream& err);

}  // namespace kvsim::app
