#include "traces/csv_trace_source.h"

#include <algorithm>

#include <fmt/format.h>

#include "sim/core/input_file.h"
#include "sim/core/limits.h"
#include "traces/azure_csv.h"

namespace kvsim::traces {

std::string CsvFormat::required_header() const {
  std::vector<std::string> names;
  for (const CsvColumn& c : columns) {
    if (c.required) names.push_back(c.name);
  }
  return join(names, ",");
}

std::string CsvFormat::optional_columns() const {
  std::vector<std::string> names;
  for (const CsvColumn& c : columns) {
    if (!c.required) names.push_back(c.name);
  }
  return join(names, ", ");
}

const CsvFormat& simple_csv_format() {
  static const CsvFormat f{"simple",
                           {{"arrival_s", Field::kArrivalSeconds},
                            {"prompt_tokens", Field::kPrompt},
                            {"output_tokens", Field::kOutput},
                            {"session_id", Field::kSessionId, false},
                            {"prefix_id", Field::kPrefixId, false},
                            {"prefix_tokens", Field::kPrefixTokens, false}}};
  return f;
}

const CsvFormat& azure_csv_format() {
  static const CsvFormat f{"azure",
                           {{"TIMESTAMP", Field::kArrivalTimestamp},
                            {"ContextTokens", Field::kPrompt},
                            {"GeneratedTokens", Field::kOutput}}};
  return f;
}

// BurstGPT (HPMLL/BurstGPT, Wang et al., 2024, "BurstGPT: A Real-world Workload Dataset to Optimize LLM Serving
// Systems"): its published columns; failed requests carry 0 response tokens (read as 1 and counted).
const CsvFormat& burstgpt_csv_format() {
  static const CsvFormat f{"burstgpt",
                           {{"Timestamp", Field::kArrivalSeconds},
                            {"Model", Field::kUnused},
                            {"Request tokens", Field::kPrompt},
                            {"Response tokens", Field::kOutput},
                            {"Total tokens", Field::kUnused},
                            {"Log Type", Field::kUnused}}};
  return f;
}

// Length-only statistics (Vidur's processed traces, e.g. arxiv_summarization_stats_llama2_tokenizer_filtered_v2.csv):
// no arrival times; every row reads as arriving at t = 0, for empirical length distributions or an offline batch.
const CsvFormat& lengths_csv_format() {
  static const CsvFormat f{"lengths",
                           {{"num_prefill_tokens", Field::kPrompt},
                            {"num_decode_tokens", Field::kOutput},
                            {"num_total_tokens", Field::kUnused, false},
                            {"pd_ratio", Field::kUnused, false}}};
  return f;
}

bool CsvTraceSource::header_fits(const std::vector<std::string>& header, const CsvFormat& format) {
  for (const CsvColumn& c : format.columns) {
    if (c.required && std::find(header.begin(), header.end(), c.name) == header.end()) return false;
  }
  for (const std::string& h : header) {
    const auto known = [&](const CsvColumn& c) { return c.name == h; };
    if (std::none_of(format.columns.begin(), format.columns.end(), known)) return false;
    if (std::count(header.begin(), header.end(), h) > 1) return false;
  }
  return true;
}

CsvTraceSource::CsvTraceSource(std::unique_ptr<CsvLines> lines, const CsvFormat& format, bool skip_bad_lines)
    : TraceSource(lines->name(), format.name, skip_bad_lines), lines_(std::move(lines)), format_(format) {
  if (!header_fits(lines_->header_fields(), format_)) {
    const std::string optional = format_.optional_columns();
    throw Error(Place{lines_->name(), 1, 0},
                fmt::format("expected the {} trace header '{}'{}, found '{}'", format_.name, format_.required_header(),
                            optional.empty() ? "" : " (optional columns: " + optional + ")", excerpt(lines_->header())));
  }
  for (const std::string& h : lines_->header_fields()) {
    for (const CsvColumn& c : format_.columns) {
      if (c.name != h) continue;
      fields_of_column_.push_back(c.field);
      names_of_column_.push_back(c.name);
      if (c.field == Field::kArrivalSeconds || c.field == Field::kArrivalTimestamp) arrival_name_ = c.name;
    }
  }
}

bool CsvTraceSource::read_row(Request& r) {
  if (!lines_->next_row(row_)) return false;
  if (row_.size() != fields_of_column_.size()) {
    lines_->fail(fmt::format("expected {} columns ({}), found {}", fields_of_column_.size(),
                             join(names_of_column_, ","), row_.size()));
  }
  for (size_t i = 0; i < row_.size(); ++i) {
    const std::string& v = row_[i];
    const std::string& column = names_of_column_[i];
    switch (fields_of_column_[i]) {
      case Field::kArrivalSeconds:
        arrival_text_ = v;
        r.arrival_ns = lines_->parse_seconds_ns(v, column);
        break;
      case Field::kArrivalTimestamp: {
        arrival_text_ = v;
        const std::optional<int64_t> t = parse_timestamp_ns(v);
        if (!t) {
          lines_->fail(column, fmt::format("expected a time like '2023-11-16 18:15:46.6805900' in the years {} to {}, "
                                           "found '{}'",
                                           kFirstTraceYear, kLastTraceYear, excerpt(v)));
        }
        if (!origin_ns_) origin_ns_ = *t;
        r.arrival_ns = *t - *origin_ns_;
        // Rows out of order are the caller's error to report; a span beyond limits::kMaxSeconds is a damaged row.
        if (r.arrival_ns > static_cast<SimTime>(limits::kMaxSeconds) * kNsPerS) {
          lines_->fail(column, fmt::format("'{}' is {:.3g} s after the trace's first row: more than {:.0e} s (3 "
                                           "years), a damaged timestamp?",
                                           excerpt(v), ns_to_s(r.arrival_ns), limits::kMaxSeconds));
        }
        break;
      }
      case Field::kPrompt:
        r.prompt_tokens = lines_->parse_count(v, column);
        break;
      case Field::kOutput:
        r.output_tokens = lines_->parse_count(v, column);
        break;
      case Field::kSessionId:
        r.session_id = static_cast<uint64_t>(lines_->parse_count(v, column, INT64_MAX));
        break;
      case Field::kPrefixId:
        r.prefix_id = static_cast<uint64_t>(lines_->parse_count(v, column, INT64_MAX));
        break;
      case Field::kPrefixTokens:
        r.shared_prefix_tokens = lines_->parse_count(v, column);
        break;
      case Field::kUnused:
        break;
    }
  }
  return true;
}

}  // namespace kvsim::traces
