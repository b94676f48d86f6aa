// FlexGen's weight placement as its released code applies `--percent` (FlexLLMGen flexllmgen/flex_opt.py,
// init_weight_list and get_choice, lines 82-131 at 004ffef): within each layer object (the input embedding, each
// decoder layer's attention and MLP, the output embedding) every tensor goes, whole, to the tier where the midpoint of
// its cumulative size falls, with the percentages laid out in the order disk, CPU, GPU. So "20 % on the GPU" puts only
// the tensors at the end of each object there: for OPT the attention's output projection, its bias and the norms, 1/12
// of a decoder layer, and neither copy of the token embedding (OutputEmbed loads its own copy of the tied table).
#pragma once

#include "models/model_spec.h"

namespace kvsim::models {

struct FlexGenWeightPlacement {
  // Shares of one decoder layer's weight elements homed on the GPU and on disk (host memory holds the rest).
  double layer_gpu = 1.0, layer_disk = 0.0;
  // Elements (per GPU at tp) of the input embedding object (token table + learned position table) and the output
  // embedding object (final norm + token table) homed off the GPU: FlexGen copies them to the GPU once per step.
  double embed_off_gpu_elems = 0.0;
  double embed_gpu_elems = 0.0;              // ... and homed on the GPU
  double largest_embed_off_gpu_elems = 0.0;  // the larger of the two objects' off-GPU parts (one is loaded at a time)
};

// gpu + cpu + disk = 1. A mixture-of-experts model is placed by the shares themselves (FlexGen has no MoE layer).
FlexGenWeightPlacement flexgen_weight_placement(const ModelSpec& m, double gpu, double cpu, double disk, int tp = 1);

// The same placement in bytes per GPU, the weights stored as weight_dtype (embeddings unquantized).
struct FlexGenWeightBytes {
  FlexGenWeightPlacement placement;
  // Held on the GPU: the homed tensors and embeddings, and the double buffer the off-GPU ones stream through (two
  // decoder layers' streamed share, or one and the larger embedding object's off-GPU part when that is bigger).
  double gpu_bytes = 0;
  double streamed_bytes = 0;        // homed off the GPU (layers and embeddings), copied in once per forward pass
  double disk_bytes = 0;            // of the layers' tensors, those homed on disk
  double embed_streamed_bytes = 0;  // of streamed_bytes, the embeddings'
};
FlexGenWeightBytes flexgen_weight_bytes(const ModelSpec& m, DType weight_dtype, double gpu, double cpu, double disk,
                                        int tp = 1);

}  // namespace kvsim::models
