// Weight bytes of quantised checkpoints: vLLM quantises only the linear layers, so the embeddings, lm_head and
// norms of an FP8 checkpoint stay in its 16-bit dtype (Fp8Config.get_quant_method; compressed-tensors' ignore list).
#include <string>

#include <gtest/gtest.h>

#include "models/model_loader.h"
#include "models/model_spec.h"

namespace kvsim::models {
namespace {

constexpr double kGiB = 1024.0 * 1024.0 * 1024.0;

std::string fixture(const std::string& name) {
  return std::string(KVSIM_TEST_SOURCE_DIR) + "/tests/models/fixtures/" + name + ".config.json";
}

// Hyper-parameters of meta-llama/Llama-3.3-70B-Instruct with the quantization_config of
// RedHatAI/Llama-3.3-70B-Instruct-FP8 (compressed-tensors, float-quantized, ignore: [lm_head]).
TEST(QuantizedWeights, Fp8CheckpointImportsFp8LinearLayers) {
  const ModelSpec m = load_model(fixture("llama-3.3-70b-fp8"));
  EXPECT_TRUE(m.has_weight_dtype);
  EXPECT_EQ(m.weight_dtype, DType::kFp8);
  EXPECT_EQ(m.dtype, DType::kBf16);
  EXPECT_EQ(unquantized_dtype(m, DType::kFp8), DType::kBf16);
  EXPECT_EQ(unquantized_dtype(m, DType::kFp16), DType::kFp16);
}

TEST(QuantizedWeights, Fp8KeepsEmbeddingsLmHeadAndNormsAt16Bit) {
  const ModelSpec m = load_model(fixture("llama-3.3-70b-fp8"));
  const ParamCounts p = parameter_counts(m);
  const double matrices = static_cast<double>(p.attention + p.mlp_dense);  // Llama: no biases
  const double rest = static_cast<double>(p.embedding + p.lm_head + p.norms);
  EXPECT_DOUBLE_EQ(weight_bytes_per_gpu(m, DType::kFp8, 1), matrices * 1.0 + rest * 2.0);
  EXPECT_DOUBLE_EQ(weight_bytes_per_gpu(m, DType::kBf16, 1), (matrices + rest) * 2.0);
  // The layers' share (what FlexGen streams) holds only layer weights: fp8 matrices, bf16 norms.
  const double outside = static_cast<double>(p.embedding + p.lm_head) * 2.0 + m.hidden_size * 2.0;
  EXPECT_DOUBLE_EQ(layer_weight_bytes_per_gpu(m, DType::kFp8, 1), weight_bytes_per_gpu(m, DType::kFp8, 1) - outside);
}

// llm-d-benchmark config_explorer/empirical-vllm-memory-results.md (REFERENCES.md): Llama-3.3-70B-FP8 at tp=2 on
// H100, "model weights" 33.88 GiB per GPU. Embeddings and lm_head at 1 B would give 32.9 GiB.
TEST(QuantizedWeights, Llama33_70bFp8Tp2MatchesVllmLog) {
  const ModelSpec m = load_model(fixture("llama-3.3-70b-fp8"));
  EXPECT_NEAR(weight_bytes_per_gpu(m, m.weight_dtype, 2) / kGiB, 33.88, 33.88 * 0.005);
}

TEST(QuantizedWeights, UnquantizedFormatsAreUnchanged) {
  const ModelSpec m = load_model("llama-3.1-8b");
  const ParamCounts p = parameter_counts(m);
  EXPECT_DOUBLE_EQ(weight_bytes_per_gpu(m, DType::kBf16, 1), static_cast<double>(p.total()) * 2.0);
  EXPECT_DOUBLE_EQ(weight_bytes_per_gpu(m, DType::kFp32, 1), static_cast<double>(p.total()) * 4.0);
}

}  // namespace
}  // namespace kvsim::models
