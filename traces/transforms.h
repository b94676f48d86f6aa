// Transforms of a request stream, each constant-memory (workload keys in parentheses):
//  MergeSource     k traces merged by arrival time (trace: [a.csv, b.jsonl]); session and prefix ids kept apart
//  WindowSource    only arrivals in [start, end), shifted to start at 0 (window: {start_s, end_s})
//  ScaleSource     arrival times divided by a factor: rate x factor (rate_scale, or target_rate over a first pass)
//  SampleSource    exactly n of m requests, uniformly (Knuth's selection sampling, TAOCP vol. 2, 3.4.2 algorithm S;
//                  m from a first pass) (sample)
//  ClipSource      prompt and output clipped to a context of n tokens (clip_to_context)
//  RenumberSource  ids 0, 1, 2, ... again after a transform dropped requests
// They apply to traces, whose requests carry no parent links (a trace replays its recorded arrivals open-loop).
#pragma once

#include <memory>
#include <optional>
#include <vector>

#include "sim/core/rng.h"
#include "traces/request.h"

namespace kvsim::traces {

class MergeSource : public RequestSource {
 public:
  explicit MergeSource(std::vector<std::unique_ptr<RequestSource>> inputs);
  std::optional<Request> next() override;
  std::string describe() const override;

 private:
  std::vector<std::unique_ptr<RequestSource>> inputs_;
  std::vector<std::optional<Request>> heads_;
};

class WindowSource : public RequestSource {
 public:
  WindowSource(std::unique_ptr<RequestSource> inner, SimTime start_ns, std::optional<SimTime> end_ns);
  std::optional<Request> next() override;
  std::string describe() const override;

 private:
  std::unique_ptr<RequestSource> inner_;
  SimTime start_ns_;
  std::optional<SimTime> end_ns_;
  bool ended_ = false;
};

class ScaleSource : public RequestSource {
 public:
  ScaleSource(std::unique_ptr<RequestSource> inner, double rate_factor);
  std::optional<Request> next() override;
  std::string describe() const override;

 private:
  std::unique_ptr<RequestSource> inner_;
  double factor_;
};

class SampleSource : public RequestSource {
 public:
  SampleSource(std::unique_ptr<RequestSource> inner, int64_t keep, int64_t total, Rng rng);
  std::optional<Request> next() override;
  std::string describe() const override;

 private:
  std::unique_ptr<RequestSource> inner_;
  int64_t keep_, total_, seen_ = 0, kept_ = 0;
  Rng rng_;
};

class ClipSource : public RequestSource {
 public:
  ClipSource(std::unique_ptr<RequestSource> inner, int64_t context_tokens);
  std::optional<Request> next() override;
  std::string describe() const override;
  int64_t clipped() const { return clipped_; }

 private:
  std::unique_ptr<RequestSource> inner_;
  int64_t context_;
  int64_t clipped_ = 0;
};

class RenumberSource : public RequestSource {
 public:
  explicit RenumberSource(std::unique_ptr<RequestSource> inner) : inner_(std::move(inner)) {}
  std::optional<Request> next() override;
  std::string describe() const override { return inner_->describe(); }

 private:
  std::unique_ptr<RequestSource> inner_;
  uint64_t next_id_ = 0;
};

// Count and span of a stream, pulled to its end: for target_rate and sample.
struct StreamExtent {
  int64_t requests = 0;
  SimTime first_ns = 0, last_ns = 0;
  double mean_rate() const;  // requests per second over (last - first); 0 below two requests
};
StreamExtent measure(RequestSource& source);

}  // namespace kvsim::traces
