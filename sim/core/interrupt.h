// Ctrl-C (SIGINT, SIGTERM): the handler only sets a flag; long loops (the event loop, sweeps) poll it and throw
// Interrupted, so every writer unwinds and removes its unfinished files, and a sweep keeps the points it finished.
#pragma once

#include "sim/core/error.h"

namespace kvsim {

class Interrupted : public Error {
 public:
  Interrupted() : Error("interrupted") {}
};

// Installs the handler (once per process; the CLI does it).
void install_interrupt_handler();
bool interrupted();
inline void throw_if_interrupted() {
  if (interrupted()) throw Interrupted();
}
// Tests: raise or clear the flag as the handler would.
void set_interrupted(bool value);

}  // namespace kvsim
