// The engine and cache sections of a scenario: read from YAML (defaults resolved, values validated) and written back.
// Internal to sim/scenario*.cc: parse_scenario() calls them in order (cluster, engine, cache), since each section's
// defaults depend on the ones before it.
#pragma once

#include <string>
#include <string_view>

#include <yaml-cpp/yaml.h>

#include "sim/cache/presets.h"
#include "sim/core/yaml.h"
#include "sim/scenario.h"

namespace kvsim::sim {

DType read_dtype(const yaml::Map& m, std::string_view key, DType def);
// The hardware `ref` names (a catalog name, or a file beside the scenario `file` or from the current directory);
// a bad one fails at `key` of `m`.
hw::HardwareProfile load_hardware_ref(const yaml::Map& m, std::string_view key, const std::string& ref,
                                      const std::string& file);

// cluster: colocated replicas, or the prefill and decode pools and their KV transfer (scenario.h ClusterConfig).
// Needs s.model.
void parse_cluster(const yaml::Map& cluster, Scenario& s);
YAML::Node cluster_to_yaml(const ClusterConfig& c);
// cluster.kv_store against the rest of the scenario: engine v1 with prefix caching on a model whose blocks it shares,
// and a capacity the store's nodes' DRAM holds beside what the serving GPUs keep there. Needs the engine and cache.
void check_kv_store(const yaml::Map& cluster, const Scenario& s);

// engine: the vLLM settings and the API-server front end (scenario.h EngineConfig). Needs s.model, s.hardware,
// s.cluster and the dtypes; `retention` is the cache's (H2O's eager prefill bounds the default batched tokens).
// `retention` and `selection`: the cache axes as the scenario resolves them (the engine's defaults depend on them).
void parse_engine(const yaml::Map& e, Scenario& s, const cache::Preset& preset, const std::string& retention,
                  const std::string& selection);
YAML::Node engine_to_yaml(const EngineConfig& e);

// cache: the policy preset and its axes (scenario.h CacheConfig). Needs the engine section.
void parse_cache(const yaml::Map& c, Scenario& s, const cache::Preset& preset);
YAML::Node cache_to_yaml(const CacheConfig& c);

}  // namespace kvsim::sim
