#include "apps/progress.h"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>

namespace kvsim::app {

std::string clock_text(double seconds) {
  const auto s = static_cast<int64_t>(std::llround(std::max(0.0, seconds)));
  if (s >= 3600) return fmt::format("{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60);
  return fmt::format("{}:{:02}", s / 60, s % 60);
}

ProgressLine::ProgressLine(std::ostream& err, const std::string& what, const std::string& mode, bool err_is_tty)
    : err_(err), what_(what), enabled_(mode == "on" || (mode == "auto" && err_is_tty)), tty_(err_is_tty) {}

void ProgressLine::update(int64_t done, int64_t total, const std::string& detail) {
  if (!enabled_ || total <= 0) return;
  done = std::clamp<int64_t>(done, 0, total);
  const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  const double fraction = static_cast<double>(done) / static_cast<double>(total);
  const std::string eta = done > 0 ? clock_text(elapsed / fraction * (1 - fraction)) : "?";
  const int64_t percent = done * 100 / total;
  if (tty_) {
    constexpr int kWidth = 30;
    const auto filled = static_cast<size_t>(kWidth * done / total);
    err_ << fmt::format("\r{} [{}{}] {:3}% ETA {} {:<40.40}", what_, std::string(filled, '#'),
                        std::string(kWidth - filled, '.'), percent, eta, detail)
         << std::flush;
    if (done == total) err_ << "\n";
  } else if (percent != last_percent_) {
    err_ << fmt::format("{}: {}% ({}/{}), ETA {}, {}\n", what_, percent, done, total, eta, detail) << std::flush;
  }
  last_percent_ = percent;
}

}  // namespace kvsim::app
