#include "traces/transforms.h"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>

#include "sim/core/error.h"

namespace kvsim::traces {

MergeSource::MergeSource(std::vector<std::unique_ptr<RequestSource>> inputs) : inputs_(std::move(inputs)) {
  for (auto& in : inputs_) heads_.push_back(in->next());
}

std::optional<Request> MergeSource::next() {
  // Earliest head first; ties go to the earlier input. k is small (a handful of files): a linear scan.
  size_t best = heads_.size();
  for (size_t i = 0; i < heads_.size(); ++i) {
    if (heads_[i] && (best == heads_.size() || heads_[i]->arrival_ns < heads_[best]->arrival_ns)) best = i;
  }
  if (best == heads_.size()) return std::nullopt;
  Request r = std::move(*heads_[best]);
  heads_[best] = inputs_[best]->next();
  // Sessions and prefixes of different files are different: tag their ids with the input's index.
  const uint64_t tag = static_cast<uint64_t>(best) << 48;
  if (r.session_id != 0) r.session_id ^= tag;
  if (r.prefix_id != 0) r.prefix_id ^= tag;
  for (uint64_t& h : r.block_hashes) h ^= tag;
  r.parent_id = -1;  // ids are renumbered after the merge
  r.has_next_turn = false;
  return r;
}

std::string MergeSource::describe() const {
  std::vector<std::string> parts;
  for (const auto& in : inputs_) parts.push_back(in->describe());
  return "merged: " + join(parts, "; ");
}

WindowSource::WindowSource(std::unique_ptr<RequestSource> inner, SimTime start_ns, std::optional<SimTime> end_ns)
    : inner_(std::move(inner)), start_ns_(start_ns), end_ns_(end_ns) {}

std::optional<Request> WindowSource::next() {
  while (!ended_) {
    std::optional<Request> r = inner_->next();
    if (!r || (end_ns_ && r->arrival_ns >= *end_ns_)) break;
    if (r->arrival_ns < start_ns_) continue;
    r->arrival_ns -= start_ns_;
    return r;
  }
  ended_ = true;
  return std::nullopt;
}

std::string WindowSource::describe() const {
  return fmt::format("{}, window [{} s, {})", inner_->describe(), ns_to_s(start_ns_),
                     end_ns_ ? fmt::format("{} s", ns_to_s(*end_ns_)) : std::string("end"));
}

ScaleSource::ScaleSource(std::unique_ptr<RequestSource> inner, double rate_factor)
    : inner_(std::move(inner)), factor_(rate_factor) {
  if (!(factor_ > 0) || !std::isfinite(factor_)) {
    throw Error(fmt::format("workload.rate_scale: expected a finite number > 0, found {}", factor_));
  }
}

std::optional<Request> ScaleSource::next() {
  std::optional<Request> r = inner_->next();
  if (r) {
    const double t = std::round(static_cast<double>(r->arrival_ns) / factor_);
    r->arrival_ns = t < 9.2e18 ? static_cast<SimTime>(t) : kSimTimeMax;
    r->think_time_ns = static_cast<SimTime>(std::round(static_cast<double>(r->think_time_ns) / factor_));
  }
  return r;
}

std::string ScaleSource::describe() const { return fmt::format("{}, rate x {:.4g}", inner_->describe(), factor_); }

SampleSource::SampleSource(std::unique_ptr<RequestSource> inner, int64_t keep, int64_t total, Rng rng)
    : inner_(std::move(inner)), keep_(std::min(keep, total)), total_(total), rng_(rng) {}

std::optional<Request> SampleSource::next() {
  while (kept_ < keep_) {
    std::optional<Request> r = inner_->next();
    if (!r) return std::nullopt;
    // Keep this one with probability (still to keep) / (still to see): exactly keep_ in all, uniformly.
    const double p = static_cast<double>(keep_ - kept_) / static_cast<double>(total_ - seen_);
    ++seen_;
    if (rng_.uniform() < p) {
      ++kept_;
      r->parent_id = -1;
      r->has_next_turn = false;
      return r;
    }
  }
  return std::nullopt;
}

std::string SampleSource::describe() const {
  return fmt::format("{}, {} of {} sampled", inner_->describe(), keep_, total_);
}

ClipSource::ClipSource(std::unique_ptr<RequestSource> inner, int64_t context_tokens)
    : inner_(std::move(inner)), context_(context_tokens) {
  if (context_ < 2) throw Error(fmt::format("clip_to_context: a context of {} tokens is too small", context_));
}

std::optional<Request> ClipSource::next() {
  std::optional<Request> r = inner_->next();
  if (r && r->prompt_tokens + r->output_tokens > context_) {
    // The prompt keeps at least half the context; the output gets the rest.
    ++clipped_;
    r->prompt_tokens = std::min(r->prompt_tokens, std::max(context_ / 2, context_ - r->output_tokens));
    r->output_tokens = std::min(r->output_tokens, context_ - r->prompt_tokens);
    r->shared_prefix_tokens = std::min(r->shared_prefix_tokens, r->prompt_tokens);
  }
  return r;
}

std::string ClipSource::describe() const {
  return fmt::format("{}, clipped to {} tokens", inner_->describe(), context_);
}

std::optional<Request> RenumberSource::next() {
  std::optional<Request> r = inner_->next();
  if (r) r->id = next_id_++;
  return r;
}

double StreamExtent::mean_rate() const { return mean_arrival_rate(requests, first_ns, last_ns); }

StreamExtent measure(RequestSource& source) {
  StreamExtent e;
  while (const std::optional<Request> r = source.next()) {
    if (e.requests++ == 0) e.first_ns = r->arrival_ns;
    e.last_ns = r->arrival_ns;
  }
  return e;
}

}  // namespace kvsim::traces
