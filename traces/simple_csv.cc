#include "traces/simple_csv.h"

#include <fmt/format.h>

#include "sim/core/error.h"
#include "sim/core/interrupt.h"

namespace kvsim::traces {

int64_t write_simple_csv(RequestSource& source, std::ostream& out, bool sessions) {
  out << (sessions ? "arrival_s,prompt_tokens,output_tokens,session_id,prefix_id,prefix_tokens\n"
                   : "arrival_s,prompt_tokens,output_tokens\n");
  int64_t n = 0;
  while (const std::optional<Request> r = source.next()) {
    out << fmt::format("{}.{:09},{},{}", r->arrival_ns / kNsPerS, r->arrival_ns % kNsPerS, r->prompt_tokens,
                       r->output_tokens);
    if (sessions) out << fmt::format(",{},{},{}", r->session_id, r->prefix_id, r->shared_prefix_tokens);
    out << '\n';
    if ((++n & 4095) == 0) throw_if_interrupted();
  }
  if (!out) throw Error("writing the trace failed");
  return n;
}

int64_t write_simple_jsonl(RequestSource& source, std::ostream& out) {
  int64_t n = 0;
  while (const std::optional<Request> r = source.next()) {
    out << fmt::format(R"({{"arrival_s": {}.{:09}, "prompt_tokens": {}, "output_tokens": {})", r->arrival_ns / kNsPerS,
                       r->arrival_ns % kNsPerS, r->prompt_tokens, r->output_tokens);
    if (r->session_id != 0) out << fmt::format(R"(, "session_id": {})", r->session_id);
    if (r->prefix_id != 0) {
      out << fmt::format(R"(, "prefix_id": {}, "prefix_tokens": {})", r->prefix_id, r->shared_prefix_tokens);
    }
    out << "}\n";
    if ((++n & 4095) == 0) throw_if_interrupted();
  }
  if (!out) throw Error("writing the trace failed");
  return n;
}

}  // namespace kvsim::traces
