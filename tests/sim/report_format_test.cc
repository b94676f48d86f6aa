// The report's number formatting (sim/planning/report_format.h): three significant digits, SI suffixes and units,
// never scientific notation, and what it prints reads back as the value it stands for.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <string>

#include "sim/planning/report_format.h"

namespace kvsim::sim {
namespace {

TEST(ReportFormat, PlainNumberKeepsThreeSignificantDigitsWithoutPadding) {
  EXPECT_EQ(plain_number(0), "0");
  EXPECT_EQ(plain_number(12.0), "12");
  EXPECT_EQ(plain_number(1.234), "1.23");
  EXPECT_EQ(plain_number(0.000123456), "0.000123");
  EXPECT_EQ(plain_number(-45.678), "-45.7");
  EXPECT_EQ(plain_number(1234.4), "1234");  // an integer part keeps its digits
  EXPECT_EQ(plain_number(-0.0001, 1), "-0.0001");
}

TEST(ReportFormat, SuffixesAndUnitsAsPeopleWriteThem) {
  EXPECT_EQ(human_count(950), "950");
  EXPECT_EQ(human_count(19400), "19.4K");
  EXPECT_EQ(human_count(1.23e6), "1.23M");
  EXPECT_EQ(human_count(-2500), "-2.5K");
  EXPECT_EQ(human_bytes(512), "512 B");
  EXPECT_EQ(human_bytes(62.1e9), "62.1 GB");
  EXPECT_EQ(human_bytes(2.4e12), "2.4 TB");
  EXPECT_EQ(human_seconds(0), "0 s");
  EXPECT_EQ(human_seconds(1.23), "1.23 s");
  EXPECT_EQ(human_ms(12.5), "12.5 ms");
  EXPECT_EQ(human_ms(0.85), "850 us");
  EXPECT_EQ(human_seconds(300), "300 s");
  EXPECT_EQ(human_seconds(750), "12.5 min");
  EXPECT_EQ(human_seconds(5400), "90 min");
  EXPECT_EQ(human_seconds(9000), "2.5 h");
  EXPECT_EQ(human_usd(12.29), "$12.3");
  EXPECT_EQ(human_usd(1230), "$1.23K");
}

// Both sides of each unit's limit: a value that rounds up to 1000 of a unit reads in the next one.
TEST(ReportFormat, RoundingUpMovesToTheNextUnit) {
  EXPECT_EQ(human_count(999.4), "999");
  EXPECT_EQ(human_count(999.6), "1K");
  EXPECT_EQ(human_count(999449), "999K");
  EXPECT_EQ(human_count(999951), "1M");
  EXPECT_EQ(human_bytes(999.6e9), "1 TB");
  EXPECT_EQ(human_ms(999.4), "999 ms");
  EXPECT_EQ(human_ms(999.6), "1 s");
  EXPECT_EQ(human_ms(0.9994), "999 us");
  EXPECT_EQ(human_ms(0.9996), "1 ms");
}

// Over 24 decades: no exponent, at most 3 significant digits plus a suffix, and the text reads back within rounding.
TEST(ReportFormat, NeverScientificAndReadsBackWithinRounding) {
  const auto suffix_scale = [](const std::string& s, size_t& end) {
    static const std::pair<const char*, double> kUnits[] = {
        {" ns", 1e-9}, {" us", 1e-6}, {" ms", 1e-3}, {" min", 60},  {" h", 3600},  {" s", 1},
        {" KB", 1e3},  {" MB", 1e6},  {" GB", 1e9},  {" TB", 1e12}, {" PB", 1e15}, {" B", 1},
        {"K", 1e3},    {"M", 1e6},    {"G", 1e9},    {"T", 1e12},   {"P", 1e15}};
    for (const auto& [text, scale] : kUnits) {
      const std::string t(text);
      if (s.size() > t.size() && s.compare(s.size() - t.size(), t.size(), t) == 0) {
        end = s.size() - t.size();
        return scale;
      }
    }
    end = s.size();
    return 1.0;
  };
  for (int k = -9; k <= 15; ++k) {
    for (const double m : {1.0, 1.5, 2.345, 5.0, 9.87}) {
      const double v = m * std::pow(10.0, k);
      for (const std::string& s : {human_count(v), human_bytes(v), human_seconds(v)}) {
        EXPECT_EQ(s.find_first_of("eE"), std::string::npos) << v << " -> " << s;
        size_t end = 0;
        const double scale = suffix_scale(s, end);
        const double back = std::strtod(s.substr(0, end).c_str(), nullptr) * scale;
        // Counts and bytes stop at P, where an integer part keeps its digits; three digits are within 0.5 %.
        EXPECT_NEAR(back, v, v * 0.005 + 1e-12) << v << " -> " << s;
      }
    }
  }
}

}  // namespace
}  // namespace kvsim::sim
