// Where kvsim finds its shipped data (model and hardware catalogs): $KVSIM_DATA_DIR, else the source tree the binary
// was built from, else the install prefix.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace kvsim {

// Directory holding `models/catalog` and `hw/catalog`.
std::string data_root();

// Sorted names of the catalog entries in `dir` (the stems of its *.yaml files).
std::vector<std::string> catalog_names(const std::string& dir);

// The file for `name_or_path`: itself when it looks like a path (has a '/', ends in .yaml/.yml or names an existing
// file), else `dir`/NAME.yaml for a catalog name. An unknown name throws kvsim::Error:
// "unknown WHAT 'x' (did you mean 'y'?); valid: a, b (or PATH_HINT)". `aliases` maps names people use to the entry
// they usually mean ("h100" -> "h100-sxm5-80gb"); an alias (in any case, with any separators) is suggested, never
// taken: the entry must be named.
std::string resolve_catalog_entry(const std::string& name_or_path, const std::string& dir, std::string_view what,
                                  std::string_view path_hint,
                                  const std::vector<std::pair<std::string, std::string>>& aliases = {});

}  // namespace kvsim
