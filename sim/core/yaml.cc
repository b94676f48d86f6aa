#include "sim/core/yaml.h"

#include <cmath>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <stdexcept>

#include <fmt/format.h>

#include "sim/core/input_file.h"
#include "sim/core/units.h"

namespace kvsim::yaml {

namespace {
Place place_from_mark(const YAML::Mark& mark, const std::string& file) {
  if (mark.is_null() || mark.line < 0) return Place{file, 0, 0};
  return Place{file, mark.line + 1, mark.column + 1};
}

std::string range_text(double min, double max, bool min_exclusive, const char* what) {
  const bool has_min = std::isfinite(min), has_max = std::isfinite(max);
  if (has_min && has_max) {
    return fmt::format("{} in {}{} .. {}]", what, min_exclusive ? "(" : "[", min, max);
  }
  if (has_min) return fmt::format("{} {} {}", what, min_exclusive ? ">" : ">=", min);
  if (has_max) return fmt::format("{} <= {}", what, max);
  return what;
}

std::string int_range_text(int64_t min, int64_t max) {
  if (min != INT64_MIN && max != INT64_MAX) return fmt::format("an integer in [{} .. {}]", min, max);
  if (min != INT64_MIN) return fmt::format("an integer >= {}", min);
  if (max != INT64_MAX) return fmt::format("an integer <= {}", max);
  return "an integer";
}
}  // namespace

namespace {
// yaml-cpp keeps the first of two equal keys and ignores the second: a typo'd copy of a block would silently lose.
// Every mapping is checked once (an alias shares its anchor's node and mark).
void check_duplicate_keys(const YAML::Node& node, const std::string& name, std::set<std::pair<int, int>>& seen,
                          int depth) {
  if (depth > 256) throw Error(place_from_mark(node.Mark(), name), "nested deeper than 256 levels");
  if (node.IsSequence()) {
    for (const auto& item : node) check_duplicate_keys(item, name, seen, depth + 1);
    return;
  }
  if (!node.IsMap()) return;
  if (!seen.emplace(node.Mark().line, node.Mark().column).second) return;
  std::map<std::string, YAML::Mark> keys;
  for (const auto& kv : node) {
    if (!kv.first.IsScalar()) {
      throw Error(place_from_mark(kv.first.Mark(), name), fmt::format("expected a plain key, found {}", describe(kv.first)));
    }
    const auto [it, fresh] = keys.emplace(kv.first.Scalar(), kv.first.Mark());
    if (!fresh) {
      throw Error(place_from_mark(kv.first.Mark(), name),
                  fmt::format("{}: duplicate key (first at line {}): YAML would keep only the first",
                              excerpt(kv.first.Scalar()), it->second.line + 1));
    }
    check_duplicate_keys(kv.second, name, seen, depth + 1);
  }
}
}  // namespace

namespace {
// Flow nesting ([[[...) deeper than a parser should recurse is refused before parsing, with its place. Quoted text
// and comments are skipped; block nesting is bounded by check_duplicate_keys.
void check_flow_depth(const std::string& text, const std::string& name) {
  int depth = 0, line = 1, col = 0;
  char quote = 0;
  bool comment = false;
  for (const char c : text) {
    ++col;
    if (c == '\n') {
      ++line;
      col = 0;
      comment = false;
      continue;
    }
    if (comment) continue;
    if (quote) {
      if (c == quote) quote = 0;
      continue;
    }
    if (c == '"' || c == '\'') {
      quote = c;
    } else if (c == '#') {
      comment = true;
    } else if (c == '[' || c == '{') {
      if (++depth > 256) throw Error(Place{name, line, col}, "nested deeper than 256 levels");
    } else if ((c == ']' || c == '}') && depth > 0) {
      --depth;
    }
  }
}

// A second document: a `---` line after content. (YAML::LoadAll would say so too, but loops forever on some damaged
// input: found by fuzzing.) A `---` inside a block scalar would be taken for one; kvsim's files have none.
void check_one_document(const std::string& text, const std::string& name) {
  bool content = false;
  int line = 0;
  for (size_t at = 0; at <= text.size();) {
    const size_t end = std::min(text.find('\n', at), text.size());
    const std::string_view l(text.data() + at, end - at);
    ++line;
    const bool marker = l.starts_with("---") && (l.size() == 3 || l[3] == ' ' || l[3] == '\t' || l[3] == '\r');
    if (marker && content) {
      throw Error(Place{name, line, 1}, "a second YAML document: kvsim reads one document per file");
    }
    const size_t first = l.find_first_not_of(" \t\r");
    if (!marker && first != std::string_view::npos && l[first] != '#' && l[first] != '%') content = true;
    if (marker && l.size() > 3 && l.find_first_not_of(" \t\r", 3) != std::string_view::npos) content = true;
    at = end + 1;
  }
}
}  // namespace

YAML::Node load_string(const std::string& text, const std::string& name) {
  check_flow_depth(text, name);
  check_one_document(text, name);
  YAML::Node root;
  try {
    root = YAML::Load(text);
  } catch (const YAML::Exception& e) {
    throw Error(place_from_mark(e.mark, name), fmt::format("invalid YAML: {}", e.msg));
  }
  std::set<std::pair<int, int>> seen;
  check_duplicate_keys(root, name, seen, 0);
  return root;
}

YAML::Node load_file(const std::string& path) { return load_string(read_input_file(path), path); }

YAML::Node Document::fresh() const {
  YAML::Node root = load_string(text, name);
  if (!key.empty()) root = root[key];
  if (!drop.empty() && root.IsMap()) root.remove(drop);
  return root;
}

YAML::Node number(double value) { return YAML::Node(fmt::format("{}", value)); }

std::string describe(const YAML::Node& node) {
  if (!node.IsDefined() || node.IsNull()) return "nothing";
  if (node.IsMap()) return "a mapping";
  if (node.IsSequence()) return "a sequence";
  if (node.Tag() == "!") return "the quoted string '" + excerpt(node.Scalar()) + "'";
  return "'" + excerpt(node.Scalar()) + "'";
}

Place place_of_node(const YAML::Node& node, const Source& source) { return place_from_mark(node.Mark(), source.file); }

void apply_override(YAML::Node& root, std::string_view assignment, Source& source) {
  const size_t eq = assignment.find('=');
  if (eq == std::string_view::npos || eq == 0) {
    throw Error(Place{"--set"}, fmt::format("expected KEY=VALUE, found '{}'", assignment));
  }
  const std::string key(assignment.substr(0, eq));
  const std::string value(assignment.substr(eq + 1));
  YAML::Node parsed;
  try {
    parsed = YAML::Load(value);
  } catch (const YAML::Exception& e) {
    throw Error(Place{"--set"}, fmt::format("{}: value '{}' is not valid YAML: {}", key, value, e.msg));
  }
  if (!root.IsDefined() || root.IsNull()) root = YAML::Node(YAML::NodeType::Map);
  std::vector<std::string> parts;
  size_t start = 0;
  while (true) {
    const size_t dot = key.find('.', start);
    parts.push_back(key.substr(start, dot == std::string::npos ? std::string::npos : dot - start));
    if (dot == std::string::npos) break;
    start = dot + 1;
  }
  YAML::Node cur = root;
  for (size_t i = 0; i < parts.size(); ++i) {
    if (parts[i].empty()) throw Error(Place{"--set"}, fmt::format("'{}': empty key component", key));
    if (!cur.IsMap()) {
      throw Error(Place{"--set"}, fmt::format("{}: cannot set a key inside {}", key, describe(cur)));
    }
    if (i + 1 == parts.size()) {
      cur[parts[i]] = parsed;
    } else {
      YAML::Node next = cur[parts[i]];
      if (!next.IsDefined() || next.IsNull()) {
        cur[parts[i]] = YAML::Node(YAML::NodeType::Map);
        next = cur[parts[i]];
      }
      cur.reset(next);
    }
  }
  source.overrides.insert(key);
}

Map::Map(const YAML::Node& node, std::shared_ptr<const Source> source, std::string path)
    : node_(node), source_(std::move(source)), path_(std::move(path)) {
  if (node_.IsDefined() && !node_.IsNull() && !node_.IsMap()) {
    const Place p = overridden(path_) ? Place{"--set"} : place_of_node(node_, *source_);
    throw Error(p,
                fmt::format("{}: expected a mapping, found {}", path_.empty() ? "document" : path_, describe(node_)));
  }
}

bool Map::overridden(const std::string& dotted) const {
  for (const auto& o : source_->overrides) {
    if (dotted == o || (dotted.size() > o.size() && dotted.compare(0, o.size(), o) == 0 && dotted[o.size()] == '.')) {
      return true;
    }
  }
  return false;
}

std::string Map::path_of(std::string_view key) const {
  return path_.empty() ? std::string(key) : path_ + "." + std::string(key);
}

Place Map::place() const {
  if (overridden(path_)) return Place{"--set"};
  return place_of_node(node_, *source_);
}

Place Map::place_of(std::string_view key) const {
  if (overridden(path_of(key))) return Place{"--set"};
  if (node_.IsMap()) {
    for (auto it = node_.begin(); it != node_.end(); ++it) {
      if (it->first.IsScalar() && it->first.Scalar() == key) {
        const Place p = place_of_node(it->second, *source_);
        return p.line > 0 ? p : place_of_node(it->first, *source_);
      }
    }
  }
  return place();
}

void Map::fail(std::string_view key, const std::string& message) const {
  throw Error(place_of(key), fmt::format("{}: {}", path_of(key), message));
}

void Map::fail_expected(std::string_view key, const std::string& expected) const {
  fail(key, fmt::format("expected {}, found {}", expected, describe(find(key))));
}

bool Map::has(std::string_view key) const {
  if (!node_.IsMap()) return false;
  for (auto it = node_.begin(); it != node_.end(); ++it) {
    if (it->first.IsScalar() && it->first.Scalar() == key) return !it->second.IsNull();
  }
  return false;
}

std::vector<std::string> Map::keys() const {
  std::vector<std::string> out;
  if (!node_.IsMap()) return out;
  for (auto it = node_.begin(); it != node_.end(); ++it) out.push_back(it->first.Scalar());
  return out;
}

YAML::Node Map::find(std::string_view key) const {
  read_.insert(std::string(key));
  if (!node_.IsMap()) return YAML::Node();
  for (auto it = node_.begin(); it != node_.end(); ++it) {
    if (it->first.IsScalar() && it->first.Scalar() == key) return it->second;
  }
  return YAML::Node();
}

std::optional<int64_t> Map::opt_int(std::string_view key, int64_t min, int64_t max) const {
  const YAML::Node n = find(key);
  if (!n.IsDefined() || n.IsNull()) return std::nullopt;
  int64_t v = 0;
  bool ok = n.IsScalar() && n.Tag() != "!";
  if (ok) {
    try {
      v = n.as<int64_t>();
    } catch (const YAML::Exception&) {
      ok = false;
    }
  }
  if (!ok || v < min || v > max) fail_expected(key, int_range_text(min, max));
  return v;
}

int64_t Map::get_int(std::string_view key, int64_t def, int64_t min, int64_t max) const {
  return opt_int(key, min, max).value_or(def);
}

int64_t Map::req_int(std::string_view key, int64_t min, int64_t max) const {
  auto v = opt_int(key, min, max);
  if (!v) fail(key, fmt::format("required key is missing (expected {})", int_range_text(min, max)));
  return *v;
}

std::optional<double> Map::opt_double(std::string_view key, double min, double max, bool min_exclusive) const {
  const YAML::Node n = find(key);
  if (!n.IsDefined() || n.IsNull()) return std::nullopt;
  if (!std::isfinite(min) || !std::isfinite(max)) throw std::logic_error("unbounded number read: " + path_of(key));
  double v = 0;
  bool ok = n.IsScalar() && n.Tag() != "!";
  if (ok) {
    try {
      v = n.as<double>();
    } catch (const YAML::Exception&) {
      ok = false;
    }
  }
  ok = ok && std::isfinite(v) && v <= max && (min_exclusive ? v > min : v >= min);
  if (!ok) fail_expected(key, range_text(min, max, min_exclusive, "a number"));
  return v;
}

double Map::get_double(std::string_view key, double def, double min, double max, bool min_exclusive) const {
  return opt_double(key, min, max, min_exclusive).value_or(def);
}

double Map::req_double(std::string_view key, double min, double max, bool min_exclusive) const {
  auto v = opt_double(key, min, max, min_exclusive);
  if (!v)
    fail(key, fmt::format("required key is missing (expected {})", range_text(min, max, min_exclusive, "a number")));
  return *v;
}

bool Map::get_bool(std::string_view key, bool def) const {
  const YAML::Node n = find(key);
  if (!n.IsDefined() || n.IsNull()) return def;
  try {
    if (n.IsScalar()) return n.as<bool>();
  } catch (const YAML::Exception&) {
  }
  fail_expected(key, "true or false");
}

std::optional<std::string> Map::opt_string(std::string_view key) const {
  const YAML::Node n = find(key);
  if (!n.IsDefined() || n.IsNull()) return std::nullopt;
  if (!n.IsScalar()) fail_expected(key, "a string");
  return n.Scalar();
}

std::string Map::get_string(std::string_view key, std::string def) const {
  return opt_string(key).value_or(std::move(def));
}

std::string Map::req_string(std::string_view key) const {
  auto v = opt_string(key);
  if (!v) fail(key, "required key is missing (expected a string)");
  return *v;
}

std::string Map::get_choice(std::string_view key, std::string def, const std::vector<std::string>& choices) const {
  auto v = opt_string(key);
  if (!v) return def;
  for (const auto& c : choices) {
    if (*v == c) return *v;
  }
  fail(key, fmt::format("expected one of {}, found '{}'{}", join(choices), *v, did_you_mean(*v, choices)));
}

std::optional<uint64_t> Map::opt_bytes(std::string_view key) const {
  const YAML::Node n = find(key);
  if (!n.IsDefined() || n.IsNull()) return std::nullopt;
  std::optional<uint64_t> v;
  if (n.IsScalar()) v = parse_bytes(n.Scalar());
  if (!v) fail_expected(key, "a byte size such as 4096, 12GiB or 16GB");
  return v;
}

std::vector<double> Map::get_double_list(std::string_view key, std::vector<double> def, double min, double max,
                                         bool min_exclusive) const {
  const YAML::Node n = find(key);
  if (!n.IsDefined() || n.IsNull()) return def;
  if (!std::isfinite(min) || !std::isfinite(max)) throw std::logic_error("unbounded number read: " + path_of(key));
  const std::string expected = "a list of " + range_text(min, max, min_exclusive, "numbers");
  if (!n.IsSequence() || n.size() == 0) fail_expected(key, expected);
  std::vector<double> out;
  for (const auto& item : n) {
    double v = 0;
    try {
      if (item.Tag() == "!") throw YAML::Exception(item.Mark(), "quoted");
      v = item.as<double>();
    } catch (const YAML::Exception&) {
      fail(key, fmt::format("expected {}, found {}", expected, describe(item)));
    }
    if (!std::isfinite(v) || v > max || (min_exclusive ? v <= min : v < min)) {
      fail(key, fmt::format("expected {}, found {}", expected, describe(item)));
    }
    out.push_back(v);
  }
  return out;
}

Map Map::child(std::string_view key) const { return Map(find(key), source_, path_of(key)); }

YAML::Node Map::raw(std::string_view key) const { return find(key); }

void Map::finish() const {
  if (!node_.IsMap()) return;
  std::vector<std::string> valid(read_.begin(), read_.end());
  for (auto it = node_.begin(); it != node_.end(); ++it) {
    const std::string key = it->first.Scalar();
    if (read_.count(key)) continue;
    const std::string dotted = path_of(key);
    const Place p = overridden(dotted) ? Place{"--set"} : place_from_mark(it->first.Mark(), source_->file);
    throw Error(p, fmt::format("{}: unknown key{}", dotted, did_you_mean(key, valid)));
  }
}

}  // namespace kvsim::yaml
