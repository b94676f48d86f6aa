// Loading a HardwareProfile from the shipped catalog (hw/catalog/<name>.yaml) or from a profile YAML that
// `kvsim calibrate` wrote. Every field is validated at load; problems are kvsim::Error naming file:line:col and key.
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <yaml-cpp/yaml.h>

#include "hw/hardware_profile.h"
#include "sim/core/yaml.h"

namespace kvsim::hw {

// A catalog name ("h100-sxm5-80gb") or a path to a profile .yaml. An unknown name lists the valid ones.
HardwareProfile load_hardware(const std::string& name_or_path);

// One profile mapping; `name` defaults to the file's stem. Unknown keys are errors.
HardwareProfile parse_hardware_yaml(const YAML::Node& node, std::shared_ptr<const yaml::Source> source);

// Shipped profiles, sorted: the stems of hardware_catalog_dir()/*.yaml.
std::vector<std::string> hardware_catalog_names();
// Names people use for a GPU and the catalog entry they usually mean ("h100" -> "h100-sxm5-80gb"): suggested in the
// error for an unknown name, never taken for it.
const std::vector<std::pair<std::string, std::string>>& gpu_aliases();
std::string hardware_catalog_dir();

// The profile as a mapping that parse_hardware_yaml reads back into an equal profile (all but `file`).
YAML::Node hardware_to_yaml(const HardwareProfile& profile);

// Theoretical per-direction PCIe bandwidth after line encoding: gen1/2 8b/10b, gen3-5 128b/130b (PCI-SIG base
// specifications; gen5 x16 = 32 GT/s x 16 x 128/130 / 8 = 63.0 GB/s), gen6/7 FLIT mode (242/256). 0 if unknown.
double pcie_theoretical_bytes_per_s(int gen, int lanes);

}  // namespace kvsim::hw
