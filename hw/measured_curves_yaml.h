// The curve sections of a measured profile's YAML (bandwidth, gather, decode_attention, prefill_attention,
// host_memcpy): read with every value checked (errors name file:line:col and the key), written back in the form that
// reads to an equal curve. Used by hw/measured_yaml.cc only.
#pragma once

#include <map>
#include <string>
#include <string_view>

#include <yaml-cpp/yaml.h>

#include "hw/measured.h"
#include "sim/core/yaml.h"

namespace kvsim::hw::detail {

// An error at element i of the list under `key`, placed at the element itself.
[[noreturn]] void fail_item(const yaml::Map& m, std::string_view key, size_t i, const YAML::Node& item,
                            const std::string& message);

// {x_key: [...], y_key: [...]}: x strictly increasing, y positive, both the same length; then m.finish().
Curve read_curve(const yaml::Map& m, std::string_view x_key, std::string_view y_key, bool log_x);

// The named curves under `key` ("bandwidth" or "gather"), each {bytes: [...], bytes_per_s: [...]}, their names
// checked against what the calibration suites write.
std::map<std::string, Curve, std::less<>> read_keyed_curves(const yaml::Map& parent, std::string_view key);

// decode_attention: {<block size>: {batches: {<batch>: {context: [...], bytes_per_s: [...]}, ...}}}, and the form
// without batches, <block size>: {context: [...], bytes_per_s: [...]}, read as the kAnyBatch curve.
std::map<int64_t, DecodeAttentionCurves> read_decode_attention(const yaml::Map& parent);

YAML::Node flow_list(const std::vector<double>& values);
YAML::Node curve_node(const Curve& c, const char* x_key, const char* y_key);
// The decode_attention mapping read_decode_attention reads back; empty (size 0) when no curve is measured.
YAML::Node decode_attention_node(const std::map<int64_t, DecodeAttentionCurves>& decode);

}  // namespace kvsim::hw::detail
