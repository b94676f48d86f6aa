#include "sim/core/yaml.h"

#include <gtest/gtest.h>

#include "tests/test_support.h"

namespace kvsim::yaml {
namespace {

std::shared_ptr<Source> src(const std::string& file = "s.yaml") {
  auto s = std::make_shared<Source>();
  s->file = file;
  return s;
}

using kvsim::testing::error_of;

TEST(YamlMap, UnknownKeyNamesPlaceAndNearestKey) {
  const YAML::Node root = load_string("cache:\n  blok_size: 16\n", "s.yaml");
  Map top(root, src());
  Map cache = top.child("cache");
  EXPECT_EQ(cache.get_int("block_size", 16, 1, 4096), 16);
  EXPECT_EQ(error_of([&] { cache.finish(); }), "s.yaml:2:3: cache.blok_size: unknown key (did you mean 'block_size'?)");
}

TEST(YamlMap, WrongTypeNamesExpectedAndFound) {
  const YAML::Node root = load_string("engine:\n  max_num_seqs: abc\n", "s.yaml");
  Map engine = Map(root, src()).child("engine");
  EXPECT_EQ(error_of([&] { engine.get_int("max_num_seqs", 1, 1, 1 << 24); }),
            "s.yaml:2:17: engine.max_num_seqs: expected an integer in [1 .. 16777216], found 'abc'");
}

TEST(YamlMap, RangeIsCheckedOnBothSides) {
  const YAML::Node root = load_string("a: 0\nb: 1\nr: -1\n", "s.yaml");
  Map m(root, src());
  EXPECT_NE(error_of([&] { m.get_int("a", 1, 1, 100); }), "<no error>");
  EXPECT_EQ(m.get_int("b", 5, 1, 100), 1);
  EXPECT_EQ(error_of([&] { m.get_double("r", 1, 0, 10, true); }),
            "s.yaml:3:4: r: expected a number in (0 .. 10], found '-1'");
  // A read must state finite bounds: that is what keeps derived quantities from overflowing.
  EXPECT_THROW(m.get_double("b", 1, 0, kInf), std::logic_error);
}

TEST(YamlMap, QuotedNumberIsAStringNotANumber) {
  const YAML::Node root = load_string("{\"num_hidden_layers\": \"32\", \"x\": 2.5}", "config.json");
  Map m(root, src());
  EXPECT_EQ(error_of([&] { m.get_int("num_hidden_layers", 1, 1, 4096); }),
            "s.yaml:1:23: num_hidden_layers: expected an integer in [1 .. 4096], found the quoted string '32'");
  EXPECT_EQ(m.get_double("x", 0, 0, 10), 2.5);
}

TEST(YamlLoad, DuplicateKeysAndSecondDocumentsAreRefused) {
  EXPECT_EQ(error_of([] { load_string("engine:\n  max_num_seqs: 8\n  max_num_seqs: 16\n", "s.yaml"); }),
            "s.yaml:3:3: max_num_seqs: duplicate key (first at line 2): YAML would keep only the first");
  EXPECT_EQ(error_of([] { load_string("a: [{b: 1, b: 2}]\n", "s.yaml"); }),
            "s.yaml:1:12: b: duplicate key (first at line 1): YAML would keep only the first");
  EXPECT_EQ(error_of([] { load_string("model: llama-3.1-8b\n---\nmodel: opt-13b\n", "s.yaml"); }),
            "s.yaml:2:1: a second YAML document: kvsim reads one document per file");
  EXPECT_EQ(error_of([] { load_string("---\nmodel: x\n...\n", "s.yaml"); }), "<no error>");
  // Deep nesting is refused with a place, never a stack overflow.
  EXPECT_NE(error_of([] { load_string(std::string(100000, '['), "deep.yaml"); }).find("deep.yaml:"),
            std::string::npos);
}

TEST(YamlMap, ChoiceSuggestsNearest) {
  const YAML::Node root = load_string("preemption: swop\n", "s.yaml");
  Map m(root, src());
  EXPECT_EQ(error_of([&] {
              m.get_choice("preemption", "recompute", {"recompute", "swap"});
            }),
            "s.yaml:1:13: preemption: expected one of recompute, swap, found 'swop' (did you mean 'swap'?)");
}

TEST(YamlMap, BytesAcceptBinaryAndDecimalSuffixes) {
  const YAML::Node root = load_string("a: 12GiB\nb: 16GB\nc: 4096\nd: lots\n", "s.yaml");
  Map m(root, src());
  EXPECT_EQ(*m.opt_bytes("a"), 12ull << 30);
  EXPECT_EQ(*m.opt_bytes("b"), 16'000'000'000ull);
  EXPECT_EQ(*m.opt_bytes("c"), 4096ull);
  EXPECT_NE(error_of([&] { m.opt_bytes("d"); }).find("expected a byte size"), std::string::npos);
}

TEST(YamlOverride, SetsNestedKeysAndErrorsNameSet) {
  YAML::Node root = load_string("cache:\n  block_size: 16\n", "s.yaml");
  auto s = src();
  apply_override(root, "cache.block_size=0", *s);
  apply_override(root, "engine.max_num_seqs=8", *s);
  Map m(root, s);
  EXPECT_EQ(m.child("engine").get_int("max_num_seqs", 1, 1, 1 << 24), 8);
  EXPECT_EQ(error_of([&] { m.child("cache").get_int("block_size", 16, 1, 4096); }),
            "--set: cache.block_size: expected an integer in [1 .. 4096], found '0'");
}

TEST(YamlOverride, RejectsAssignmentWithoutEquals) {
  YAML::Node root;
  Source s;
  EXPECT_EQ(error_of([&] { apply_override(root, "cache.block_size", s); }),
            "--set: expected KEY=VALUE, found 'cache.block_size'");
}

TEST(YamlLoad, MalformedYamlNamesLineAndColumn) {
  const std::string e = error_of([] { load_string("a: [1, 2\nb: 3\n", "bad.yaml"); });
  EXPECT_EQ(e.rfind("bad.yaml:", 0), 0u) << e;
  EXPECT_NE(e.find("invalid YAML"), std::string::npos) << e;
}

}  // namespace
}  // namespace kvsim::yaml
