// `kvsim calibrate`: picks the base profile from the probed GPU, builds the GEMM shapes from the model catalog
// (every projection of every model, split for tensor parallelism 1/2/4/8), and hands the rest to
// kernels::calibrate.
#include <algorithm>
#include <set>

#include <fmt/format.h>

#include "apps/commands.h"
#include "hw/hardware_loader.h"
#include "kernels/calibrate.h"
#include "kernels/sanity.h"
#include "models/model_loader.h"
#include "sim/core/error.h"

namespace kvsim::app {

namespace {

constexpr const char* kHostOnlyBase = "h100-sxm5-80gb";

bool contains(const std::string& haystack, const char* needle) { return haystack.find(needle) != std::string::npos; }

// The catalog profile for a CUDA device name ("NVIDIA H100 80GB HBM3", "NVIDIA A100-SXM4-40GB"), or "" if none fits.
std::string base_for_gpu(const kernels::DeviceInfo& d) {
  const std::string& n = d.name;
  const bool pcie = contains(n, "PCIe");
  const bool big = d.total_bytes > (48ull << 30);
  if (contains(n, "H200")) return "h200-sxm-141gb";
  if (contains(n, "H100")) return pcie ? "h100-pcie-80gb" : "h100-sxm5-80gb";
  if (contains(n, "A100")) return pcie ? "a100-pcie-80gb" : (big ? "a100-sxm4-80gb" : "a100-sxm4-40gb");
  if (contains(n, "L40S")) return "l40s-48gb";
  if (contains(n, "L40")) return "";  // an L40 is not an L40S: ask for --base
  if (contains(n, "A10G")) return "a10g-24gb";
  if (contains(n, "L4")) return "l4-24gb";
  if (contains(n, "4090")) return "rtx-4090-24gb";
  if (contains(n, "A6000")) return "rtx-a6000-48gb";
  if (contains(n, "T4")) return "t4-16gb";
  return "";
}

void print_written(const std::string& path, const hw::HardwareProfile& p, std::ostream& out) {
  const auto& m = *p.measured;
  out << fmt::format(
      "wrote {}: {} on {}, suites {}, {} bandwidth + {} gather curves, {} GEMM points, {} samples{}\n", path, p.name,
      m.device, m.suites.empty() ? "none" : join(m.suites), m.bandwidth.size(), m.gather.size(), m.gemm.size(),
      m.samples.size(),
      m.failures.empty() ? "" : fmt::format("; {} measurements failed (measured.failures)", m.failures.size()));
}

}  // namespace

std::vector<kernels::GemmShape> model_gemm_shapes(const models::ModelSpec& m, const std::string& name) {
  std::vector<kernels::GemmShape> shapes;
  std::set<std::pair<int64_t, int64_t>> seen;
  auto add = [&](const std::string& label, int64_t n, int64_t k) {
    if (n > 0 && k > 0 && seen.insert({n, k}).second) shapes.push_back({label, n, k});
  };
  for (const int tp : {1, 2, 4, 8}) {
    if (m.num_attention_heads % tp != 0) continue;
    const auto label = [&](const char* op) { return fmt::format("{}/{}/tp{}", name, op, tp); };
    const int64_t heads = m.num_attention_heads / tp;
    const int64_t width = (m.intermediate_size + tp - 1) / tp;
    const bool gated = m.mlp == models::MlpKind::kGated;
    if (m.is_mla()) {
      // DeepSeek-V2's attention (arXiv:2405.04434 sec. 2.1; config.json q_lora_rank, kv_lora_rank,
      // qk_nope_head_dim, qk_rope_head_dim, v_head_dim) as vLLM's DeepseekV2MLAAttention splits it: q_a_proj and
      // kv_a_proj_with_mqa replicated, q_b_proj (or q_proj), kv_b_proj and o_proj split by heads.
      const int64_t qk = m.qk_nope_head_dim + m.qk_rope_head_dim;
      if (m.q_lora_rank > 0) {
        add(label("q_a_proj"), m.q_lora_rank, m.hidden_size);
        add(label("q_b_proj"), heads * qk, m.q_lora_rank);
      } else {
        add(label("q_proj"), heads * qk, m.hidden_size);
      }
      add(label("kv_a_proj_with_mqa"), m.kv_lora_rank + m.qk_rope_head_dim, m.hidden_size);
      add(label("kv_b_proj"), heads * (m.qk_nope_head_dim + m.v_head_dim), m.kv_lora_rank);
      add(label("o_proj"), m.hidden_size, heads * m.v_head_dim);
    } else {
      const int64_t kv_heads = models::kv_heads_per_gpu(m, tp);
      add(label("qkv_proj"), (heads + 2 * kv_heads) * m.head_dim, m.hidden_size);
      add(label("o_proj"), m.hidden_size, heads * m.head_dim);
    }
    if (m.is_moe()) {
      add(label("experts_gate_up"), (gated ? 2 : 1) * width, m.hidden_size);
      add(label("experts_down"), m.hidden_size, width);
    } else {
      add(label(gated ? "gate_up_proj" : "fc1"), (gated ? 2 : 1) * width, m.hidden_size);
      add(label(gated ? "down_proj" : "fc2"), m.hidden_size, width);
    }
    add(label("lm_head"), (m.vocab_size + tp - 1) / tp, m.hidden_size);
  }
  return shapes;
}

std::vector<kernels::GemmShape> catalog_gemm_shapes() {
  std::vector<kernels::GemmShape> shapes;
  std::set<std::pair<int64_t, int64_t>> seen;
  for (const auto& model_name : models::model_catalog_names()) {
    for (const kernels::GemmShape& s : model_gemm_shapes(models::load_model(model_name), model_name)) {
      if (seen.insert({s.n, s.k}).second) shapes.push_back(s);
    }
  }
  return shapes;
}

int cmd_calibrate(const CalibrateArgs& args, std::ostream& out, std::ostream& err) {
  kernels::CalibrateOptions o;
  o.out_path = args.out;
  o.quick = args.quick;
  o.host_only = args.host_only;
  o.require_gpu = args.require_gpu;
  o.device = args.device;
  o.suites = args.suites;
  o.force = args.force;
  o.command_line = args.command_line.empty() ? "kvsim calibrate --out " + args.out : args.command_line;

  kernels::check_calibrate_options(o);  // before choosing a base, so a refusal is the only line printed
  if (args.require_gpu && args.host_only) {
    throw Error(Place{"--require-gpu"}, "contradicts --host-only: pass one of them");
  }
  if (args.require_gpu) {
    std::string why;
    if (!kernels::probe_device(args.device, &why)) throw Error(Place{"--require-gpu"}, "no usable GPU: " + why);
  }

  std::string base = args.base;
  if (base.empty()) {
    std::string why = "--host-only";
    std::optional<kernels::DeviceInfo> device;
    if (!args.host_only) device = kernels::probe_device(args.device, &why);
    if (device) {
      base = base_for_gpu(*device);
      if (base.empty()) {
        throw Error(Place{"--base"}, fmt::format("required: no catalog profile matches GPU '{}'; valid: {}",
                                                 device->name, join(hw::hardware_catalog_names())));
      }
      err << fmt::format("calibrate: base profile {} for {}\n", base, device->name);
    } else {
      base = kHostOnlyBase;
      err << fmt::format("calibrate: no --base given, using {} for the datasheet numbers (host-only run)\n", base);
    }
  }
  o.base = base;
  const hw::HardwareProfile base_profile = hw::load_hardware(base);

  o.suite.gemm_shapes = catalog_gemm_shapes();
  o.suite.gemm_tokens =
      args.quick ? std::vector<int64_t>{1, 16, 128, 1024, 8192}
                 : std::vector<int64_t>{1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384};
  o.suite.progress = [&err](const std::string& line) { err << "  " << line << "\n"; };

  print_written(args.out, kernels::calibrate(o, base_profile, err), out);
  return 0;
}

int cmd_refit_profiles(const CalibrateArgs& args, std::ostream& out, std::ostream& err) {
  if (args.host_only || args.quick || args.require_gpu || !args.suites.empty()) {
    throw Error(Place{"--refit"}, "measures nothing: --quick, --host-only, --require-gpu and --suites do not apply");
  }
  kernels::CalibrateOptions o;
  o.out_path = args.out;
  o.force = args.force;
  o.command_line = args.command_line.empty() ? "kvsim calibrate --refit ... --out " + args.out : args.command_line;
  std::optional<hw::HardwareProfile> base;
  if (!args.base.empty()) base = hw::load_hardware(args.base);
  print_written(args.out, kernels::refit_profiles(args.refit, o, base, err), out);
  return 0;
}

int cmd_sanity(const CalibrateArgs& args, std::ostream& out, std::ostream& err) {
  if (!args.out.empty() || !args.refit.empty() || args.quick || args.host_only || args.require_gpu ||
      !args.suites.empty()) {
    throw Error(Place{"--sanity"},
                "reads a profile and writes nothing: --out, --refit, --quick, --host-only, "
                "--require-gpu and --suites do not apply");
  }
  const hw::HardwareProfile p = hw::load_hardware(args.sanity);
  if (!p.measured) throw Error(Place{args.sanity}, "expected a measured profile (source: measured), found none");
  const auto checks = kernels::sanity_checks(p);
  out << fmt::format("sanity of {} ({}, {}measured {}):\n", args.sanity, p.measured->device,
                     p.measured->complete ? "" : "partially ", p.measured->date)
      << kernels::format_sanity(checks);
  const auto failed = std::count_if(checks.begin(), checks.end(), [](const auto& c) { return !c.passed; });
  if (failed > 0) err << fmt::format("calibrate --sanity: {} of {} checks did not pass\n", failed, checks.size());
  return failed > 0 ? 1 : 0;
}

}  // namespace kvsim::app
