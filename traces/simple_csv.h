// Writing kvsim's own trace format (`simple`, read by traces/csv_trace_source.h): a CSV with header
// `arrival_s,prompt_tokens,output_tokens`, arrival in seconds from the start of the workload with 9 decimals, so
// write -> read gives back the same requests to the nanosecond; with `sessions`, also session_id, prefix_id and
// prefix_tokens (multi-turn sessions and shared prefixes replay their prefix identity).
#pragma once

#include <ostream>

#include "traces/request.h"

namespace kvsim::traces {

// Writes every request of `source` (pulling it to the end); returns how many.
int64_t write_simple_csv(RequestSource& source, std::ostream& out, bool sessions = false);
// The same in the `jsonl` form: one {"arrival_s", "prompt_tokens", "output_tokens"[, "session_id", "prefix_id",
// "prefix_tokens"]} object per line (the optional keys only where they are not 0).
int64_t write_simple_jsonl(RequestSource& source, std::ostream& out);

}  // namespace kvsim::traces
