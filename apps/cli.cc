#include "apps/cli.h"

#include <iostream>

namespace kvsim::app {

int run_cli(int argc, char** argv) { return run_cli(argc, argv, std::cout, std::cerr); }

int run_cli(int, char**, std::ostream&, std::ostream& err) {
  err << "kvsim: not yet wired\n";
  return 2;
}

}  // namespace kvsim::app
