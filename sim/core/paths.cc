#include "sim/core/paths.h"

#include <cstdlib>
#include <filesystem>

namespace kvsim {

std::string data_root() {
  namespace fs = std::filesystem;
  if (const char* env = std::getenv("KVSIM_DATA_DIR"); env && *env) return env;
  if (fs::exists(fs::path(KVSIM_SOURCE_DIR) / "models" / "catalog")) return KVSIM_SOURCE_DIR;
  return KVSIM_INSTALL_DATA_DIR;
}

}  // namespace kvsim
