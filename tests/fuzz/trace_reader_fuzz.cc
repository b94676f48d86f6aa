// Every trace format, detected from the input, read to the end (and again skipping bad lines).
#include <sstream>

#include "sim/core/error.h"
#include "tests/fuzz/fuzz_util.h"
#include "traces/trace_reader.h"
#include "traces/trace_stats.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  for (const bool skip : {false, true}) {
    try {
      auto source = kvsim::traces::open_trace(std::make_unique<std::istringstream>(kvsim::fuzz::text(data, size)),
                                              "fuzz.txt", kvsim::traces::TraceOptions{"auto", skip});
      kvsim::traces::compute_trace_stats(*source);
    } catch (const kvsim::Error&) {
    }
  }
  return 0;
}
