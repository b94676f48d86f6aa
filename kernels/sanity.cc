// Sanity checks of a measured profile (kernels/sanity.h). The ranges are the H100 SXM figures that a healthy card
// and correct microbenchmarks give, as fractions of its datasheet so that they carry over to H200 and A100:
//   HBM read >= 2.7 TB/s of 3.35 (0.80): a read kernel reaches 80-90 % of HBM peak on Hopper (NVIDIA's
//     STREAM-like results; this project's device notes saw ~3.0 TB/s counting read + write on a D2D copy);
//   pinned H2D and D2H 45-57 GB/s of PCIe 5.0 x16's 63.0 (0.71-0.90): DMA over PCIe delivers 75-90 % of the link
//     after TLP headers (PCIe 5.0 spec, 256-byte payloads), less on a busy host;
//   duplex between 1x and 2x one direction: a full-duplex link cannot add more than the second direction;
//   empty-kernel launch 2-6 us of host time (CUDA launch overhead on x86 hosts, REFERENCES.md: 2-10 us);
//   bf16 GEMM at 8K tokens >= 550 TFLOP/s of 989 (0.556): cuBLASLt reaches 60-80 % of dense peak on large
//     projections (this project's device notes: 798 TFLOP/s on 8192^3);
//   decode attention >= 0.8 x HBM read at context >= 4K, batch >= 32 (the kernel's target, decode_attention.cu);
//   an m = 1 bf16 GEMM moves its weights at no more than HBM read (faster means weights came from L2).
#include "kernels/sanity.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include <fmt/format.h>

namespace kvsim::kernels {

namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr double kHbmReadShare = 0.80;    // 2.7 / 3.35 TB/s
constexpr double kPcieLowShare = 0.71;    // 45 / 63 GB/s
constexpr double kPcieHighShare = 0.905;  // 57 / 63 GB/s
constexpr double kGemmBf16Share = 0.556;  // 550 / 989 TFLOP/s
constexpr double kDecodeOfRead = 0.80;
constexpr double kLaunchLowNs = 2000, kLaunchHighNs = 6000;
constexpr double kOneGiB = 1024.0 * 1024 * 1024;

double param(const hw::RawSample& s, const char* key) {
  const auto it = s.params.find(key);
  return it == s.params.end() ? NAN : it->second;
}

// The median of `series` samples of `suite` at the largest size >= min_bytes; NaN when none.
double at_largest(const hw::MeasuredProfile& m, const char* suite, const char* series, double min_bytes) {
  double best_bytes = -1;
  std::vector<double> values;
  for (const auto& s : m.samples) {
    if (s.suite != suite || s.series != series) continue;
    const double bytes = param(s, "bytes");
    if (!(bytes >= min_bytes)) continue;
    if (bytes > best_bytes) {
      best_bytes = bytes;
      values.clear();
    }
    if (bytes == best_bytes) values.push_back(s.value);
  }
  if (values.empty()) return NAN;
  std::sort(values.begin(), values.end());
  return values[values.size() / 2];
}

SanityCheck check(std::string name, std::string what, double value, double low, double high, std::string unit,
                  std::string basis) {
  SanityCheck c{std::move(name), std::move(what), value, low, high, std::move(unit), std::move(basis), false, false};
  c.measured = std::isfinite(value);
  c.passed = c.measured && std::isfinite(low) && value >= low && value <= high;
  return c;
}

std::string shown(double v, const std::string& unit) {
  if (!std::isfinite(v)) return v > 0 ? "inf" : "-";
  if (unit == "bytes_per_s") return fmt::format("{:.1f} GB/s", v / 1e9);
  if (unit == "flops_per_s") return fmt::format("{:.0f} TFLOP/s", v / 1e12);
  if (unit == "ns") return fmt::format("{:.2f} us", v / 1e3);
  return fmt::format("{:.3f}", v);
}

}  // namespace

std::vector<SanityCheck> sanity_checks(const hw::HardwareProfile& p) {
  std::vector<SanityCheck> out;
  static const hw::MeasuredProfile kEmpty;
  const hw::MeasuredProfile& m = p.measured ? *p.measured : kEmpty;
  const double hbm = p.gpu.hbm_bytes_per_s, link = p.pcie.h2d_bytes_per_s;

  const double read = at_largest(m, "hbm", "read", kOneGiB);
  out.push_back(check("hbm_read", "HBM read bandwidth at the largest size >= 1 GiB", read, kHbmReadShare * hbm, kInf,
                      "bytes_per_s", fmt::format(">= {:.2f} x datasheet {:.2f} TB/s", kHbmReadShare, hbm / 1e12)));
  for (const char* dir : {"h2d_pinned", "d2h_pinned"}) {
    out.push_back(check(fmt::format("pcie_{}", dir), fmt::format("pinned {} at the largest size >= 256 MiB", dir),
                        at_largest(m, "pcie", dir, 256.0 * 1024 * 1024), kPcieLowShare * link, kPcieHighShare * link,
                        "bytes_per_s",
                        fmt::format("{:.2f}-{:.2f} x link {:.1f} GB/s", kPcieLowShare, kPcieHighShare, link / 1e9)));
  }
  {
    const double big = 256.0 * 1024 * 1024;
    const double one = std::max(at_largest(m, "pcie", "h2d_pinned", big), at_largest(m, "pcie", "d2h_pinned", big));
    const double duplex = at_largest(m, "pcie", "duplex_pinned", big);
    out.push_back(check("pcie_duplex_ratio", "duplex (both directions, summed) over the faster direction", duplex / one,
                        1.0, 2.0, "ratio", "between 1 and 2"));
  }
  out.push_back(check("launch", "host time per empty-kernel launch (launch_ns)", m.launch_ns > 0 ? m.launch_ns : NAN,
                      kLaunchLowNs, kLaunchHighNs, "ns", "2-6 us"));
  {
    double best = NAN;
    for (const auto& g : m.gemm) {
      if (g.dtype == "bf16" && g.m == 8192 && !(g.flops_per_s <= best)) best = g.flops_per_s;
    }
    const double peak = p.gpu.bf16_flops;
    out.push_back(check("gemm_bf16_8k", "best bf16 GEMM at m = 8192 over the catalog shapes", best,
                        kGemmBf16Share * peak, kInf, "flops_per_s",
                        fmt::format(">= {:.3f} x dense peak {:.0f} TFLOP/s", kGemmBf16Share, peak / 1e12)));
  }
  {
    double worst = NAN;
    for (const auto& s : m.samples) {
      if (s.suite != "attention" || s.series.rfind("decode/bs", 0) != 0) continue;
      if (!(param(s, "context") >= 4096 && param(s, "batch") >= 32)) continue;
      if (!(s.value >= worst)) worst = s.value;
    }
    out.push_back(check("decode_attention_of_read", "slowest decode attention at context >= 4K, batch >= 32 / HBM read",
                        worst / read, kDecodeOfRead, kInf, "ratio", ">= 0.8 (decode_attention.cu's target)"));
  }
  {
    double fastest = NAN;
    for (const auto& g : m.gemm) {
      if (g.dtype == "bf16" && g.m == 1 && !(g.flops_per_s <= fastest)) fastest = g.flops_per_s;
    }
    // bf16, m = 1: 2 n k FLOPs for 2 n k weight bytes, so bytes/s = FLOP/s.
    out.push_back(check("gemm_m1_bytes_of_read", "fastest m = 1 bf16 GEMM's weight bytes/s over HBM read",
                        fastest / read, 0, 1.0, "ratio", "<= 1 (weights from HBM, not L2)"));
  }
  return out;
}

std::string format_sanity(const std::vector<SanityCheck>& checks) {
  std::string out;
  for (const auto& c : checks) {
    const std::string range = fmt::format("[{}, {}]", shown(c.low, c.unit), shown(c.high, c.unit));
    out += fmt::format("{:<7} {:<26} {:>16}  in {:<34} {}\n", c.passed ? "PASS" : (c.measured ? "FAIL" : "MISSING"),
                       c.name, shown(c.value, c.unit), range, c.basis);
  }
  return out;
}

}  // namespace kvsim::kernels
