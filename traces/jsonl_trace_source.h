// JSON-lines trace formats, one object per line, streamed:
//  mooncake  Mooncake FAST'25 traces (kvcache-ai/Mooncake, FAST25-release/traces; Qin et al., FAST 2025):
//            {"timestamp": ms, "input_length": n, "output_length": n, "hash_ids": [...]}, one hash per 512-token
//            prompt block, chained (equal ids mean a reusable prefix), so prefix caching can reuse them
//  jsonl     kvsim's simple format as JSON: {"arrival_s", "prompt_tokens", "output_tokens"} and optionally
//            "session_id", "prefix_id", "prefix_tokens"
// Keys a format does not know are errors naming the line.
#pragma once

#include <istream>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "traces/trace_source.h"

namespace kvsim::traces {

// Mooncake's prefix-block size (its README: one hash id per 512-token block).
inline constexpr int64_t kMooncakeBlockTokens = 512;

class JsonlTraceSource final : public TraceSource {
 public:
  // `first_line`: the input's first line when the caller already read it to detect the format (line 1).
  JsonlTraceSource(std::unique_ptr<std::istream> in, std::string name, std::string format, bool skip_bad_lines,
                   std::optional<std::string> first_line = std::nullopt, int64_t first_line_number = 1);

  // The format a first line belongs to ("mooncake" or "jsonl"), or "" when it is neither.
  static std::string detect(const std::string& first_line);

 protected:
  bool read_row(Request& r) override;
  Place row_place() const override { return Place{name(), static_cast<int>(line_), 0}; }
  int64_t row_line() const override { return line_; }
  std::string arrival_column() const override { return format() == "mooncake" ? "timestamp" : "arrival_s"; }
  std::string arrival_text() const override { return arrival_.dump(); }

 private:
  bool next_line();
  [[noreturn]] void fail(const std::string& key, const std::string& message) const;

  std::unique_ptr<std::istream> in_;
  std::optional<std::string> pending_;
  std::string buffer_;
  int64_t line_ = 0;
  nlohmann::json arrival_;  // the row's arrival value, printed only when a message needs it
};

}  // namespace kvsim::traces
