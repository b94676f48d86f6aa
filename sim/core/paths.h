// Where kvsim finds its shipped data (model and hardware catalogs): $KVSIM_DATA_DIR, else the source tree the binary
// was built from, else the install prefix.
#pragma once

#include <string>

namespace kvsim {

// Directory holding `models/catalog` and `hw/catalog`.
std::string data_root();

}  // namespace kvsim
