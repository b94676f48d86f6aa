// A progress line for long commands on stderr: a bar with the ETA, redrawn in place on a terminal; nothing when
// stderr is a pipe or a file, unless forced (--progress), and then one line per whole percent, so a log stays short.
#pragma once

#include <chrono>
#include <cstdint>
#include <ostream>
#include <string>

namespace kvsim::app {

class ProgressLine {
 public:
  // `mode`: "auto" (a terminal only), "on" (always), "off".
  ProgressLine(std::ostream& err, const std::string& what, const std::string& mode, bool err_is_tty);
  // `done` of `total` steps; `detail` names the step in progress.
  void update(int64_t done, int64_t total, const std::string& detail);
  bool enabled() const { return enabled_; }

 private:
  std::ostream& err_;
  std::string what_;
  bool enabled_, tty_;
  int64_t last_percent_ = -1;
  std::chrono::steady_clock::time_point start_ = std::chrono::steady_clock::now();
};

// "1:05" for 65 seconds, "1:02:05" past an hour.
std::string clock_text(double seconds);

}  // namespace kvsim::app
