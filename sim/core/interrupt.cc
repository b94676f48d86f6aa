#include "sim/core/interrupt.h"

#include <csignal>

namespace kvsim {

namespace {
volatile std::sig_atomic_t g_interrupted = 0;
extern "C" void on_signal(int) { g_interrupted = 1; }
}  // namespace

void install_interrupt_handler() {
  std::signal(SIGINT, on_signal);
  std::signal(SIGTERM, on_signal);
}

bool interrupted() { return g_interrupted != 0; }

void set_interrupted(bool value) { g_interrupted = value ? 1 : 0; }

}  // namespace kvsim
