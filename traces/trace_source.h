// The common part of every trace reader: ids in file order, arrivals that must not go backwards, token counts of 0
// read as 1 and counted (a request has at least one prompt token and produces at least one output token), and bad
// rows either stopping the run with their file and line or, with skip_bad_lines, skipped and counted. A reader
// parses one row at a time, so any file streams in constant memory.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "sim/core/error.h"
#include "traces/request.h"

namespace kvsim::traces {

struct TraceOptions {
  std::string format = "auto";
  bool skip_bad_lines = false;  // skip rows that fail to parse (or go back in time) and count them
};

class TraceSource : public RequestSource {
 public:
  TraceSource(std::string name, std::string format, bool skip_bad_lines);

  std::optional<Request> next() final;
  std::string describe() const override;

  const std::string& name() const { return name_; }
  const std::string& format() const { return format_; }
  // Rows so far whose prompt or output count was 0 and was read as 1.
  int64_t clamped_prompt_rows() const { return clamped_prompt_rows_; }
  int64_t clamped_output_rows() const { return clamped_output_rows_; }
  // Rows skipped as bad (skip_bad_lines), and the first such error.
  int64_t skipped_rows() const { return skipped_rows_; }
  const std::string& first_skipped() const { return first_skipped_; }

 protected:
  // Parse the next row into `r` (arrival relative to the trace's origin, lengths as found, >= 0); false at the end.
  // A bad row throws kvsim::Error naming its place, after consuming the row.
  virtual bool read_row(Request& r) = 0;
  // The place of the row last read (file:line), and its arrival column's name, for the order check.
  virtual Place row_place() const = 0;
  virtual int64_t row_line() const = 0;  // row_place().line, without building the Place
  virtual std::string arrival_column() const = 0;
  // The arrival field of the row last read as written, for messages.
  virtual std::string arrival_text() const = 0;

 private:
  void check_prefix(const Request& r) const;

  std::string name_, format_;
  bool skip_bad_lines_;
  uint64_t next_id_ = 0;
  SimTime last_arrival_ns_ = 0;
  int64_t last_line_ = 0;  // of the previous row returned
  int64_t clamped_prompt_rows_ = 0, clamped_output_rows_ = 0, skipped_rows_ = 0;
  std::string first_skipped_;
  bool ended_ = false;
};

}  // namespace kvsim::traces
