// The fitting step of `kvsim calibrate`, alone (no device needed): raw samples from the suites (kernels/suite.h) into
// the curves of a hw::MeasuredProfile.
#pragma once

#include <vector>

#include "hw/measured.h"

namespace kvsim::kernels {

// The fitting step alone (no device needed): bandwidth and gather curves vs bytes (isotonic: non-decreasing), with
// cpu_staged gathers per host thread count ("cpu_staged/<granularity>/threads<N>"), PCIe latency, GEMM points, decode
// attention per (block size, batch) (samples without a batch: hw::kAnyBatch), prefill attention (sdpa-flash when
// measured; kvsim-simple alone gets prefill_attention_note saying it is no production kernel), launch and
// graph-replay costs, host memcpy vs threads, a held-out check of every bandwidth/gather curve with >= 4 distinct
// sizes, and the samples themselves. Samples with a non-finite value are dropped.
hw::MeasuredProfile fit_measurements(const std::vector<hw::RawSample>& samples);

}  // namespace kvsim::kernels
