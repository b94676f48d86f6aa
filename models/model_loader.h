// Loading a ModelSpec: from the shipped catalog (models/catalog/<name>.yaml), from a catalog-format YAML file, or
// from a Hugging Face config.json (LLaMA, Mistral, Mixtral, Qwen2/Qwen3 and their MoE, OPT, gpt-oss, DeepSeek-V2/V3;
// a config naming no architecture is read LLaMA-like from the common keys). Every problem is a kvsim::Error naming
// file:line:col and the key.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include <yaml-cpp/yaml.h>

#include "models/model_spec.h"
#include "sim/core/yaml.h"

namespace kvsim::models {

// A catalog name ("llama-3.1-8b"), a path to a catalog-format .yaml, or a path to a Hugging Face config.json (or to
// a directory holding one).
ModelSpec load_model(const std::string& name_or_path);

// A catalog-format mapping. `name` defaults to the file's stem.
ModelSpec parse_model_yaml(const YAML::Node& node, std::shared_ptr<const yaml::Source> source);

// The catalog-format YAML of `m` (models/model_spec_yaml.cc): parse_model_yaml reads it back to the same spec, so an
// imported config.json can be kept as a catalog entry. Fields at their defaults are left out.
std::string model_spec_yaml(const ModelSpec& m);

// A Hugging Face config.json, read with yaml-cpp (JSON is YAML) so errors carry line:col. An architecture it does not
// know is refused (the error lists the known ones), and so is a key that changes the size but that kvsim does not
// read for that architecture (kv_lora_rank on a LLaMA config); other keys are ignored: config.json files carry many
// (token ids, dropout, rope scaling, ...). `keys_read`, when given, receives ModelSpec field -> config key for the
// fields whose key differs from the field's name.
ModelSpec parse_hf_config(const std::string& path, std::map<std::string, std::string>* keys_read = nullptr);

// Names of the shipped models, sorted: the stems of model_catalog_dir()/*.yaml.
std::vector<std::string> model_catalog_names();
std::string model_catalog_dir();

namespace detail {
// Throws the first problem find_spec_problem() reports, at the place of its key in `map`. `keys` renames ModelSpec
// fields to the input's key names (e.g. num_layers -> num_hidden_layers); unlisted fields keep their names.
void check_spec_at(const ModelSpec& spec, const yaml::Map& map, const std::map<std::string, std::string>& keys = {});
}  // namespace detail

}  // namespace kvsim::models
