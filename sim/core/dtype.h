// Numeric formats of weights, activations and KV entries, with their storage size in bits.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace kvsim {

enum class DType { kFp32, kFp16, kBf16, kFp8, kInt8, kInt4, kMxfp4, kInt2 };

// Bits per element including per-block scale metadata where the format defines it:
// MXFP4 = 4-bit E2M1 elements + one 8-bit E8M0 scale per 32 elements (OCP Microscaling spec v1.0) = 4.25 bits.
double dtype_bits(DType t);
inline double dtype_bytes(DType t) { return dtype_bits(t) / 8.0; }

std::string_view dtype_name(DType t);
std::optional<DType> parse_dtype(std::string_view name);  // "fp16", "float16", "bf16", "bfloat16", "fp8", ...
const std::vector<std::string>& dtype_names();

}  // namespace kvsim
