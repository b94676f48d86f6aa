// The one error type of kvsim: a place (file:line:col, or a name such as "--set") and a message.
// Libraries throw it; only apps/kvsim catches it, prints one line and exits 2.
#pragma once

#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace kvsim {

// Where an input problem is. line and col are 1-based; 0 means unknown.
struct Place {
  std::string file;
  int line = 0;
  int col = 0;

  std::string str() const;  // "file:line:col", "file:line", "file" or ""
};

class Error : public std::runtime_error {
 public:
  explicit Error(std::string message);
  Error(Place place, std::string message);

  const Place& place() const { return place_; }
  const std::string& message() const { return message_; }

 private:
  Place place_;
  std::string message_;
};

// The candidate closest to `key` by edit distance when it is close enough to be a likely typo, else "".
std::string nearest_name(std::string_view key, const std::vector<std::string>& candidates);

// " (did you mean 'x'?)" or "".
std::string did_you_mean(std::string_view key, const std::vector<std::string>& candidates);

// "a, b, c"
std::string join(const std::vector<std::string>& items, std::string_view sep = ", ");

}  // namespace kvsim
