// A validation case file (loaded, not run).
#include "sim/core/error.h"
#include "tests/fuzz/fuzz_util.h"
#include "validation/case.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = kvsim::fuzz::temp_file(kvsim::fuzz::text(data, size), ".yaml");
  try {
    kvsim::validation::load_case(path);
  } catch (const kvsim::Error&) {
  }
  return 0;
}
