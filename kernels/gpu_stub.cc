// Stand-ins for the GPU suites in a build without CUDA (compiled only when KVSIM_HAVE_CUDA is off; the real ones are
// kernels/cuda/*.cu): the probe says why there is no device, and every GPU suite throws a kvsim::Error saying so.
#include <string>

#include "kernels/cuda/checks.h"
#include "kernels/mini_engine.h"
#include "kernels/suite.h"
#include "sim/core/error.h"

namespace kvsim::kernels {

namespace {

[[noreturn]] void no_cuda(const char* what) { throw Error(std::string(what) + ": this kvsim was built without CUDA"); }

}  // namespace

bool built_with_cuda() { return false; }

std::optional<DeviceInfo> probe_device(int /*device*/, std::string* why) {
  if (why) *why = "built without CUDA";
  return std::nullopt;
}

std::vector<hw::RawSample> run_pcie_suite(const SuiteOptions&) { no_cuda("pcie suite"); }
std::vector<hw::RawSample> run_hbm_suite(const SuiteOptions&) { no_cuda("hbm suite"); }
std::vector<hw::RawSample> run_gather_suite(const SuiteOptions&) { no_cuda("gather suite"); }
std::vector<hw::RawSample> run_gemm_suite(const SuiteOptions&) { no_cuda("gemm suite"); }
std::vector<hw::RawSample> run_attention_suite(const SuiteOptions&) { no_cuda("attention suite"); }
std::vector<hw::RawSample> run_launch_suite(const SuiteOptions&) { no_cuda("launch suite"); }
std::vector<double> run_mini_engine(const MiniEngineModel&, const std::vector<MiniIteration>&,
                                    const MiniEngineOptions&) {
  no_cuda("mini engine");
}

DecodeCheck check_decode_attention(int, const DecodeCheckShape&) { no_cuda("decode attention check"); }
size_t decode_scratch_bytes(int, const DecodeCheckShape&) { no_cuda("decode scratch size"); }
DecodeCheck check_prefill_attention(int, int64_t, int64_t) { no_cuda("prefill attention check"); }

}  // namespace kvsim::kernels
