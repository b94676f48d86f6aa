// A Hugging Face config.json.
#include "models/model_loader.h"
#include "sim/core/error.h"
#include "tests/fuzz/fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = kvsim::fuzz::temp_file(kvsim::fuzz::text(data, size), ".json");
  try {
    kvsim::models::parse_hf_config(path);
  } catch (const kvsim::Error&) {
  }
  return 0;
}
