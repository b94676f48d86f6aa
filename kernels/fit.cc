// The fitting step of `kvsim calibrate` (kernels/fit.h): raw samples into the curves of a hw::MeasuredProfile.
#include "kernels/fit.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <tuple>

#include <fmt/format.h>

namespace kvsim::kernels {

namespace {

using Points = std::vector<std::pair<double, double>>;

// A held-out check needs at least two points to fit and two to predict.
constexpr size_t kMinHeldOutSizes = 4;
// Thread counts and batches at or above this are not counts (a corrupt sample): such samples are kept unsplit.
constexpr double kMaxCount = 1e9;
// Why a kvsim-simple prefill curve stands in when nothing else said why.
constexpr const char* kSimplePrefillNote =
    "no production prefill kernel measured; curve from kvsim's simple kernel, slower than production flash kernels";

double param(const hw::RawSample& s, const char* key, double def) {
  const auto it = s.params.find(key);
  return it == s.params.end() ? def : it->second;
}

double median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 == 1 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

size_t distinct_x(const Points& points) {
  std::vector<double> xs;
  for (const auto& p : points) {
    if (std::isfinite(p.first) && p.first > 0) xs.push_back(p.first);
  }
  std::sort(xs.begin(), xs.end());
  return static_cast<size_t>(std::unique(xs.begin(), xs.end()) - xs.begin());
}

// Median latency over the samples at the two smallest sizes, where the fixed per-copy cost dominates.
double small_copy_latency_ns(Points latency) {
  std::sort(latency.begin(), latency.end());
  std::vector<double> values;
  int sizes = 0;
  double last = -1;
  for (const auto& [bytes, ns] : latency) {
    if (bytes != last) {
      if (++sizes > 2) break;
      last = bytes;
    }
    values.push_back(ns);
  }
  return median(values);
}

}  // namespace

hw::MeasuredProfile fit_measurements(const std::vector<hw::RawSample>& samples) {
  hw::MeasuredProfile m;
  std::map<std::string, Points> bandwidth, gather, prefill;
  std::map<std::pair<int64_t, int64_t>, Points> decode;                                    // (block size, batch)
  std::map<std::tuple<std::string, int64_t, int64_t, int64_t>, std::vector<double>> gemm;  // (dtype, n, k, m)
  // per_copy: small copies back to back (the fixed cost per copy); latency: one copy waited for, which profiles
  // before per_copy existed also named the back-to-back figure, so it stands in only when per_copy is absent.
  Points per_copy, latency, host;
  // launch_host: host time per launch call; empty_kernel: the GPU-side interval, which profiles before launch_host
  // existed used (it stands in only then); launch_latency is kept in the samples, not fitted.
  std::vector<double> launch_host, empty_kernel, graph, pinned;

  for (const auto& s : samples) {
    if (!std::isfinite(s.value)) continue;
    m.samples.push_back(s);
    if (s.series == "pinned_alloc") {
      // bytes/s directly, or the time to allocate `bytes`.
      const double bytes = param(s, "bytes", 0);
      if (s.unit == "bytes_per_s" && s.value > 0) pinned.push_back(s.value);
      if (s.unit == "ns" && s.value > 0 && bytes > 0) pinned.push_back(bytes / (s.value * 1e-9));
      continue;
    }
    const bool positive = s.value > 0;
    if (s.suite == "pcie" || s.suite == "hbm") {
      if (s.series.rfind("per_copy", 0) == 0) {
        if (positive) per_copy.emplace_back(param(s, "bytes", 0), s.value);
      } else if (s.series.rfind("latency", 0) == 0) {
        if (positive) latency.emplace_back(param(s, "bytes", 0), s.value);
      } else if (positive) {
        // Copies on several streams at once are their own curve per stream count: "pcie/streams_h2d/streams4".
        const double streams = param(s, "streams", 0);
        const std::string key = s.suite + "/" + s.series + (streams > 0 ? fmt::format("/streams{}", streams) : "");
        bandwidth[key].emplace_back(param(s, "bytes", NAN), s.value);
      }
    } else if (s.suite == "gather") {
      // cpu_staged runs once on one host thread and once on all: a curve per thread count,
      // "cpu_staged/token_head/threads16" (kernels/cuda/gather.cu).
      const double threads = param(s, "threads", 0);
      const bool per_thread = s.series.rfind("cpu_staged/", 0) == 0 && threads >= 1 && threads < kMaxCount;
      const std::string key = s.series + (per_thread ? fmt::format("/threads{}", std::llround(threads)) : "");
      if (positive) gather[key].emplace_back(param(s, "bytes", NAN), s.value);
    } else if (s.suite == "gemm") {
      const auto dm = static_cast<int64_t>(param(s, "m", 0));
      const auto dn = static_cast<int64_t>(param(s, "n", 0));
      const auto dk = static_cast<int64_t>(param(s, "k", 0));
      const std::string dtype = s.series.substr(0, s.series.find('/'));
      if (positive && dm > 0 && dn > 0 && dk > 0 && !dtype.empty()) gemm[{dtype, dn, dk, dm}].push_back(s.value);
    } else if (s.suite == "attention") {
      if (s.series.rfind("decode/bs", 0) == 0) {
        int64_t block_size = 0;
        try {
          block_size = std::stoll(s.series.substr(9));
        } catch (const std::exception&) {
          continue;
        }
        // A curve per batch (the kernel's bytes/s grow with the sequences in flight); no batch: one for every batch.
        const double batch = param(s, "batch", NAN);
        const int64_t batch_key = batch >= 1 && batch < kMaxCount ? std::llround(batch) : hw::kAnyBatch;
        if (positive && block_size > 0) decode[{block_size, batch_key}].emplace_back(param(s, "context", NAN), s.value);
      } else if (s.series.rfind("prefill/", 0) == 0 && s.series.size() > 8 && positive) {
        prefill[s.series.substr(8)].emplace_back(param(s, "tokens", NAN), s.value);
      }
    } else if (s.suite == "launch") {
      if (!positive) continue;
      if (s.series == "launch_host") launch_host.push_back(s.value);
      if (s.series == "empty_kernel") empty_kernel.push_back(s.value);
      if (s.series == "graph_replay") graph.push_back(s.value);  // not graph_per_kernel: one replay of the graph
    } else if (s.suite == "host") {
      if (s.series == "memcpy" && positive) host.emplace_back(param(s, "threads", NAN), s.value);
    }
  }

  for (const auto& [key, points] : bandwidth) {
    hw::Curve c = hw::fit_curve(points, true, true);
    if (c.empty()) continue;
    m.bandwidth[key] = std::move(c);
    if (distinct_x(points) >= kMinHeldOutSizes) {
      m.held_out.push_back(hw::held_out_check("bandwidth/" + key, points, true, true));
    }
  }
  for (const auto& [key, points] : gather) {
    hw::Curve c = hw::fit_curve(points, true, true);
    if (c.empty()) continue;
    m.gather[key] = std::move(c);
    if (distinct_x(points) >= kMinHeldOutSizes) {
      m.held_out.push_back(hw::held_out_check("gather/" + key, points, true, true));
    }
  }
  for (const auto& [key, values] : gemm) {
    const auto& [dtype, n, k, gm] = key;
    m.gemm.push_back(hw::GemmPoint{dtype, gm, n, k, median(values)});
  }
  for (const auto& [key, points] : decode) {
    hw::Curve c = hw::fit_curve(points, true, false);
    if (!c.empty()) m.decode_attention[key.first][key.second] = std::move(c);
  }
  // A production kernel's curve (PyTorch SDPA flash) when the validation harness measured one, else the kernel with
  // the most points.
  const std::pair<const std::string, Points>* chosen = nullptr;
  for (const auto& entry : prefill) {
    if (entry.first == "sdpa-flash") {
      chosen = &entry;
      break;
    }
    if (chosen == nullptr || entry.second.size() > chosen->second.size()) chosen = &entry;
  }
  if (chosen != nullptr) {
    m.prefill_attention = hw::fit_curve(chosen->second, true, false);
    if (!m.prefill_attention.empty()) m.prefill_attention_kernel = chosen->first;
    if (m.prefill_attention_kernel == "kvsim-simple") m.prefill_attention_note = kSimplePrefillNote;
  }
  if (!host.empty()) m.host_memcpy = hw::fit_curve(host, false, false);
  m.pcie_latency_ns = small_copy_latency_ns(per_copy.empty() ? latency : per_copy);
  m.launch_ns = median(launch_host.empty() ? empty_kernel : launch_host);
  m.graph_replay_ns = median(graph);
  m.pinned_alloc_bytes_per_s = median(pinned);
  return m;
}

}  // namespace kvsim::kernels
