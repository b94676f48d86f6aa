// Opening a trace file by format name, or by `auto`, which reads the first line: a JSON object is a JSON-lines
// format (mooncake or jsonl, by its keys), anything else a CSV header (simple, azure, burstgpt or lengths, the first
// whose columns it fits). Every reader streams in constant memory.
#pragma once

#include <istream>
#include <memory>
#include <string>
#include <vector>

#include "traces/trace_source.h"

namespace kvsim::traces {

// {"auto", "simple", "jsonl", "azure", "burstgpt", "mooncake", "lengths"}
const std::vector<std::string>& trace_formats();

// Throws kvsim::Error naming the file when it cannot be opened, is empty, or its first line fits no (or not the
// named) format. An unknown format throws listing the valid ones.
std::unique_ptr<TraceSource> open_trace(const std::string& path, const TraceOptions& options);
std::unique_ptr<TraceSource> open_trace(const std::string& path, const std::string& format = "auto");

// A file a workload names (trace, merge_with, empirical lengths): a relative path is taken from `base_dir` when that
// is not empty.
std::string resolve_workload_file(const std::string& file, const std::string& base_dir);

// The same, reading from a stream; `name` is the file name used in messages.
std::unique_ptr<TraceSource> open_trace(std::unique_ptr<std::istream> in, const std::string& name,
                                        const TraceOptions& options);
std::unique_ptr<TraceSource> open_trace(std::unique_ptr<std::istream> in, const std::string& name,
                                        const std::string& format = "auto");

}  // namespace kvsim::traces
