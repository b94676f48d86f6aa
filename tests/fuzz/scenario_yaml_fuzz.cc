// Scenario YAML: parse (and plan memory for) any document.
#include "sim/core/error.h"
#include "sim/core/yaml.h"
#include "sim/scenario.h"
#include "sim/serving/memory_plan.h"
#include "tests/fuzz/fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    const kvsim::sim::Scenario s = kvsim::sim::parse_scenario(
        kvsim::yaml::load_string(kvsim::fuzz::text(data, size), "fuzz.yaml"), "fuzz.yaml", {});
    kvsim::sim::plan_memory(s);
  } catch (const kvsim::Error&) {
  }
  return 0;
}
