#include "hw/hardware_profile.h"

namespace kvsim::hw {

double HardwareProfile::peak_flops(DType dtype) const {
  // Engines cast bf16 models to fp16 on GPUs without bf16 tensor cores (vLLM does so on compute capability < 8.0,
  // e.g. the T4), so a missing bf16 peak falls back to fp16 and vice versa.
  const double half = gpu.bf16_flops > 0 ? gpu.bf16_flops : gpu.fp16_flops;
  const double fp16 = gpu.fp16_flops > 0 ? gpu.fp16_flops : gpu.bf16_flops;
  switch (dtype) {
    case DType::kFp32:
      return gpu.fp32_flops;
    case DType::kFp16:
      return fp16;
    case DType::kBf16:
      return half;
    case DType::kFp8:
      // GPUs without fp8 tensor cores (Ampere, Turing) upcast fp8 weights and KV to fp16 before the math.
      return gpu.fp8_flops > 0 ? gpu.fp8_flops : fp16;
    case DType::kInt8:
      // Math in int8 (W8A8, SmoothQuant style) runs at the int8 tensor peak; without one, int8 dequantises to fp16.
      return gpu.int8_ops > 0 ? gpu.int8_ops : fp16;
    case DType::kInt4:
    case DType::kMxfp4:
    case DType::kInt2:
      // Weight-only formats: dequantised to bf16/fp16 in the kernel, the math runs at the half-precision peak.
      return half;
  }
  return 0;
}

}  // namespace kvsim::hw
