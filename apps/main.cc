#include "apps/cli.h"

int main(int argc, char** argv) { return kvsim::app::run_cli(argc, argv); }
