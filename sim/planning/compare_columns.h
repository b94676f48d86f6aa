// The summary.json keys that `kvsim compare` tabulates (its --format csv columns after policy and rate) and that
// `kvsim compare --study` writes per point, in column order. New keys go at the end, so existing CSV readers that go
// by position keep working.
#pragma once

#include <array>

namespace kvsim::sim {

inline constexpr std::array<const char*, 19> kCompareSummaryKeys = {"completed",           "rejected",
                                                                    "request_throughput",  "output_throughput",
                                                                    "mean_ttft_ms",        "p99_ttft_ms",
                                                                    "mean_tpot_ms",        "p99_tpot_ms",
                                                                    "num_preemptions",     "kv_token_utilization",
                                                                    "slo_attainment",      "goodput",
                                                                    "retention_attention", "median_ttft_ms",
                                                                    "median_tpot_ms",      "peak_hbm_bytes",
                                                                    "peak_kv_host_bytes",  "pcie_h2d_bytes",
                                                                    "pcie_d2h_bytes"};

}  // namespace kvsim::sim
