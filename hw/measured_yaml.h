// The `measured:` section of a hardware profile YAML (what `kvsim calibrate` wrote): reading it with every value
// checked (positive rates, strictly increasing sizes, equal-length arrays, no unknown keys; errors name
// file:line:col and the key) and writing it back so that a profile round-trips exactly.
#pragma once

#include <string>

#include <yaml-cpp/yaml.h>

#include "hw/measured.h"
#include "sim/core/yaml.h"

namespace kvsim::hw {

// The `measured` mapping (its own finish() rejects unknown keys).
MeasuredProfile parse_measured_yaml(const yaml::Map& map);

// The mapping parse_measured_yaml reads back into an equal MeasuredProfile. Doubles are written in the shortest form
// that reads back to the same value (fmt "{}"), arrays in flow style.
YAML::Node measured_to_yaml(const MeasuredProfile& measured);

}  // namespace kvsim::hw
