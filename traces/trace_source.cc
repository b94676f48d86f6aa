#include "traces/trace_source.h"

#include <fmt/format.h>

namespace kvsim::traces {

TraceSource::TraceSource(std::string name, std::string format, bool skip_bad_lines)
    : name_(std::move(name)), format_(std::move(format)), skip_bad_lines_(skip_bad_lines) {}

std::optional<Request> TraceSource::next() {
  while (!ended_) {
    Request r;
    try {
      if (!read_row(r)) break;
      check_prefix(r);
      if (next_id_ > 0 && r.arrival_ns < last_arrival_ns_) {
        throw Error(row_place(),
                    fmt::format("{}: time goes backwards: '{}' is {} s before {}", arrival_column(), arrival_text(),
                                ns_to_s(last_arrival_ns_ - r.arrival_ns),
                                last_line_ > 0 ? fmt::format("line {}", last_line_) : "the previous row"));
      }
    } catch (const Error& e) {
      if (!skip_bad_lines_) throw;
      if (skipped_rows_++ == 0) first_skipped_ = e.what();
      continue;
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
    last_line_ = row_line();
    return r;
  }
  ended_ = true;
  return std::nullopt;
}

// A row's shared prefix (simple CSV and JSONL columns prefix_id, prefix_tokens) must name itself and fit its prompt.
void TraceSource::check_prefix(const Request& r) const {
  if (r.shared_prefix_tokens > 0 && r.prefix_id == 0) {
    throw Error(row_place(), "prefix_tokens: a shared prefix needs a prefix_id > 0");
  }
  if (r.shared_prefix_tokens > r.prompt_tokens) {
    throw Error(row_place(), fmt::format("prefix_tokens: the shared prefix ({} tokens) is longer than the prompt ({})",
                                         r.shared_prefix_tokens, r.prompt_tokens));
  }
  if (r.prefix_id != 0 && r.shared_prefix_tokens == 0 && r.session_id == 0) {
    throw Error(row_place(), "prefix_id: a prefix_id needs prefix_tokens > 0");
  }
}

std::string TraceSource::describe() const {
  std::string out = fmt::format("trace {} ({})", name_, format_);
  if (clamped_prompt_rows_ + clamped_output_rows_ > 0) {
    out += fmt::format(", {} rows with 0 prompt and {} with 0 output tokens read as 1", clamped_prompt_rows_,
                       clamped_output_rows_);
  }
  if (skipped_rows_ > 0) out += fmt::format(", {} bad rows skipped (first: {})", skipped_rows_, first_skipped_);
  return out;
}

}  // namespace kvsim::traces
