#include "sim/core/paths.h"

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

std::string resolve_catalog_entry(const std::string& name_or_path, const std::string& dir, std::string_view what,
                                  std::string_view path_hint) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (name_or_path.ends_with(".yaml") || name_or_path.ends_with(".yml") ||
      name_or_path.find('/') != std::string::npos || fs::is_regular_file(name_or_path, ec)) {
    return name_or_path;
  }
  const std::vector<std::string> names = catalog_names(dir);
  if (std::find(names.begin(), names.end(), name_or_path) == names.end()) {
    throw Error(fmt::format("unknown {} '{}'{}; valid: {} (or {})", what, name_or_path,
                            did_you_mean(name_or_path, names), join(names), path_hint));
  }
  return (fs::path(dir) / (name_or_path + ".yaml")).string();
}

}  // namespace kvsim
