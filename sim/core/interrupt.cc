#include "sim/core/interrupt.h"

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <ctime>
#include <cstring>
#include <mutex>
#include <stdexcept>
#include <thread>

namespace kvsim {

namespace {

constexpr size_t kPathMax = 4096;

struct TempSlot {
  std::atomic<int> state{0};  // 0 free, 1 being written, 2 holds a path
  bool dir = false;
  char path[kPathMax];
};
TempSlot g_slots[kMaxTempFiles];

volatile std::sig_atomic_t g_interrupted = 0;
std::atomic<int> g_signal{0};  // the stopping signal; 0 when set by a test
std::atomic<int64_t> g_first_signal_ns{0};

int64_t monotonic_ns() noexcept {
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC, &ts);  // async-signal-safe
  return static_cast<int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

#if defined(__SANITIZE_ADDRESS__)
constexpr bool kSanitized = true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
constexpr bool kSanitized = true;
#else
constexpr bool kSanitized = false;
#endif
#else
constexpr bool kSanitized = false;
#endif

[[noreturn]] void hard_stop(int sig) noexcept {
  remove_temp_files();
  static const char msg[] = "kvsim: stopped; unfinished output files were removed\n";
  [[maybe_unused]] const ssize_t n = ::write(STDERR_FILENO, msg, sizeof msg - 1);
  ::_exit(128 + sig);
}

extern "C" void on_stop_signal(int sig) {
  int expected = 0;
  if (g_signal.compare_exchange_strong(expected, sig)) {
    g_first_signal_ns.store(monotonic_ns());
  } else if (monotonic_ns() - g_first_signal_ns.load() > int64_t{kRepeatWindowMs} * 1'000'000) {
    hard_stop(sig);  // asked again: stop now
  }
  g_interrupted = 1;
}

extern "C" void on_crash_signal(int sig) {
  remove_temp_files();
  std::signal(sig, SIG_DFL);
  std::raise(sig);
}

void watchdog() {
  using namespace std::chrono;
  while (g_signal.load() == 0) std::this_thread::sleep_for(milliseconds(20));
  std::this_thread::sleep_for(milliseconds(kStopGraceMs));
  hard_stop(g_signal.load());
}

}  // namespace

void install_interrupt_handler() {
  static std::once_flag once;
  std::call_once(once, [] {
    struct sigaction sa {};
    sa.sa_handler = on_stop_signal;
    sigemptyset(&sa.sa_mask);
    for (int sig : {SIGINT, SIGTERM, SIGHUP}) sigaction(sig, &sa, nullptr);
    if (!kSanitized) {  // the sanitizers report crashes themselves
      struct sigaction crash {};
      crash.sa_handler = on_crash_signal;
      sigemptyset(&crash.sa_mask);
      for (int sig : {SIGSEGV, SIGFPE, SIGBUS, SIGILL, SIGABRT}) sigaction(sig, &crash, nullptr);
    }
    std::thread(watchdog).detach();
  });
}

bool interrupted() { return g_interrupted != 0; }

int interrupt_signal() { return g_signal.load(); }

void set_interrupted(bool value) { g_interrupted = value ? 1 : 0; }

namespace {
int register_slot(const std::string& path, bool dir) {
  if (path.size() >= kPathMax) throw std::length_error("temporary file path too long");
  for (int i = 0; i < kMaxTempFiles; ++i) {
    int expected = 0;
    if (g_slots[i].state.compare_exchange_strong(expected, 1)) {
      std::memcpy(g_slots[i].path, path.c_str(), path.size() + 1);
      g_slots[i].dir = dir;
      g_slots[i].state.store(2);
      return i;
    }
  }
  throw std::length_error("more than kMaxTempFiles temporary files open at once");
}
}  // namespace

int register_temp_file(const std::string& path) { return register_slot(path, false); }

int register_temp_dir(const std::string& path) { return register_slot(path, true); }

void release_temp_file(int slot) {
  if (slot >= 0 && slot < kMaxTempFiles) g_slots[slot].state.store(0);
}

void remove_temp_files() noexcept {
  for (TempSlot& s : g_slots) {
    if (s.state.load() == 2 && !s.dir) ::unlink(s.path);
  }
  for (TempSlot& s : g_slots) {
    if (s.state.load() == 2 && s.dir) ::rmdir(s.path);  // only when empty
  }
}

}  // namespace kvsim
