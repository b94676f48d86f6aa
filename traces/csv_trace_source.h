// The common part of the CSV trace readers: three columns (arrival, prompt tokens, output tokens), a header that must
// match exactly, arrivals that must not go backwards, and token counts of 0 clamped to 1 (a request has at least one
// prompt token and produces at least one output token) and counted. Streams in constant memory.
#pragma once

#include <array>
#include <memory>
#include <string>
#include <vector>

#include "traces/csv_lines.h"
#include "traces/request.h"

namespace kvsim::traces {

class CsvTraceSource : public RequestSource {
 public:
  // `columns`: the exact header, e.g. {"arrival_s", "prompt_tokens", "output_tokens"}; `format`: its name in messages.
  CsvTraceSource(std::unique_ptr<CsvLines> lines, std::array<std::string, 3> columns, std::string format);

  std::optional<Request> next() override;
  std::string describe() const override;

  // Rows so far whose prompt or output count was 0 and was read as 1.
  int64_t clamped_prompt_rows() const { return clamped_prompt_rows_; }
  int64_t clamped_output_rows() const { return clamped_output_rows_; }
  const std::string& name() const { return lines_->name(); }

  // "arrival_s,prompt_tokens,output_tokens"
  static std::string header_text(const std::array<std::string, 3>& columns);

 protected:
  // The arrival time of the row relative to the trace's own origin; errors through lines().fail(column, ...).
  virtual SimTime parse_arrival_ns(const std::string& field) = 0;
  const CsvLines& lines() const { return *lines_; }
  const std::array<std::string, 3>& columns() const { return columns_; }

 private:
  std::unique_ptr<CsvLines> lines_;
  std::array<std::string, 3> columns_;
  std::string format_;
  std::vector<std::string> fields_;
  uint64_t next_id_ = 0;
  SimTime last_arrival_ns_ = 0;
  int64_t last_line_ = 0;
  int64_t clamped_prompt_rows_ = 0, clamped_output_rows_ = 0;
  bool ended_ = false;
};

}  // namespace kvsim::traces
