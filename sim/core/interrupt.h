// Stopping kvsim (SIGINT, SIGTERM, SIGHUP). The handler only sets a flag; long loops (the event loop, sweeps, trace
// writers, file readers) poll it and throw Interrupted, so every writer unwinds and removes its unfinished files and
// a sweep keeps the points it finished. Where no loop polls, a watchdog guarantees the stop: once a stop was asked
// for and the process has not ended within kStopGraceMs, or at a second signal (not the copy `timeout` sends to its
// process group at once: one within kRepeatWindowMs is the same request), it removes every registered
// temporary file and exits with 128 + the signal. A crash (SIGSEGV, SIGFPE, SIGBUS, SIGILL, SIGABRT) removes them
// too before the default action runs. So `timeout` always stops kvsim, and never leaves a temporary file behind.
#pragma once

#include <stdexcept>
#include <string>

namespace kvsim {

// Not a kvsim::Error: code that adds context to an input error (catch Error, rethrow with a place) must not turn
// a stop into one.
class Interrupted : public std::runtime_error {
 public:
  Interrupted() : std::runtime_error("interrupted") {}
};

// How long a stop may take to unwind before the watchdog ends the process.
inline constexpr int kStopGraceMs = 2000;
inline constexpr int kRepeatWindowMs = 500;

// Installs the handlers and starts the watchdog (once per process; the CLI does it).
void install_interrupt_handler();
bool interrupted();
// The signal that asked for the stop (0 when none, or when set by set_interrupted).
int interrupt_signal();
inline void throw_if_interrupted() {
  if (interrupted()) throw Interrupted();
}
// Tests: raise or clear the flag as the handler would (the watchdog ignores a flag raised this way).
void set_interrupted(bool value);

// Temporary files the watchdog and the crash handler remove: AtomicFile registers each one it opens. Registration
// is lock-free and async-signal-safe to read; at most kMaxTempFiles at once (more is an internal error).
inline constexpr int kMaxTempFiles = 256;
int register_temp_file(const std::string& path);  // a slot to release
// A folder a command created for its outputs: removed at a hard stop when it is empty (after the files).
int register_temp_dir(const std::string& path);
void release_temp_file(int slot);
// Removes every registered file, then every registered empty folder (async-signal-safe); what the watchdog and the
// crash handler call.
void remove_temp_files() noexcept;

}  // namespace kvsim
