#include "sim/core/error.h"

#include <algorithm>
#include <cctype>
#include <string>
#include <vector>

#include <fmt/format.h>

namespace kvsim {

std::string Place::str() const {
  if (file.empty()) return "";
  if (line <= 0) return file;
  if (col <= 0) return fmt::format("{}:{}", file, line);
  return fmt::format("{}:{}:{}", file, line, col);
}

namespace {
std::string compose(const Place& place, const std::string& message) {
  const std::string where = place.str();
  return where.empty() ? message : where + ": " + message;
}

size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<size_t> prev(b.size() + 1), cur(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) prev[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      const size_t subst = prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1);
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, subst});
    }
    std::swap(prev, cur);
  }
  return prev[b.size()];
}
}  // namespace

Error::Error(std::string message) : std::runtime_error(message), message_(std::move(message)) {}

Error::Error(Place place, std::string message)
    : std::runtime_error(compose(place, message)), place_(std::move(place)), message_(std::move(message)) {}

static size_t shared_prefix(std::string_view a, std::string_view b) {
  size_t i = 0;
  while (i < a.size() && i < b.size() && a[i] == b[i]) ++i;
  return i;
}

namespace {

// Lower case, letters and digits only: "H100-SXM" and "h100_sxm" read alike.
std::string folded(std::string_view s) {
  std::string out;
  for (const char c : s) {
    if (std::isalnum(static_cast<unsigned char>(c)))
      out += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  return out;
}

// The words of a name, folded: "a100-sxm4-80gb" -> a100, sxm4, 80gb.
std::vector<std::string> words(std::string_view s) {
  std::vector<std::string> out(1);
  for (const char c : s) {
    if (std::isalnum(static_cast<unsigned char>(c))) {
      out.back() += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    } else if (!out.back().empty()) {
      out.emplace_back();
    }
  }
  if (out.back().empty()) out.pop_back();
  return out;
}

// Every word of `key` begins a different word of `name`, in order ("a100-80gb" in "a100-sxm4-80gb", "sxm" in "sxm5").
bool has_every_word(const std::vector<std::string>& key, const std::vector<std::string>& name) {
  size_t at = 0;
  for (const auto& w : key) {
    if (w.size() < 2) return false;  // one letter is no word to go on
    while (at < name.size() && !name[at].starts_with(w)) ++at;
    if (at == name.size()) return false;
    ++at;
  }
  return !key.empty();
}

}  // namespace

std::string nearest_name(std::string_view key, const std::vector<std::string>& candidates) {
  // The same name in another case or with other separators ("vLLM", "H100_SXM5_80GB").
  const std::string fkey = folded(key);
  for (const auto& c : candidates) {
    if (!fkey.empty() && folded(c) == fkey) return c;
  }
  // A name holding every word typed, fewest other words first ("a100-80gb" -> "a100-sxm4-80gb", not "a10g-24gb",
  // which is fewer edits away).
  const std::vector<std::string> kwords = words(key);
  std::string by_words;
  size_t fewest = SIZE_MAX;
  for (const auto& c : candidates) {
    const auto cwords = words(c);
    if (cwords.size() < fewest && has_every_word(kwords, cwords)) {
      fewest = cwords.size();
      by_words = c;
    }
  }
  if (!by_words.empty() && kwords.size() >= 2) return by_words;
  // Closest by edit distance; among equally close names the one sharing the longest prefix ("llama-3-8b" is two
  // edits from both "llama-2-7b" and "llama-3.1-8b", and means the latter).
  std::string best;
  size_t best_distance = SIZE_MAX, best_prefix = 0;
  for (const auto& c : candidates) {
    const size_t d = edit_distance(key, c), p = shared_prefix(key, c);
    if (d < best_distance || (d == best_distance && p > best_prefix)) {
      best_distance = d;
      best_prefix = p;
      best = c;
    }
  }
  // A typo is at most a third of the longer word away (at least 2 edits allowed for short words).
  const size_t limit = std::max<size_t>(2, std::max(key.size(), best.size()) / 3);
  if (best_distance <= limit) return best;
  // Else a name holding the one word typed, or starting with what was typed ("h100" -> "h100-pcie-80gb").
  if (!by_words.empty()) return by_words;
  if (key.size() >= 2) {
    for (const auto& c : candidates) {
      if (c.starts_with(key)) return c;
    }
  }
  return "";
}

std::string did_you_mean(std::string_view key, const std::vector<std::string>& candidates) {
  const std::string n = nearest_name(key, candidates);
  return n.empty() ? "" : fmt::format(" (did you mean '{}'?)", n);
}

std::string join(const std::vector<std::string>& items, std::string_view sep) {
  std::string out;
  for (size_t i = 0; i < items.size(); ++i) {
    if (i) out += sep;
    out += items[i];
  }
  return out;
}

}  // namespace kvsim
