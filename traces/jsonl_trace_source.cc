#include "traces/jsonl_trace_source.h"

#include <cmath>
#include <set>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "sim/core/input_file.h"
#include "sim/core/limits.h"
#include "traces/csv_lines.h"

namespace kvsim::traces {

namespace {
using nlohmann::json;

const std::set<std::string>& known_keys(const std::string& format) {
  static const std::set<std::string> mooncake = {"timestamp", "input_length", "output_length", "hash_ids"};
  static const std::set<std::string> simple = {"arrival_s",  "prompt_tokens", "output_tokens",
                                               "session_id", "prefix_id",     "prefix_tokens"};
  return format == "mooncake" ? mooncake : simple;
}

std::string shown(const json& v) {
  std::string s = v.dump();
  return s.size() > 40 ? s.substr(0, 37) + "..." : s;
}
}  // namespace

std::string JsonlTraceSource::detect(const std::string& first_line) {
  const json j = json::parse(first_line, nullptr, false);
  if (!j.is_object()) return "";
  if (j.contains("input_length") && j.contains("timestamp")) return "mooncake";
  if (j.contains("arrival_s")) return "jsonl";
  return "";
}

JsonlTraceSource::JsonlTraceSource(std::unique_ptr<std::istream> in, std::string name, std::string format,
                                   bool skip_bad_lines, std::optional<std::string> first_line,
                                   int64_t first_line_number)
    : TraceSource(std::move(name), std::move(format), skip_bad_lines),
      in_(std::move(in)),
      pending_(first_line),
      line_(first_line ? first_line_number - 1 : 0) {}

bool JsonlTraceSource::next_line() {
  while (true) {
    if (pending_) {
      buffer_ = std::move(*pending_);
      pending_.reset();
    } else if (!read_line(*in_, buffer_, name(), line_ + 1)) {
      return false;
    }
    ++line_;
    if (line_ == 1) strip_utf8_bom(buffer_);
    if (!is_blank_line(buffer_)) return true;
  }
}

void JsonlTraceSource::fail(const std::string& key, const std::string& message) const {
  throw Error(row_place(), key.empty() ? message : fmt::format("{}: {}", key, message));
}

bool JsonlTraceSource::read_row(Request& r) {
  if (!next_line()) return false;
  const json j = json::parse(buffer_, nullptr, false);
  if (j.is_discarded() || !j.is_object()) {
    fail("", fmt::format("expected one JSON object per line, found '{}'",
                         buffer_.size() > 40 ? buffer_.substr(0, 37) + "..." : buffer_));
  }
  const auto& known = known_keys(format());
  for (const auto& [k, v] : j.items()) {
    if (!known.contains(k)) {
      const std::vector<std::string> keys(known.begin(), known.end());
      fail(k, fmt::format("unknown key in a {} trace{} (expected {})", format(), did_you_mean(k, keys), join(keys)));
    }
  }
  const auto count = [&](const char* key, bool required) -> int64_t {
    if (!j.contains(key)) {
      if (required) fail(key, "missing");
      return 0;
    }
    const json& v = j.at(key);
    if (!v.is_number_integer() || v.get<int64_t>() < 0) {
      fail(key, fmt::format("expected a non-negative integer, found {}", shown(v)));
    }
    // Token counts are bounded (sim/core/limits.h) so that prompt + output never overflows; ids are not.
    const bool tokens = std::string_view(key).ends_with("_length") || std::string_view(key).ends_with("_tokens");
    if (tokens && v.get<int64_t>() > limits::kMaxRequestTokens) {
      fail(key, fmt::format("expected an integer <= {}, found {}", limits::kMaxRequestTokens, shown(v)));
    }
    return v.get<int64_t>();
  };
  const bool mooncake = format() == "mooncake";
  const char* arrival = mooncake ? "timestamp" : "arrival_s";
  if (!j.contains(arrival)) fail(arrival, "missing");
  const json& t = j.at(arrival);
  arrival_ = t;
  if (!t.is_number() || !std::isfinite(t.get<double>()) || t.get<double>() < 0 || t.get<double>() > 9.2e9) {
    fail(arrival, fmt::format("expected a non-negative number of {}, found {}", mooncake ? "milliseconds" : "seconds",
                              shown(t)));
  }
  const int64_t ns_per_unit = mooncake ? kNsPerMs : kNsPerS;
  r.arrival_ns = t.is_number_integer() ? t.get<int64_t>() * ns_per_unit
                                       : static_cast<SimTime>(std::llround(t.get<double>() * ns_per_unit));
  if (mooncake) {
    r.prompt_tokens = count("input_length", true);
    r.output_tokens = count("output_length", true);
    if (j.contains("hash_ids")) {
      const json& h = j.at("hash_ids");
      if (!h.is_array()) fail("hash_ids", fmt::format("expected a list of non-negative integers, found {}", shown(h)));
      r.block_hashes.reserve(h.size());
      for (const json& id : h) {
        if (!id.is_number_integer() || id.get<int64_t>() < 0) {
          fail("hash_ids", fmt::format("expected a list of non-negative integers, found {}", shown(id)));
        }
        r.block_hashes.push_back(id.get<uint64_t>());
      }
      r.hash_block_tokens = kMooncakeBlockTokens;
    }
  } else {
    r.prompt_tokens = count("prompt_tokens", true);
    r.output_tokens = count("output_tokens", true);
    r.session_id = static_cast<uint64_t>(count("session_id", false));
    r.prefix_id = static_cast<uint64_t>(count("prefix_id", false));
    r.shared_prefix_tokens = count("prefix_tokens", false);
  }
  return true;
}

}  // namespace kvsim::traces
