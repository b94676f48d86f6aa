// Bounds on the numbers kvsim reads. Each is far beyond any real system (so no real input is refused) and far
// below where a derived quantity (bytes = layers x hidden x ...; ns = s x 1e9; tokens summed over requests) could
// overflow int64/uint64 or lose meaning in a double. A value outside them is a typo or a hostile input: refused
// with its place, never simulated. yaml::Map requires every number read to state its range; these are the ranges.
#pragma once

#include <cstdint>

namespace kvsim::limits {

// Model shapes. The largest published dense and MoE models stay orders of magnitude inside: Llama 3.1 405B has 126
// layers, hidden 16,384, FFN 53,248, vocab 128,256 (Meta model card); DeepSeek-V3 has 256 routed experts; Llama 4
// Scout's context is 10M tokens. With these bounds one layer's weights stay below 2^62 bytes.
inline constexpr int64_t kMaxLayers = 4096;
inline constexpr int64_t kMaxHidden = int64_t{1} << 20;        // also head_dim x heads, FFN width
inline constexpr int64_t kMaxIntermediate = int64_t{1} << 22;  // FFN (and per-expert FFN) width
inline constexpr int64_t kMaxHeads = 4096;
inline constexpr int64_t kMaxVocab = int64_t{1} << 24;
inline constexpr int64_t kMaxPositions = int64_t{1} << 30;  // context length and per-request tokens
inline constexpr int64_t kMaxExperts = 65536;
inline constexpr double kMaxParameters = 1e15;  // a model of a quadrillion parameters is refused

// Per request: a prompt or an output of at most 2^40 tokens (a trillion), so their sum and any count of blocks or
// bytes derived from them stays within int64. Longer than any context, such a request is read and then rejected
// (rejected:max_model_len); a larger number in a trace is a bad row.
inline constexpr int64_t kMaxRequestTokens = int64_t{1} << 40;

// Requests held at once (arrived, not finished): each costs about 550 bytes of simulator memory (3M all-at-once
// requests peaked at 1.6 GB, release build), so 2^22 stays near 2.3 GB. An overload beyond it is reported as one.
inline constexpr int64_t kMaxRequestsInSystem = int64_t{1} << 22;

// Hardware. HBM3e on B200 is 8 TB/s, NVLink 5 1.8 TB/s, PCIe 6 x16 128 GB/s, B200 dense FP4 about 9e15 FLOP/s
// (NVIDIA datasheets): a factor of 100 or more inside.
inline constexpr double kMaxBytesPerS = 1e15;
inline constexpr double kMaxFlopsPerS = 1e18;
inline constexpr double kMaxLatencyNs = 1e9;   // one second for one transfer's or launch's fixed latency
inline constexpr double kMaxClockHz = 1e10;
inline constexpr int64_t kMaxCores = 1 << 20;
inline constexpr double kMaxPowerW = 1e6;

// Time. Simulated time is int64 ns (292 years); a span read from input is at most 10^8 s (3.2 years), and a
// duration in milliseconds at least 1 ns once converted.
inline constexpr double kMaxSeconds = 1e8;
inline constexpr double kMaxMs = kMaxSeconds * 1e3;
inline constexpr double kMinMs = 1e-6;  // 1 ns
// Rates: one request per 10^6 s (11.6 days) to 10^6 per second.
inline constexpr double kMinRate = 1e-6;
inline constexpr double kMaxRate = 1e6;

// A generic bound for dimensionless factors and ratios read from measured profiles and cases.
inline constexpr double kMaxFactor = 1e12;

}  // namespace kvsim::limits
