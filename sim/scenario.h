// A scenario: model, hardware, engine and cache settings, workload, cluster, SLO and output, loaded from YAML (or
// the built-in study), with `--set` overrides applied, every default resolved and every value validated once.
// A plain value afterwards: cheap to copy into a sweep point.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <yaml-cpp/yaml.h>

#include "hw/cluster_topology.h"
#include "hw/hardware_profile.h"
#include "models/model_spec.h"
#include "sim/core/dtype.h"
#include "sim/metrics/stats.h"
#include "traces/workload.h"

namespace kvsim::sim {

// vLLM engine settings. Defaults follow vLLM: V1 engine; 8192 batched tokens and 1024 sequences on GPUs with
// >= 70 GiB, 2048 and 256 below (vLLM engine arguments, OpenAI-compatible server defaults).
enum class FastForward : uint8_t { kOff, kInline, kAnalytic };
const char* fast_forward_name(FastForward level);

struct EngineConfig {
  std::string version = "v1";  // v1 | v0 | static (FlexGen-style: a batch runs to completion before the next)
                               // | hf (Hugging Face transformers generate(): static batches, padded)
  std::string hf_cache;        // hf: dynamic (DynamicCache, grown by concatenation) | static (StaticCache)
  int64_t max_num_seqs = 0;
  bool max_num_seqs_set = false;  // given in the scenario (not defaulted)
  int64_t max_num_batched_tokens = 0;
  int64_t max_model_len = 0;  // default: the model's max_position_embeddings
  bool chunked_prefill = true;
  bool enforce_eager = false;
  // Fast-forward (outputs byte-identical at every level; tests/sim/fast_forward_test.cc compares them): `off` steps
  // every iteration through the event queue; `inline` processes an iteration that ends before any other event at
  // once, without a trip through the queue; `analytic` (the default) also advances a decode-only batch between two
  // events that change it in closed form, without per-sequence work (sim/serving/replica_stretch.cc).
  FastForward fast_forward = FastForward::kAnalytic;
  double gpu_memory_utilization = 0.9;
  std::optional<uint64_t> kv_cache_bytes;  // set the KV pool directly (per GPU)
  std::optional<int64_t> num_gpu_blocks;   // or the block count, to match a real engine's log
  // The OpenAI-compatible API server in front of the engine (`vllm serve`), as a streaming HTTP client measures it:
  // `api_server` adds its work before the engine queue (request handling, tokenisation) to every latency, and its
  // delivery of each streamed token (detokenisation, server-sent event, HTTP) to the first and the last token;
  // `none` is offline `LLM.generate()`, where latencies are the engine's own. Defaults: scenario_engine.cc.
  // The engine's serial CPU work per iteration (scheduling, input preparation, sampling, output processing) and per
  // scheduled sequence, and the share of an isolated kernel's floor a kernel replayed in a CUDA graph still pays
  // (models/cost_model.h CpuOverhead). Defaults per engine version: scenario_engine.cc.
  double cpu_iteration_us = 0;
  double cpu_per_seq_us = 0;
  double graph_floor_share = 1.0;
  // The engine's decode-attention kernel against the operator model's (models/cost_model.h ExecConfig).
  double decode_attention_scale = 1.0;
  std::string frontend = "api_server";
  double frontend_preprocess_ms = 0;   // request arrival to the engine queue
  double frontend_delivery_ms = 0;     // a token's output to the client receiving it
  double frontend_per_token_us = 0;    // per output token, detokenisation kept up to the last one
  // The static engine's runtime (empty for the other versions): `pytorch` is the FlexGen family (FlexGen, H2O's and
  // InfiniGen's released code): eager PyTorch driven by Python once per layer object, no CUDA graphs, attention as
  // unfused bmm + softmax whose prefill score tensor is a transient per GPU batch; `native` is FasterTransformer's
  // C++/CUDA runtime with fused kernels. Under pytorch a batch is engine.max_num_seqs whole prompts (FlexGen:
  // gpu_batch_size x num_gpu_batches) bounded by memory only, never by a token budget.
  std::string framework;
  // pytorch: bytes per (GPU batch row, head, query, key) element at the prefill score tensor's peak: 4 = two fp16
  // copies (bmm output and softmax output: FlexGen's and InfiniGen's code; what H2O's A100 logs fit); 8 = H2O's
  // released code (softmax in fp32, then cast to fp16).
  double prefill_score_bytes = 4;
  // pytorch: FlexGen's --overlap: weight, KV and activation copies on their own CUDA streams beside the compute
  // (true: a layer takes the longest of compute and copies), or on the compute's timeline (false: their sum).
  bool overlap = true;
  // pytorch: a device synchronisation after every layer object (FlexGen's overlapped loop joins its copy streams
  // there; InfiniGen's build adds one in its non-overlapped loop too), so host time cannot run ahead of the GPU.
  bool sync_per_layer = true;
  // pytorch: host time per eager op (Python, the dispatcher and the launch), overlapped with the GPU unless
  // synchronised; a layer runs models::ExecConfig::attention_ops + mlp_ops of them per GPU batch.
  double cpu_op_us = 0;
  // Time the replica's first iteration pays once, before computing: a benchmark without a warm-up run (H2O's
  // flex_opt.py has its warm-up generate() commented out) times CUDA's lazy kernel loading, cuBLAS's initialisation
  // and the caching allocator's first allocations inside its first forward pass. 0 = a warm engine (default).
  double cold_start_ms = 0;
};

// Shares of a tensor class kept on the GPU, in host memory and on disk; they sum to 1.
struct TierShares {
  double gpu = 1.0;
  double cpu = 0.0;
  double disk = 0.0;
  double off_gpu() const { return cpu + disk; }
  bool operator==(const TierShares&) const = default;
};

// InfiniGen's scripts' threshold for OPT (Lee et al., OSDI 2024; speedup/scripts/figure14/run.sh: --alpha 4).
inline constexpr double kInfiniGenAlpha = 4.0;

struct CacheConfig {
  std::string policy = "vllm";
  std::string layout = "paged";           // paged | reserve | pow2 | oracle | budget (default: the preset's)
  std::string allocation = "blocks";      // blocks | contiguous (default: contiguous for reserve / pow2 / oracle)
  std::string retention = "full";         // full | h2o | streaming | snapkv | adaptive (default: the preset's)
  double heavy_ratio = 0.1;               // h2o: heavy hitters kept, share of the prompt (H2O paper: 10 %)
  double recent_ratio = 0.1;              // h2o: recent tokens kept, share of the prompt (H2O paper: 10 %)
  std::optional<int64_t> budget_tokens;   // h2o: an absolute budget instead of the ratios; snapkv / adaptive: the
                                          // prompt KV kept after prefill (default kSnapKvBudgetTokens)
  int64_t sink_tokens = 4;                // streaming: attention sinks kept (StreamingLLM, Xiao et al., ICLR 2024: 4)
  int64_t window_tokens = 2044;           // streaming: recent window (4 sinks + 2044 = a 2048-token cache)
  int64_t adaptive_prompt_tokens = 8192;  // adaptive: prompts at least this long may be compressed
  double adaptive_pressure = 0.5;         // adaptive: ... when at least this share of the KV pool is in use at arrival
  std::string placement = "gpu";  // gpu | offload (the full KV lives in host memory) | tiered (GPU -> host -> disk)
  std::string selection = "all";  // all | speculative (InfiniGen) | pages (Quest)
  // InfiniGen (Lee et al., OSDI 2024; its repository's figure-14 script): partial keys of 0.2 of the key columns stay
  // on the GPU; at most max_kv_ratio of the context is fetched per (sequence, head) each layer (max-num-kv 400 of
  // a 1920-token prompt ~ 0.2).
  double partial_weight_ratio = 0.2;
  double max_kv_ratio = 0.2;
  // InfiniGen's threshold: tokens whose partial score is within alpha of the top are fetched, under max_kv_ratio.
  // Default under speculative selection: kInfiniGenAlpha, its scripts' value. How many tokens pass it comes from the
  // synthetic attention model (cache/quality.h): 8.4 % of a 2,048-token context, which puts InfiniGen's Fig. 14
  // throughput within 3 % of its reported one (validation/cases/infinigen-fig14-opt13b.yaml); past about 6,500
  // tokens the model's heavy hitters fall below the threshold and it fetches the sinks and the last ~70 tokens only
  // (0.7 % of 10,000, keeping 0.58 of the attention mass), which the run notes say. A large alpha (1e6) fetches the
  // cap every step, an upper bound on the traffic.
  std::optional<double> alpha;
  // Quest (Tang et al., ICML 2024): tokens read per decode step in the sparse layers, in pages of page_size tokens
  // (its evaluation uses 16-token pages and budgets of 256..4096 tokens); its first 2 layers stay dense.
  int64_t token_budget = 2048;
  int64_t page_size = 16;
  uint64_t host_kv_bytes = 0;  // offload / tiered: host KV pool per GPU (default: half the host's DRAM per GPU)
  // offload: the host KV in pinned memory (copies by DMA at the pinned rate) or pageable (staged by the driver: the
  // profile's measured pageable curves; without them a datasheet profile prices both alike). Default false, as the
  // FlexGen family's released code allocates it.
  bool host_kv_pinned = true;
  uint64_t disk_kv_bytes = 0;  // tiered: disk tier per GPU (0 = none)
  // tiered: disk read rate. Samsung PM9A3 (PCIe 4 NVMe data-centre SSD) datasheet: 6,900 MB/s sequential read.
  double disk_bytes_per_s = 6.9e9;
  int64_t block_size = 16;                   // tokens per block (vLLM default 16)
  std::string preemption = "recompute";      // recompute | swap (swap only with engine v0)
  uint64_t swap_space_bytes = 4ull << 30;    // host swap space per GPU (vLLM default swap_space = 4 GiB)
  bool prefix_caching = true;                // v1 default on, v0 off
  DType precision = DType::kBf16;            // KV dtype, default = dtype
  int64_t residual_tokens = 0;               // integer KV: recent tokens kept in full precision (KIVI: 32..128)
  std::string compute_attention_on = "gpu";  // gpu | cpu (FlexGen: attention where the KV lives)
  // FlexGen's placement (Sheng et al., ICML 2023, sec. 4.2; its command line `--percent wg wc cg cc hg hc`, disk
  // taking the rest): the shares of the layers' weights, of the KV (by layer) and of the activations between layers
  // kept on the GPU, in host memory and on disk. YAML keys weights_percent / kv_percent / activations_percent.
  TierShares weights_share;
  TierShares kv_share;
  TierShares activations_share;
  // FlexGen's block schedule (sec. 4.1): a block of num_gpu_batches GPU batches of gpu_batch_size sequences goes
  // through each layer before the next layer's weights are needed, so a layer's weights are fetched once per block.
  int64_t gpu_batch_size = 0;  // 0: the whole batch is one GPU batch
  int64_t num_gpu_batches = 1;
};

// SnapKV (Li et al., 2024, "SnapKV: LLM Knows What You are Looking for Before Generation", sec. 5): prompt KV
// capacities of 1024..4096 tokens evaluated (its observation window: cache::retention_model).
inline constexpr int64_t kSnapKvBudgetTokens = 2048;

// Routers (cluster.router): round-robin; least-outstanding (fewest requests waiting or running); least-kv (most
// free KV blocks); prefix-aware (SGLang's cache-aware policy, sim/serving/router.h: the replica that was sent the
// longest prefix of the request's prompt, unless the replicas' loads are imbalanced or the match is too short, then
// the least-outstanding replica).
// The prefix-aware limits default to SGLang Model Gateway's (sgl-model-gateway, formerly sgl-router, cache_aware
// policy: --balance-abs-threshold 64, --balance-rel-threshold 1.5, --cache-threshold 0.3). Loads are imbalanced when
// max - min > prefix_balance_abs AND max > prefix_balance_rel x min (outstanding requests per replica).
inline constexpr int64_t kSglangBalanceAbsThreshold = 64;
inline constexpr double kSglangBalanceRelThreshold = 1.5;
inline constexpr double kSglangCacheThreshold = 0.3;
// Disaggregated serving (cluster.prefill and cluster.decode): one pool of replicas computes prompts, another
// generates, and each request's KV moves between them (vLLM's disaggregated prefill with a KV connector; DistServe,
// OSDI 2024; Splitwise, ISCA 2024; Mooncake, FAST 2025). sim/serving/cluster_kv_transfer.cc runs it.
struct PoolConfig {
  int64_t replicas = 1;
  int64_t tensor_parallel = 1;
  std::string router = "least-outstanding";
  // The pool's own GPU (a hardware catalog name or file, as `hardware` at the top; empty: the scenario's), on servers
  // of its own (Splitwise's H100 prefill and A100 decode machines, ISCA 2024).
  std::string hardware_ref{};
  std::shared_ptr<const hw::HardwareProfile> hardware{};  // null: the scenario's
};
// How the KV moves. mode after_prefill: the decode side pulls the prompt's KV once the prefill has finished (vLLM's
// NixlConnector, its default); layerwise: the prefill side sends each layer's KV as it is computed, so the transfer
// overlaps the prompt's last prefill chunk (LMCache's and Mooncake's layer-wise store). The links are the cluster
// topology's (hw/cluster_topology.h): NVLink when both replicas share a node, else each GPU's NIC through the fabric.
struct KvTransferConfig {
  std::string mode = "after_prefill";
  bool separate_nodes = false;  // the decode pool starts on a node of its own (else the pools pack the same nodes)
  std::string node;             // node catalog name (hw::node_catalog); empty: the catalog's node of this GPU
  double nic_bytes_per_s = 0;   // each GPU's NIC, each way; 0: the node's
  bool gpudirect_rdma = true;   // else a transfer between nodes is staged through host memory
  double bisection_bytes_per_s = 0;  // between the two halves of the nodes; 0: non-blocking
  double latency_us = 0;             // added once to each transfer that leaves its node
};
// A cluster-wide store of prefix KV blocks in host memory (Mooncake Store, Qin et al., FAST 2025, sec. 3-4; LMCache's
// remote backends): blocks evicted from a GPU's prefix cache (write evicted), or every full prompt block once computed
// (write computed, as LMCache and Mooncake's prefill nodes store), go to the DRAM of the serving nodes (the writer's
// own) or of dedicated storage nodes, each node's share kept least recently used first out. A prompt whose next
// blocks are in the store loads them over the network instead of computing them when that is faster (load priced, the
// choice Mooncake's Conductor prices: sec. 5.1) or whenever found (load always). sim/serving/kv_store_service.cc runs it
// over the cluster topology; the network is cluster.kv_transfer's.
struct KvStoreConfig {
  uint64_t capacity_bytes = 0;               // over all the store's nodes, split evenly among them
  std::string location = "serving_nodes";    // or storage_nodes
  int64_t storage_nodes = 0;                 // location storage_nodes: servers of the cluster's node model, GPUs idle
  uint64_t storage_dram_bytes = 0;           // each storage node's DRAM; 0: the serving node's (hardware.host)
  std::string write = "evicted";             // or computed
  std::string load = "priced";               // or always
};
struct ClusterConfig {
  std::optional<PoolConfig> prefill, decode;  // both or neither
  KvTransferConfig kv_transfer;
  std::optional<KvStoreConfig> kv_store;
  bool disaggregated() const { return prefill.has_value(); }
  // Colocated: the replicas. Disaggregated: prefill + decode replicas (the decode pool's tensor_parallel below).
  int64_t replicas = 1;
  int64_t tensor_parallel = 1;
  std::string router = "round-robin";
  int64_t prefix_balance_abs = kSglangBalanceAbsThreshold;  // requests
  double prefix_balance_rel = kSglangBalanceRelThreshold;   // >= 1
  double prefix_cache_threshold = kSglangCacheThreshold;    // matched share of the prompt, [0, 1]
};
const std::vector<std::string>& router_names();
const std::vector<std::string>& kv_transfer_modes();
struct Scenario;
// A cluster's GPUs, per replica (global indices over nodes of hardware.gpus_per_node GPUs): colocated replicas in
// order; disaggregated, the prefill replicas first, then the decode replicas (from a fresh node with
// kv_transfer.separate_nodes). A replica's tensor-parallel group never straddles two nodes.
std::vector<std::vector<int>> pool_gpus(const Scenario& s);
// The nodes they fill, and the node they are: the catalog's (kv_transfer.node, else the one with this GPU) with
// hardware.gpus_per_node GPUs and kv_transfer.nic_gbps in place of its NICs when set; without either, no NIC.
int pool_nodes(const Scenario& s);
hw::NodeSpec pool_node(const Scenario& s);
// A pool's GPU: its own hardware, else the scenario's. Pools of different GPUs fill servers of their own (the decode
// pool from a fresh node), each of its GPU's catalog node.
const hw::HardwareProfile& pool_hardware(const Scenario& s, const PoolConfig& pool);
bool mixed_pools(const Scenario& s);
hw::NodeSpec pool_node(const Scenario& s, const hw::HardwareProfile& gpu);
// Runs over the cluster topology (hw::build_cluster_topology): disaggregated, or with a KV store.
bool networked(const Scenario& s);
// The store's nodes after the serving ones: cluster.kv_store.storage_nodes with location storage_nodes, else 0.
int storage_nodes(const Scenario& s);
// Colocated scenario `s` as a disaggregated cluster of `prefill` + `decode` replicas of its tensor parallelism, each
// pool routed least-outstanding, the KV moved with kv_transfer's defaults: read back as a scenario file would be, so
// every check applies (kvsim compare --disaggregated).
Scenario disaggregate(const Scenario& s, int64_t prefill, int64_t decode);
// Scenario `s` without its cluster.kv_store (and, colocated, the network that only the store used), read back as a
// scenario file would be (kvsim compare --without-kv-store).
Scenario without_kv_store(const Scenario& s);
// The cluster section of two pools, {prefill: {...}, decode: {...}}, as a scenario file states them.
YAML::Node pools_yaml(const PoolConfig& prefill, const PoolConfig& decode);

struct SloConfig {
  std::optional<double> ttft_ms;
  std::optional<double> tpot_ms;
  int64_t warmup_requests = 0;  // the first N requests (by id) are left out of the latency statistics
};

struct OutputConfig {
  std::string dir;                  // empty: no files written
  double memory_interval_ms = 100;  // memory.csv sampling period
  bool timeline = false;            // write timeline.json (Chrome / Perfetto trace events)
  // timeline.json's request spans: request ids i with i % timeline_request_every == 0 and
  // i / timeline_request_every < timeline_max_requests (metrics::TimelineSampling), so a big run's file stays bounded.
  int64_t timeline_request_every = 1;
  int64_t timeline_max_requests = 10000;
  // Latency samples per metric kept exactly; past this, percentiles come from a bounded histogram (relative error
  // 1e-4, sim/metrics/stats.h) so memory does not grow with the run.
  int64_t exact_latency_samples = static_cast<int64_t>(metrics::LatencySamples::kDefaultExactLimit);
};

struct Scenario {
  std::string file;  // where it came from ("<built-in study>" for the default)
  std::string model_ref;
  models::ModelSpec model;
  std::string hardware_ref;
  hw::HardwareProfile hardware;
  DType dtype = DType::kBf16;
  DType weight_dtype = DType::kBf16;
  uint64_t seed = 0;
  EngineConfig engine;
  CacheConfig cache;
  traces::WorkloadSpec workload;
  ClusterConfig cluster;
  SloConfig slo;
  OutputConfig output;
  bool check_invariants = false;  // verify memory/conservation every iteration (tests turn it on)
  double gpu_hour_usd = 0;        // cost.gpu_hour_usd, default the hardware's list price (0 = unknown)
};

// The embedded default study: llama-3.1-8b on one h100-sxm5-80gb, long prompts (lognormal, mean 12K tokens,
// clipped to 1K..32K, mean output 300) so that the KV cache, not max_num_seqs, is the limit.
extern const char* const kBuiltinStudyYaml;
inline constexpr const char* kBuiltinStudyName = "<built-in study>";
// Request rates (req/s) the built-in `compare` sweeps, around the point where the study's KV cache saturates.
std::vector<double> builtin_study_rates();

// Load `path` (or the built-in study when empty), apply `overrides` ("a.b=v"), resolve defaults, validate.
Scenario load_scenario(const std::string& path, const std::vector<std::string>& overrides);
Scenario parse_scenario(YAML::Node root, const std::string& file, const std::vector<std::string>& overrides);

// The scenario with every default filled in, such that load_scenario on it reproduces the same scenario.
YAML::Node scenario_to_yaml(const Scenario& s);

// The tokens and sequences of the largest forward pass the GPU runs at once, which its activation memory must hold:
// the engine's token budget, or under FlexGen's block schedule one GPU batch of whole sequences (activation_seqs under
// the pytorch static engine: one GPU batch, or one sequence when the batch is one GPU batch; its activations are
// models::prefill_transient_bytes, checked per batch).
int64_t activation_tokens(const Scenario& s);
int64_t activation_seqs(const Scenario& s);

// Names of the cache policies that exist (presets), and those `compare` runs by default.
std::vector<std::string> policy_names();
std::vector<std::string> default_compare_policies();

}  // namespace kvsim::sim
