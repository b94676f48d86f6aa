#include "hw/hardware_loader.h"

#include <algorithm>
#include <filesystem>

#include <fmt/format.h>

#include "hw/measured_yaml.h"
#include "sim/core/error.h"
#include "sim/core/limits.h"
#include "sim/core/paths.h"

namespace kvsim::hw {

namespace fs = std::filesystem;

namespace {

const std::vector<std::string> kSources = {"datasheet", "measured"};
const std::vector<std::string> kFabrics = {"none", "nvswitch", "bridge"};

std::string fabric_name(NvlinkFabric f) {
  switch (f) {
    case NvlinkFabric::kNvswitch:
      return "nvswitch";
    case NvlinkFabric::kBridge:
      return "bridge";
    case NvlinkFabric::kNone:
      break;
  }
  return "none";
}

NvlinkFabric parse_fabric(const std::string& s) {
  if (s == "nvswitch") return NvlinkFabric::kNvswitch;
  if (s == "bridge") return NvlinkFabric::kBridge;
  return NvlinkFabric::kNone;
}

uint64_t req_bytes(const yaml::Map& map, std::string_view key) {
  const auto v = map.opt_bytes(key);
  if (!v) map.fail(key, "required key is missing (expected a byte size such as 80GiB)");
  if (*v == 0) map.fail(key, "expected a byte size > 0, found 0");
  return *v;
}

std::vector<std::string> read_citations(const yaml::Map& map, bool required) {
  const YAML::Node n = map.raw("citations");
  std::vector<std::string> out;
  if (!n.IsDefined() || n.IsNull()) {
    if (required) map.fail("citations", "required for source: datasheet (a list of where the numbers come from)");
    return out;
  }
  if (!n.IsSequence()) map.fail_expected("citations", "a list of strings");
  for (size_t i = 0; i < n.size(); ++i) {
    if (!n[i].IsScalar() || n[i].Scalar().empty()) {
      throw Error(yaml::place_of_node(n[i], *map.source()),
                  fmt::format("{}[{}]: expected a non-empty string, found {}", map.path_of("citations"), i,
                              yaml::describe(n[i])));
    }
    out.push_back(n[i].Scalar());
  }
  if (required && out.empty()) map.fail("citations", "required for source: datasheet; found an empty list");
  return out;
}

GpuSpec read_gpu(const yaml::Map& m) {
  GpuSpec g;
  g.model = m.req_string("model");
  g.hbm_bytes = req_bytes(m, "hbm_bytes");
  g.hbm_bytes_per_s = m.req_double("hbm_bytes_per_s", 1e6, limits::kMaxBytesPerS);
  g.fp16_flops = m.get_double("fp16_flops", 0, 0, limits::kMaxFlopsPerS);
  g.bf16_flops = m.get_double("bf16_flops", 0, 0, limits::kMaxFlopsPerS);
  g.fp8_flops = m.get_double("fp8_flops", 0, 0, limits::kMaxFlopsPerS);
  g.int8_ops = m.get_double("int8_ops", 0, 0, limits::kMaxFlopsPerS);
  g.fp32_flops = m.req_double("fp32_flops", 0, limits::kMaxFlopsPerS, true);
  g.sm_count = m.req_int("sm_count", 1, limits::kMaxCores);
  g.boost_clock_hz = m.get_double("boost_clock_hz", 0, 0, limits::kMaxClockHz);
  g.sustained_clock_hz = m.get_double("sustained_clock_hz", 0, 0, limits::kMaxClockHz);
  if (g.sustained_clock_hz > 0 && !(g.boost_clock_hz > 0)) {
    m.fail("sustained_clock_hz", "needs gpu.boost_clock_hz, the clock the datasheet's peaks are quoted at");
  }
  if (g.sustained_clock_hz > g.boost_clock_hz) {
    m.fail("sustained_clock_hz", fmt::format("must not exceed gpu.boost_clock_hz ({}), found {}", g.boost_clock_hz,
                                             g.sustained_clock_hz));
  }
  g.max_threads_per_sm = m.get_int("max_threads_per_sm", 0, 0, 65536);
  g.l2_bytes = m.opt_bytes("l2_bytes").value_or(0);
  g.nvlink_bytes_per_s = m.get_double("nvlink_bytes_per_s", 0, 0, limits::kMaxBytesPerS);
  g.nvlink_fabric = parse_fabric(m.get_choice("nvlink_fabric", "none", kFabrics));
  g.p2p = m.get_bool("p2p", true);
  g.tdp_w = m.get_double("tdp_w", 0, 0, limits::kMaxPowerW);
  m.finish();
  if (g.fp16_flops <= 0 && g.bf16_flops <= 0) {
    m.fail("fp16_flops", "a GPU needs a half-precision peak: set fp16_flops or bf16_flops > 0");
  }
  if ((g.nvlink_bytes_per_s > 0) != (g.nvlink_fabric != NvlinkFabric::kNone)) {
    m.fail("nvlink_fabric", fmt::format("'{}' does not match nvlink_bytes_per_s {} (use 'none' exactly when the GPU "
                                        "has no NVLink)",
                                        fabric_name(g.nvlink_fabric), g.nvlink_bytes_per_s));
  }
  return g;
}

PcieSpec read_pcie(const yaml::Map& m) {
  PcieSpec p;
  p.gen = static_cast<int>(m.req_int("gen", 1, 7));
  p.lanes = static_cast<int>(m.req_int("lanes", 1, 16));
  if (p.lanes != 1 && p.lanes != 2 && p.lanes != 4 && p.lanes != 8 && p.lanes != 16) {
    m.fail("lanes", fmt::format("expected one of 1, 2, 4, 8, 16, found {}", p.lanes));
  }
  p.h2d_bytes_per_s = m.req_double("h2d_bytes_per_s", 1e3, limits::kMaxBytesPerS);
  p.d2h_bytes_per_s = m.req_double("d2h_bytes_per_s", 1e3, limits::kMaxBytesPerS);
  p.bidir_bytes_per_s = m.req_double("bidir_bytes_per_s", 1e3, limits::kMaxBytesPerS);
  p.latency_ns = m.get_double("latency_ns", 0, 0, limits::kMaxLatencyNs);
  p.gpus_per_switch = m.get_int("gpus_per_switch", 1, 1, 1024);
  m.finish();
  // 0.1 % slack for rounding in the written value.
  const double limit = pcie_theoretical_bytes_per_s(p.gen, p.lanes) * 1.001;
  for (const char* key : {"h2d_bytes_per_s", "d2h_bytes_per_s"}) {
    const double v = std::string_view(key) == "h2d_bytes_per_s" ? p.h2d_bytes_per_s : p.d2h_bytes_per_s;
    if (v > limit) {
      m.fail(key, fmt::format("{:.4g} B/s exceeds the theoretical {:.4g} B/s of PCIe gen{} x{}", v, limit / 1.001,
                              p.gen, p.lanes));
    }
  }
  const double one_way = std::max(p.h2d_bytes_per_s, p.d2h_bytes_per_s);
  if (p.bidir_bytes_per_s > p.h2d_bytes_per_s + p.d2h_bytes_per_s) {
    m.fail("bidir_bytes_per_s", fmt::format("{:.4g} B/s exceeds h2d + d2h = {:.4g} B/s (both directions together "
                                            "cannot move more than twice one direction)",
                                            p.bidir_bytes_per_s, p.h2d_bytes_per_s + p.d2h_bytes_per_s));
  }
  if (p.bidir_bytes_per_s < one_way) {
    m.fail("bidir_bytes_per_s",
           fmt::format("{:.4g} B/s is below one direction alone ({:.4g} B/s)", p.bidir_bytes_per_s, one_way));
  }
  return p;
}

HostSpec read_host(const yaml::Map& m) {
  HostSpec h;
  h.dram_bytes = req_bytes(m, "dram_bytes");
  h.dram_bytes_per_s = m.req_double("dram_bytes_per_s", 1e6, limits::kMaxBytesPerS);
  h.cpu_cores = m.get_int("cpu_cores", 0, 0, limits::kMaxCores);
  h.sockets = m.get_int("sockets", 1, 1, 64);
  h.socket_link_bytes_per_s = m.get_double("socket_link_bytes_per_s", 0, 0, limits::kMaxBytesPerS);
  h.attention_flops_per_s = m.get_double("attention_flops_per_s", 0, 0, limits::kMaxFlopsPerS);
  h.eager_op_us = m.get_double("eager_op_us", 0, 0, 1e6);
  m.finish();
  if (h.sockets > 1 && h.socket_link_bytes_per_s <= 0) {
    m.fail("socket_link_bytes_per_s", fmt::format("required (> 0) when sockets is {}", h.sockets));
  }
  return h;
}

}  // namespace

double pcie_theoretical_bytes_per_s(int gen, int lanes) {
  // Per-lane transfer rate in GT/s and encoding efficiency, PCI-SIG PCI Express Base Specifications 1.0-7.0.
  double gts = 0, efficiency = 128.0 / 130.0;
  switch (gen) {
    case 1:
      gts = 2.5, efficiency = 0.8;
      break;
    case 2:
      gts = 5.0, efficiency = 0.8;
      break;
    case 3:
      gts = 8.0;
      break;
    case 4:
      gts = 16.0;
      break;
    case 5:
      gts = 32.0;
      break;
    case 6:
      gts = 64.0, efficiency = 242.0 / 256.0;
      break;
    case 7:
      gts = 128.0, efficiency = 242.0 / 256.0;
      break;
    default:
      return 0;
  }
  return gts * 1e9 * efficiency * lanes / 8.0;
}

HardwareProfile parse_hardware_yaml(const YAML::Node& node, std::shared_ptr<const yaml::Source> source) {
  const std::string stem = fs::path(source->file).stem().string();
  yaml::Map map(node, source);
  HardwareProfile h;
  h.file = source->file;
  h.name = map.get_string("name", stem);
  h.source = map.get_choice("source", "", kSources);
  if (h.source.empty()) map.fail("source", "required key is missing (expected one of datasheet, measured)");
  h.description = map.get_string("description", "");
  h.citations = read_citations(map, h.source == "datasheet");
  h.gpus_per_node = map.get_int("gpus_per_node", 1, 1, 1024);
  h.gpu_hour_usd = map.get_double("gpu_hour_usd", 0, 0, 1e6);
  h.price_source = map.get_string("price_source", "");
  h.price_date = map.get_string("price_date", "");
  if (h.gpu_hour_usd <= 0 && !(h.price_source.empty() && h.price_date.empty())) {
    map.fail(h.price_source.empty() ? "price_date" : "price_source", "a price's source or date needs gpu_hour_usd > 0");
  }
  h.gpu = read_gpu(map.child("gpu"));
  h.pcie = read_pcie(map.child("pcie"));
  h.host = read_host(map.child("host"));
  if (map.has("measured")) {
    if (h.source != "measured") {
      map.fail("measured", fmt::format("only a profile with source: measured may carry measured curves (this one has "
                                       "source: {})",
                                       h.source));
    }
    h.measured = parse_measured_yaml(map.child("measured"));
    // A measured PCIe copy cannot beat the link: both directions at once at most twice its one-way peak.
    const double link = pcie_theoretical_bytes_per_s(h.pcie.gen, h.pcie.lanes);
    for (const auto& [name, curve] : h.measured->bandwidth) {
      if (!name.starts_with("pcie/")) continue;
      const double most = *std::max_element(curve.y.begin(), curve.y.end());
      const double cap = (name.find("duplex") != std::string::npos ? 2.0 : 1.0) * link * 1.05;
      if (most > cap) {
        const yaml::Map measured = map.child("measured");
        measured.child("bandwidth").fail(name, fmt::format("{:.4g} B/s exceeds the {:.4g} B/s PCIe gen{} x{} can carry",
                                                           most, cap / 1.05, h.pcie.gen, h.pcie.lanes));
      }
    }
  } else {
    map.raw("measured");
  }
  map.finish();
  if (!map.has("gpu")) map.fail("gpu", "required section is missing");
  if (!map.has("pcie")) map.fail("pcie", "required section is missing");
  if (!map.has("host")) map.fail("host", "required section is missing");
  if (h.pcie.gpus_per_switch > h.gpus_per_node) {
    map.child("pcie").fail("gpus_per_switch",
                           fmt::format("{} exceeds gpus_per_node {}", h.pcie.gpus_per_switch, h.gpus_per_node));
  }
  return h;
}

std::string hardware_catalog_dir() { return (fs::path(data_root()) / "hw" / "catalog").string(); }

std::vector<std::string> hardware_catalog_names() { return catalog_names(hardware_catalog_dir()); }

const std::vector<std::pair<std::string, std::string>>& gpu_aliases() {
  // Short names for the part people usually mean: an "H100" or "A100" in the cloud and in vLLM's published
  // benchmarks is the SXM board with its full memory (NVIDIA's H100 and A100 datasheets list SXM and PCIe parts).
  static const std::vector<std::pair<std::string, std::string>> kAliases = {
      {"h100", "h100-sxm5-80gb"},     {"h100-80gb", "h100-sxm5-80gb"}, {"h100-sxm", "h100-sxm5-80gb"},
      {"h100-pcie", "h100-pcie-80gb"}, {"h200", "h200-sxm-141gb"},      {"a100", "a100-sxm4-80gb"},
      {"a100-80gb", "a100-sxm4-80gb"}, {"a100-40gb", "a100-sxm4-40gb"}, {"a100-pcie", "a100-pcie-80gb"},
      {"l40s", "l40s-48gb"},           {"l4", "l4-24gb"},               {"a10g", "a10g-24gb"},
      {"a40", "a40-48gb"},             {"t4", "t4-16gb"},               {"4090", "rtx-4090-24gb"},
      {"a6000", "rtx-a6000-48gb"}};
  return kAliases;
}

HardwareProfile load_hardware(const std::string& name_or_path) {
  auto source = std::make_shared<yaml::Source>();
  source->file =
      resolve_catalog_entry(name_or_path, hardware_catalog_dir(), "hardware", "a path to a hardware profile .yaml",
                            gpu_aliases());
  return parse_hardware_yaml(yaml::load_file(source->file), source);
}

YAML::Node hardware_to_yaml(const HardwareProfile& h) {
  YAML::Node n(YAML::NodeType::Map);
  n["name"] = h.name;
  n["source"] = h.source;
  n["description"] = h.description;
  YAML::Node cites(YAML::NodeType::Sequence);
  for (const auto& c : h.citations) cites.push_back(c);
  n["citations"] = cites;
  n["gpus_per_node"] = h.gpus_per_node;
  if (h.gpu_hour_usd > 0) n["gpu_hour_usd"] = yaml::number(h.gpu_hour_usd);
  if (!h.price_source.empty()) n["price_source"] = h.price_source;
  if (!h.price_date.empty()) n["price_date"] = h.price_date;

  YAML::Node g(YAML::NodeType::Map);
  g["model"] = h.gpu.model;
  g["hbm_bytes"] = h.gpu.hbm_bytes;
  g["hbm_bytes_per_s"] = yaml::number(h.gpu.hbm_bytes_per_s);
  g["fp16_flops"] = yaml::number(h.gpu.fp16_flops);
  g["bf16_flops"] = yaml::number(h.gpu.bf16_flops);
  g["fp8_flops"] = yaml::number(h.gpu.fp8_flops);
  g["int8_ops"] = yaml::number(h.gpu.int8_ops);
  g["fp32_flops"] = yaml::number(h.gpu.fp32_flops);
  g["sm_count"] = h.gpu.sm_count;
  if (h.gpu.boost_clock_hz > 0) g["boost_clock_hz"] = yaml::number(h.gpu.boost_clock_hz);
  if (h.gpu.sustained_clock_hz > 0) g["sustained_clock_hz"] = yaml::number(h.gpu.sustained_clock_hz);
  if (h.gpu.max_threads_per_sm > 0) g["max_threads_per_sm"] = h.gpu.max_threads_per_sm;
  g["l2_bytes"] = h.gpu.l2_bytes;
  g["nvlink_bytes_per_s"] = yaml::number(h.gpu.nvlink_bytes_per_s);
  g["nvlink_fabric"] = fabric_name(h.gpu.nvlink_fabric);
  g["p2p"] = h.gpu.p2p;
  g["tdp_w"] = yaml::number(h.gpu.tdp_w);
  n["gpu"] = g;

  YAML::Node p(YAML::NodeType::Map);
  p["gen"] = h.pcie.gen;
  p["lanes"] = h.pcie.lanes;
  p["h2d_bytes_per_s"] = yaml::number(h.pcie.h2d_bytes_per_s);
  p["d2h_bytes_per_s"] = yaml::number(h.pcie.d2h_bytes_per_s);
  p["bidir_bytes_per_s"] = yaml::number(h.pcie.bidir_bytes_per_s);
  p["latency_ns"] = yaml::number(h.pcie.latency_ns);
  p["gpus_per_switch"] = h.pcie.gpus_per_switch;
  n["pcie"] = p;

  YAML::Node o(YAML::NodeType::Map);
  o["dram_bytes"] = h.host.dram_bytes;
  o["dram_bytes_per_s"] = yaml::number(h.host.dram_bytes_per_s);
  o["cpu_cores"] = h.host.cpu_cores;
  o["sockets"] = h.host.sockets;
  o["socket_link_bytes_per_s"] = yaml::number(h.host.socket_link_bytes_per_s);
  if (h.host.attention_flops_per_s > 0) o["attention_flops_per_s"] = yaml::number(h.host.attention_flops_per_s);
  if (h.host.eager_op_us > 0) o["eager_op_us"] = yaml::number(h.host.eager_op_us);
  n["host"] = o;
  if (h.measured) n["measured"] = measured_to_yaml(*h.measured);
  return n;
}

}  // namespace kvsim::hw
