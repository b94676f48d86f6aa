#include "sim/core/dtype.h"

namespace kvsim {

double dtype_bits(DType t) {
  switch (t) {
    case DType::kFp32:
      return 32;
    case DType::kFp16:
      return 16;
    case DType::kBf16:
      return 16;
    case DType::kFp8:
      return 8;
    case DType::kInt8:
      return 8;
    case DType::kInt4:
      return 4;
    case DType::kMxfp4:
      return 4.25;
    case DType::kInt2:
      return 2;
  }
  return 16;
}

std::string_view dtype_name(DType t) {
  switch (t) {
    case DType::kFp32:
      return "fp32";
    case DType::kFp16:
      return "fp16";
    case DType::kBf16:
      return "bf16";
    case DType::kFp8:
      return "fp8";
    case DType::kInt8:
      return "int8";
    case DType::kInt4:
      return "int4";
    case DType::kMxfp4:
      return "mxfp4";
    case DType::kInt2:
      return "int2";
  }
  return "?";
}

std::optional<DType> parse_dtype(std::string_view name) {
  if (name == "fp32" || name == "float32") return DType::kFp32;
  if (name == "fp16" || name == "float16" || name == "half") return DType::kFp16;
  if (name == "bf16" || name == "bfloat16") return DType::kBf16;
  if (name == "fp8" || name == "float8" || name == "fp8_e4m3") return DType::kFp8;
  if (name == "int8") return DType::kInt8;
  if (name == "int4") return DType::kInt4;
  if (name == "mxfp4") return DType::kMxfp4;
  if (name == "int2") return DType::kInt2;
  return std::nullopt;
}

const std::vector<std::string>& dtype_names() {
  static const std::vector<std::string> kNames = {"fp32", "fp16", "bf16", "fp8", "int8", "int4", "mxfp4", "int2"};
  return kNames;
}

}  // namespace kvsim
