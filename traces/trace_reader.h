// Opening a trace file by format name: `simple` (kvsim's CSV), `azure` (Azure LLM inference 2023) or `auto`, which
// picks the format whose header the file's first line is.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "traces/csv_trace_source.h"

namespace kvsim::traces {

const std::vector<std::string>& trace_formats();  // {"auto", "simple", "azure"}

// Throws kvsim::Error naming the file when it cannot be opened, is empty, or its header fits no (or not the named)
// format. An unknown `format` throws listing the valid ones.
std::unique_ptr<CsvTraceSource> open_trace(const std::string& path, const std::string& format = "auto");

// The same, reading from a stream; `name` is the file name used in messages.
std::unique_ptr<CsvTraceSource> open_trace(std::unique_ptr<std::istream> in, const std::string& name,
                                           const std::string& format = "auto");

}  // namespace kvsim::traces
