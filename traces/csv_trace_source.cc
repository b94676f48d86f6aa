#include "traces/csv_trace_source.h"

#include <fmt/format.h>

namespace kvsim::traces {

std::string CsvTraceSource::header_text(const std::array<std::string, 3>& columns) {
  return fmt::format("{},{},{}", columns[0], columns[1], columns[2]);
}

CsvTraceSource::CsvTraceSource(std::unique_ptr<CsvLines> lines, std::array<std::string, 3> columns, std::string format)
    : lines_(std::move(lines)), columns_(std::move(columns)), format_(std::move(format)) {
  const auto& h = lines_->header_fields();
  if (h.size() != 3 || h[0] != columns_[0] || h[1] != columns_[1] || h[2] != columns_[2]) {
    throw Error(Place{lines_->name(), 1, 0}, fmt::format("expected the {} trace header '{}', found '{}'", format_,
                                                         header_text(columns_), lines_->header()));
  }
}

std::optional<Request> CsvTraceSource::next() {
  if (ended_ || !lines_->next_row(fields_)) {
    ended_ = true;
    return std::nullopt;
  }
  if (fields_.size() != 3) {
    lines_->fail(fmt::format("expected 3 columns ({}), found {}", header_text(columns_), fields_.size()));
  }
  Request r;
  r.arrival_ns = parse_arrival_ns(fields_[0]);
  r.prompt_tokens = lines_->parse_count(fields_[1], columns_[1]);
  r.output_tokens = lines_->parse_count(fields_[2], columns_[2]);
  if (next_id_ > 0 && r.arrival_ns < last_arrival_ns_) {
    lines_->fail(columns_[0], fmt::format("time goes backwards: '{}' is {} s before line {}", fields_[0],
                                          ns_to_s(last_arrival_ns_ - r.arrival_ns), last_line_));
  }
  if (r.prompt_tokens == 0) {
    r.prompt_tokens = 1;
    ++clamped_prompt_rows_;
  }
  if (r.output_tokens == 0) {
    r.output_tokens = 1;
    ++clamped_output_rows_;
  }
  r.id = next_id_++;
  last_arrival_ns_ = r.arrival_ns;
  last_line_ = lines_->line();
  return r;
}

std::string CsvTraceSource::describe() const {
  std::string out = fmt::format("trace {} ({})", lines_->name(), format_);
  if (clamped_prompt_rows_ + clamped_output_rows_ > 0) {
    out += fmt::format(", {} rows with 0 prompt and {} with 0 output tokens read as 1", clamped_prompt_rows_,
                       clamped_output_rows_);
  }
  return out;
}

}  // namespace kvsim::traces
