// Reading YAML input with exact places in errors. A `yaml::Map` reads one mapping: every typed read checks the type
// and range and marks the key as read, and `finish()` rejects any key nobody read, suggesting the nearest valid key.
// Errors name file:line:col (yaml-cpp marks), the dotted key, what was expected and what was found; values that
// came from `--set KEY=VALUE` are reported against "--set" instead of the file.
#pragma once

#include <cstdint>
#include <limits>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include <yaml-cpp/yaml.h>

#include "sim/core/error.h"

namespace kvsim::yaml {

// Where a document came from: its file name and which dotted keys the command line set.
struct Source {
  std::string file;
  std::set<std::string> overrides;
};

// Parse a file or a string; syntax errors become kvsim::Error with file:line:col.
YAML::Node load_file(const std::string& path);
YAML::Node load_string(const std::string& text, const std::string& name);

// Apply one `a.b.c=value` assignment (value parsed as YAML, so `12GiB`, `true`, `[1,2]` and `{k: v}` work),
// creating intermediate mappings. Records the key in `source.overrides`.
void apply_override(YAML::Node& root, std::string_view assignment, Source& source);

// How a node looks in an error message: 'text' for a scalar, "a mapping", "a sequence", "nothing".
std::string describe(const YAML::Node& node);

// A double as a YAML scalar in its shortest round-trip form (1e+12, 0.1, 3): what every writer of scenario and
// profile files emits.
YAML::Node number(double value);

inline constexpr double kInf = std::numeric_limits<double>::infinity();

class Map {
 public:
  // `node` must be a mapping or null (an absent section reads as empty).
  Map(const YAML::Node& node, std::shared_ptr<const Source> source, std::string path = "");

  bool has(std::string_view key) const;
  std::vector<std::string> keys() const;

  // Every number read states its range: the bounds keep derived quantities (bytes, times, token counts) far from
  // overflow. Doubles must have finite bounds; a quoted number ("32") is a string, not a number.
  int64_t get_int(std::string_view key, int64_t def, int64_t min, int64_t max) const;
  std::optional<int64_t> opt_int(std::string_view key, int64_t min, int64_t max) const;
  int64_t req_int(std::string_view key, int64_t min, int64_t max) const;

  // `min_exclusive`: the value must be strictly greater than min.
  double get_double(std::string_view key, double def, double min, double max, bool min_exclusive = false) const;
  std::optional<double> opt_double(std::string_view key, double min, double max, bool min_exclusive = false) const;
  double req_double(std::string_view key, double min, double max, bool min_exclusive = false) const;

  bool get_bool(std::string_view key, bool def) const;

  std::string get_string(std::string_view key, std::string def) const;
  std::optional<std::string> opt_string(std::string_view key) const;
  std::string req_string(std::string_view key) const;

  // One of `choices`; a typo gets a did-you-mean.
  std::string get_choice(std::string_view key, std::string def, const std::vector<std::string>& choices) const;

  // A byte size: an integer or a string with a KiB/MiB/GiB/TiB/PiB or KB/MB/GB/TB/PB suffix.
  std::optional<uint64_t> opt_bytes(std::string_view key) const;

  std::vector<double> get_double_list(std::string_view key, std::vector<double> def, double min, double max,
                                      bool min_exclusive = false) const;

  // A nested mapping (empty when absent); its keys are checked by its own finish().
  Map child(std::string_view key) const;
  // The raw node, marked as read (null when absent).
  YAML::Node raw(std::string_view key) const;

  // Reject keys nobody read.
  void finish() const;

  const std::string& path() const { return path_; }
  std::string path_of(std::string_view key) const;
  Place place_of(std::string_view key) const;  // the value's place, or "--set"
  Place place() const;                         // this mapping's place
  [[noreturn]] void fail(std::string_view key, const std::string& message) const;
  [[noreturn]] void fail_expected(std::string_view key, const std::string& expected) const;
  const std::shared_ptr<const Source>& source() const { return source_; }

 private:
  YAML::Node find(std::string_view key) const;  // null node when absent; marks read
  bool overridden(const std::string& dotted) const;

  YAML::Node node_;
  std::shared_ptr<const Source> source_;
  std::string path_;
  mutable std::set<std::string, std::less<>> read_;
};

// A document kept as its text, so that every use parses a fresh copy that keeps its marks (YAML::Clone drops them,
// and with them the places in error messages): the mapping under `key` when set, without the key `drop` when set.
struct Document {
  std::string name, text, key, drop;
  YAML::Node fresh() const;
};

// Place of a node within a source (mark converted to 1-based line and column).
Place place_of_node(const YAML::Node& node, const Source& source);

}  // namespace kvsim::yaml
