#include "sim/core/paths.h"

#include <cctype>

#include <algorithm>
#include <cstdlib>
#include <filesystem>

#include <fmt/format.h>

#include "sim/core/error.h"

namespace kvsim {

std::string data_root() {
  namespace fs = std::filesystem;
  if (const char* env = std::getenv("KVSIM_DATA_DIR"); env && *env) return env;
  if (fs::exists(fs::path(KVSIM_SOURCE_DIR) / "models" / "catalog")) return KVSIM_SOURCE_DIR;
  return KVSIM_INSTALL_DATA_DIR;
}

std::vector<std::string> catalog_names(const std::string& dir) {
  namespace fs = std::filesystem;
  std::vector<std::string> names;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    if (entry.is_regular_file() && entry.path().extension() == ".yaml") names.push_back(entry.path().stem().string());
  }
  std::sort(names.begin(), names.end());
  return names;
}

namespace {

std::string letters_and_digits(std::string_view s) {
  std::string out;
  for (const char c : s) {
    if (std::isalnum(static_cast<unsigned char>(c)))
      out += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  return out;
}

}  // namespace

std::string resolve_catalog_entry(const std::string& name_or_path, const std::string& dir, std::string_view what,
                                  std::string_view path_hint,
                                  const std::vector<std::pair<std::string, std::string>>& aliases) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (name_or_path.ends_with(".yaml") || name_or_path.ends_with(".yml") ||
      name_or_path.find('/') != std::string::npos || fs::is_regular_file(name_or_path, ec)) {
    return name_or_path;
  }
  const std::vector<std::string> names = catalog_names(dir);
  if (std::find(names.begin(), names.end(), name_or_path) == names.end()) {
    std::string suggestion = did_you_mean(name_or_path, names);
    for (const auto& [alias, entry] : aliases) {
      if (letters_and_digits(alias) == letters_and_digits(name_or_path)) {
        suggestion = fmt::format(" (did you mean '{}'?)", entry);
      }
    }
    throw Error(
        fmt::format("unknown {} '{}'{}; valid: {} (or {})", what, name_or_path, suggestion, join(names), path_hint));
  }
  return (fs::path(dir) / (name_or_path + ".yaml")).string();
}

}  // namespace kvsim
