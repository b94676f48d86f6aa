// A request as it arrives at the serving system, and the stream interface every workload source implements
// (trace readers and synthetic generators alike). Streams are pulled lazily so any trace size runs in constant memory.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "sim/core/time.h"

namespace kvsim::traces {

struct Request {
  uint64_t id = 0;            // 0, 1, 2, ... in arrival order
  SimTime arrival_ns = 0;     // relative to the start of the workload
  int64_t prompt_tokens = 0;  // >= 1
  int64_t output_tokens = 0;  // >= 1
  // The first shared_prefix_tokens tokens of the prompt are the same in every request with this prefix_id (a system
  // prompt, an earlier turn); 0 = no shared prefix. Prefix caching reuses their KV.
  uint64_t prefix_id = 0;
  int64_t shared_prefix_tokens = 0;
  // Prefix identity block by block (Mooncake's hash_ids; multi-turn sessions): hash j stands for prompt tokens
  // [j x hash_block_tokens, (j + 1) x hash_block_tokens), and two requests with equal hashes at j hold equal tokens
  // from the start of the prompt to the end of block j (the hashes are chained). Empty = none. The last block may be
  // partial (the prompt ends inside it).
  std::vector<uint64_t> block_hashes;
  int64_t hash_block_tokens = 0;
  // Multi-turn sessions: the conversation this request belongs to (0 = none) and, for a later turn, the id of the
  // previous turn and the user's think time: the turn is sent think_time_ns after the previous turn's last token,
  // never before arrival_ns (closed loop). parent_id < 0 = no previous turn.
  uint64_t session_id = 0;
  int64_t parent_id = -1;
  SimTime think_time_ns = 0;
  bool has_next_turn = false;  // a later request names this one as its parent
};

// Contract: next() returns requests in non-decreasing arrival_ns with ids 0, 1, 2, ...; nullopt at the end, and
// nullopt forever after. Bad input throws kvsim::Error naming the file and line. A source never schedules events
// and never looks at simulator state.
class RequestSource {
 public:
  virtual ~RequestSource() = default;
  virtual std::optional<Request> next() = 0;
  virtual std::string describe() const = 0;  // one line for reports, e.g. "poisson 2 req/s, 1000 requests"
};

// Requests per second between the first and the last of `requests` arrivals (n - 1 gaps); 0 below two requests or
// over a zero span.
inline double mean_arrival_rate(int64_t requests, SimTime first_ns, SimTime last_ns) {
  return requests >= 2 && last_ns > first_ns ? static_cast<double>(requests - 1) / ns_to_s(last_ns - first_ns) : 0.0;
}

}  // namespace kvsim::traces
