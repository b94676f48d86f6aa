// How a forward pass runs, besides the model and the GPU: the cost model's configuration (CostModel, cost_model.h):
// precision, parallelism, CUDA graphs, the engine's host costs, and the KV-cache policies' switches, with the
// roofline efficiencies of the operators the operator model does not cover.
#pragma once

#include <cstdint>

#include "sim/core/dtype.h"

namespace kvsim::models {

// Roofline efficiencies of the operators the operator model does not cover (MoE experts, InfiniGen's partial keys,
// Quest's page scores, host attention): the share of a datasheet peak each is assumed to reach, with its source.
struct Efficiency {
  // cuBLAS GEMMs at LLM shapes reach 60-80 % of dense tensor peak on A100/H100 (Vidur, MLSys 2024, operator
  // profiles; NVIDIA Hopper tuning guide); 0.7 is the middle of that band.
  double gemm = 0.70;
  // Streaming kernels (weights, activations): a device-local copy on H100 reaches 2841-2901 GB/s of 3.35 TB/s,
  // 85-87 % (p2pBandwidthLatencyTest log, REFERENCES.md).
  double memory = 0.85;
  // Decode attention over a paged KV cache: DESIGN.md targets >= 80 % of the copy bandwidth for the paged kernel;
  // 0.8 x 0.85 = 0.68 of peak.
  double attention_memory = 0.68;
  // Fused flash-attention prefill: FlashAttention-2 reaches 50-73 % of A100 peak in the forward pass
  // (Dao, 2023, fig. 4); 0.55 assumed.
  double attention_compute = 0.55;
  // Attention on the host (FlexGen) streams the KV from DRAM: STREAM-like multi-threaded reads reach 70-80 % of
  // the DRAM channels' peak on server CPUs (McCalpin's STREAM results; Intel/AMD memory tuning guides). Assumption:
  // 0.75, the middle of that band; NUMA placement of the KV across sockets assumed local to the reading threads.
  double host_memory = 0.75;
};

// Per-iteration host cost. Two parts: the engine's serial CPU work each iteration (scheduling, input preparation,
// sampling, output processing: iteration_us + per_seq_us per sequence), during which the GPU idles; and the launch
// of the forward pass's kernels, which the CPU issues asynchronously ahead of the GPU, so an iteration takes the
// longer of launching and running them (CostModel::launch_ns). How kernels launch depends on CUDA graphs: vLLM V1
// replays one full graph for a decode-only batch, piecewise graphs (one per layer, attention launched eagerly
// between them) for a prefill or mixed batch, both up to its largest captured size; larger batches launch eagerly
// (vLLM docs, design/cuda_graphs.md: cudagraph_mode FULL_AND_PIECEWISE, the V1 default).
struct CpuOverhead {
  double iteration_us = 600.0;
  double per_seq_us = 4.0;
  // CUDA driver launch cost per kernel: 2-10 us (p2pBandwidthLatencyTest log, REFERENCES.md); 5 assumed.
  double launch_us = 5.0;
  int kernels_per_layer = 12;
  double graph_replay_us = 30.0;  // one cudaGraphLaunch of a whole forward pass
  // The share of an isolated kernel's floor (launch + ramp + tail, as a profiler timing one kernel sees it) that a
  // kernel replayed in a captured graph still pays: the launch is gone, the ramp and tail remain. 1 = all of it.
  double graph_floor_share = 1.0;
  // Piecewise graphs: per layer one graph replay (a cudaGraphLaunch, at launch_us) and the attention kernels launched
  // eagerly between pieces (FlashAttention / FlashInfer: one kernel, plus the KV-cache write).
  int attention_kernels_per_layer = 2;
  // Framework time of an eager PyTorch engine (Hugging Face transformers generate()), beside the kernel launches:
  // Python module calls per layer and the generation loop's own work per step (logits processors, stopping
  // criteria, concatenating input ids). 0 for vLLM, whose per-iteration cost is iteration_us. Assumptions, to be
  // replaced by validation/gpu/hf_runs.py measurements.
  double framework_layer_us = 0.0;
  double framework_step_us = 0.0;
};

struct ExecConfig {
  DType dtype = DType::kBf16;         // activations and math
  DType weight_dtype = DType::kBf16;  // storage of weights
  DType kv_dtype = DType::kBf16;      // storage of KV entries
  int tp = 1;
  bool cuda_graphs = true;  // false = engine.enforce_eager
  // The largest captured graph size, in tokens: vLLM V1 captures min(2 x max_num_seqs, 512) (vllm/config/vllm.py,
  // set_cudagraph_sizes: sizes 1, 2, 4, multiples of 8 below 256, multiples of 16 from 256).
  int max_graph_batch = 512;
  // Piecewise graphs for prefill and mixed batches up to max_graph_batch tokens (vLLM V1); false: graphs for
  // decode-only batches only (the paper-era V0 engine).
  bool piecewise_graphs = true;
  // vLLM's own all-reduce (custom_all_reduce.py: one-shot/two-shot kernels over NVLink P2P buffers) for 2, 4, 6 or 8
  // GPUs with P2P and messages up to 8 MiB, instead of NCCL; false: NCCL (the operator model fitted on measured
  // NCCL all-reduces).
  bool custom_allreduce = false;
  // The decode-attention kernel the engine runs, relative to the one the operator model was fitted on (Vidur's
  // FlashInfer profile on the A100): a factor on its read efficiency (1 = the same kernel).
  double decode_attention_scale = 1.0;
  int64_t block_size = 16;  // KV block size (selects the measured decode-attention curve)
  // Eager (unfused) attention: the fp32 scores of every (head, query, key) pair are written to HBM and read back
  // by the softmax and by the value product (4 passes of 4 bytes: H2O's Hugging Face implementation).
  bool eager_attention = false;
  // H2O accumulates each kept token's attention score per head and picks the least-scored to evict every step:
  // an fp32 read and write of the accumulator plus a read for the min/top-k, per (head, kept token).
  bool score_accumulation = false;
  // Offloaded KV with speculative selection (InfiniGen, Lee et al., OSDI 2024, sec. 4): partial keys of this share
  // of the key columns are scored for every token; the selected rows are gathered by CPU threads into pinned memory
  // and copied while the previous layer computes, so a layer takes max(compute, fetch).
  bool offload = false;
  double partial_weight_ratio = 0.2;
  // KIVI (Liu et al., ICML 2024, sec. 4): with an integer kv_dtype, the most recent tokens of each sequence stay in
  // full precision (`dtype`) until a group fills; KIVI keeps 32..128. The simulator reads this to fill
  // BatchShape::residual_tokens; the cost model charges what that field says.
  int64_t kv_residual_tokens = 0;
  // Quest (Tang et al., ICML 2024, sec. 3): per page of page_size tokens a per-channel min and max of the keys;
  // each decode query scores every page by an upper bound of q.k and reads only the top pages up to a token budget.
  // The first dense_layers layers stay dense (Quest's evaluation leaves the first two layers dense: low sparsity
  // there).
  bool page_selection = false;
  int64_t page_size = 16;
  int64_t dense_layers = 2;
  // FlexGen (Sheng et al., ICML 2023, sec. 4): decode attention over host-resident KV runs on the CPU, so the KV
  // never crosses PCIe; only the new tokens' q, k, v go to the host and the attention output comes back.
  bool cpu_attention = false;
  // Hugging Face DynamicCache: each decode step grows every layer's K and V by torch.cat, which reads the cached
  // tensors and writes them again (two extra passes over the layer's KV, beside attention's read).
  bool kv_concat_growth = false;
  // FlexGen's placement (sec. 4.2, its `--percent`): this share of each layer's weights stays on the GPU, the rest
  // streams for every layer from host memory (and first from disk for weight_disk_ratio of them), overlapped with the
  // previous layer's compute (ops weight_fetch, disk_io).
  // Both as homed by FlexGen's placement rule (models/flexgen_placement.h), not the percentages as given.
  double weight_gpu_ratio = 1.0;
  double weight_disk_ratio = 0.0;
  // Embedding bytes homed off the GPU (FlexGen's input and output embedding objects), copied to the GPU once per
  // forward pass; weight_fetch spreads them over the layers.
  double embed_stream_bytes = 0.0;
  // With cpu_attention: the share of layers whose KV stays on the GPU (attended there) and on disk (read into host
  // memory every decode step, then attended on the CPU); the rest sits in host memory.
  double kv_gpu_ratio = 0.0;
  double kv_disk_ratio = 0.0;
  // Activations between layers kept off the GPU (host memory, and of those on disk): each layer loads its input and
  // stores its output (ops act_load, act_store).
  double act_offload_ratio = 0.0;
  double act_disk_ratio = 0.0;
  double disk_bytes_per_s = 0.0;  // disk read/write rate (disk_io)
  bool uses_disk() const { return weight_disk_ratio > 0 || kv_disk_ratio > 0 || act_disk_ratio > 0; }
  // FlexGen's block schedule (sec. 4.1): sequences go through a layer in GPU batches of this many (0 = one batch); a
  // layer's compute runs once per GPU batch while its weights are fetched once per block.
  int64_t gpu_batch_size = 0;
  // The FlexGen family's eager PyTorch engine (engine.framework: pytorch; FlexGen, H2O's and InfiniGen's released
  // code): Python drives every layer object (attention and MLP are separate: 2 per decoder layer, each run once per GPU
  // batch), issuing attention_ops + mlp_ops eager ops per layer at op_us of host time each, asynchronously. With
  // sync_per_layer the host waits for the GPU after each layer object (FlexGen's overlapped loop; InfiniGen's build in
  // both loops), so a layer takes the longer of its host and GPU time plus one launch per object; without, the host
  // runs ahead and a step takes the longer of the two sums. overlap_io: copies on their own streams beside the compute
  // (FlexGen's --overlap); false: on the compute's timeline, so a layer takes compute + copies. The step's serial host
  // time is cpu_overhead_ns (cpu.iteration_us + per_seq_us).
  bool pytorch_host = false;
  double op_us = 0.0;
  // Eager ops per decode layer, counted in H2O's repository (h2o_flexgen/flexgen/pytorch_backend.py mha_gen, lines
  // 398-537; MLP.forward, flex_opt.py 570-584): FlexGen's attention 16 (layer norm, q/k/v projections and scaling,
  // two cache writes, the K and V permute copies, bmm, max, softmax and cast, bmm, output projection, residual add),
  // its MLP 5 (layer norm, fc1, relu, fc2, add).
  int attention_ops = 16;
  int mlp_ops = 5;
  bool sync_per_layer = false;
  bool overlap_io = true;
  // The KV's host copy is pinned (false: pageable; the new tokens' KV goes to it at the pageable rate).
  bool host_kv_pinned = true;
  Efficiency efficiency;
  CpuOverhead cpu;
};

}  // namespace kvsim::models
