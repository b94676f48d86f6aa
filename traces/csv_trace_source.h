// CSV trace formats, read through one column-mapping reader: each format names its columns and what each holds.
//  simple   kvsim's own: arrival_s,prompt_tokens,output_tokens, optionally session_id, prefix_id, prefix_tokens
//  azure    Azure LLM inference traces 2023 and 2024: TIMESTAMP,ContextTokens,GeneratedTokens (wall-clock time)
//  burstgpt BurstGPT (Wang et al., 2024): Timestamp,Model,Request tokens,Response tokens,Total tokens,Log Type
//           (Timestamp in seconds from the trace's start; Model, Total tokens and Log Type are not used)
//  lengths  length-only statistics: num_prefill_tokens,num_decode_tokens[,num_total_tokens,pd_ratio], every row at
//           t = 0 (Vidur's processed traces)
// The header must name every required column of the format and no column it does not know. Arrivals are relative
// to the first row for wall-clock formats.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "traces/csv_lines.h"
#include "traces/trace_source.h"

namespace kvsim::traces {

enum class Field {
  kArrivalSeconds,
  kArrivalTimestamp,
  kPrompt,
  kOutput,
  kSessionId,
  kPrefixId,
  kPrefixTokens,
  kUnused
};

struct CsvColumn {
  std::string name;
  Field field;
  bool required = true;
};

struct CsvFormat {
  std::string name;
  std::vector<CsvColumn> columns;  // required ones in their usual order first
  std::string required_header() const;
  std::string optional_columns() const;  // "" when none
};

const CsvFormat& simple_csv_format();
const CsvFormat& azure_csv_format();
const CsvFormat& burstgpt_csv_format();
const CsvFormat& lengths_csv_format();

class CsvTraceSource final : public TraceSource {
 public:
  CsvTraceSource(std::unique_ptr<CsvLines> lines, const CsvFormat& format, bool skip_bad_lines = false);

  // Whether a header fits the format's columns.
  static bool header_fits(const std::vector<std::string>& header, const CsvFormat& format);

 protected:
  bool read_row(Request& r) override;
  Place row_place() const override { return lines_->place(); }
  int64_t row_line() const override { return lines_->line(); }
  std::string arrival_column() const override { return arrival_name_; }
  std::string arrival_text() const override { return arrival_text_; }

 private:
  std::unique_ptr<CsvLines> lines_;
  const CsvFormat& format_;
  std::vector<Field> fields_of_column_;
  std::vector<std::string> names_of_column_;
  std::vector<std::string> row_;
  std::string arrival_name_, arrival_text_;
  std::optional<int64_t> origin_ns_;  // wall-clock formats: the first row's time
};

}  // namespace kvsim::traces
