// A hardware profile YAML (datasheet or measured).
#include <memory>

#include "hw/hardware_loader.h"
#include "sim/core/error.h"
#include "sim/core/yaml.h"
#include "tests/fuzz/fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    auto source = std::make_shared<kvsim::yaml::Source>();
    source->file = "fuzz.yaml";
    kvsim::hw::parse_hardware_yaml(kvsim::yaml::load_string(kvsim::fuzz::text(data, size), "fuzz.yaml"), source);
  } catch (const kvsim::Error&) {
  }
  return 0;
}
