#include "traces/azure_csv.h"

#include "sim/core/time.h"

namespace kvsim::traces {

namespace {
int64_t floor_div(int64_t a, int64_t b) { return a / b - ((a % b != 0) && ((a < 0) != (b < 0)) ? 1 : 0); }

bool is_leap_year(int64_t y) { return y % 4 == 0 && (y % 100 != 0 || y % 400 == 0); }

int days_in_month(int64_t year, int month) {
  static constexpr int kDays[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return month == 2 && is_leap_year(year) ? 29 : kDays[month - 1];
}

// Days from 0001-01-01 to January 1st of `year`: 365 per year plus one per leap year among years 1 .. year-1.
int64_t days_before_year(int64_t year) {
  const int64_t y = year - 1;
  return 365 * y + floor_div(y, 4) - floor_div(y, 100) + floor_div(y, 400);
}

// Reads exactly `width` decimal digits at `pos`.
std::optional<int64_t> digits(std::string_view s, size_t pos, size_t width) {
  if (pos + width > s.size()) return std::nullopt;
  int64_t v = 0;
  for (size_t i = pos; i < pos + width; ++i) {
    if (s[i] < '0' || s[i] > '9') return std::nullopt;
    v = v * 10 + (s[i] - '0');
  }
  return v;
}
}  // namespace

int64_t days_from_civil(int64_t year, int month, int day) {
  static constexpr int kDaysBeforeMonth[12] = {0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334};
  const int64_t day_of_year = kDaysBeforeMonth[month - 1] + (month > 2 && is_leap_year(year) ? 1 : 0) + day - 1;
  return days_before_year(year) - days_before_year(1970) + day_of_year;
}

std::optional<int64_t> parse_timestamp_ns(std::string_view s) {
  // 0123456789012345678
  // YYYY-MM-DD HH:MM:SS
  if (s.size() < 19 || s[4] != '-' || s[7] != '-' || (s[10] != ' ' && s[10] != 'T') || s[13] != ':' || s[16] != ':') {
    return std::nullopt;
  }
  const auto year = digits(s, 0, 4), month = digits(s, 5, 2), day = digits(s, 8, 2);
  const auto hour = digits(s, 11, 2), minute = digits(s, 14, 2), second = digits(s, 17, 2);
  if (!year || !month || !day || !hour || !minute || !second) return std::nullopt;
  // int64 ns from 1970 reach 2262; a trace's times are recorded ones.
  if (*year < kFirstTraceYear || *year > kLastTraceYear) return std::nullopt;
  if (*month < 1 || *month > 12 || *day < 1 || *day > days_in_month(*year, static_cast<int>(*month)) || *hour > 23 ||
      *minute > 59 || *second > 59) {
    return std::nullopt;
  }
  // A trailing UTC offset: Z, +HH:MM or -HH:MM.
  int64_t offset_s = 0;
  if (s.size() > 19 && (s.back() == 'Z' || s.back() == 'z')) {
    s.remove_suffix(1);
  } else if (s.size() >= 25 && (s[s.size() - 6] == '+' || s[s.size() - 6] == '-') && s[s.size() - 3] == ':') {
    const auto oh = digits(s, s.size() - 5, 2), om = digits(s, s.size() - 2, 2);
    if (!oh || !om || *oh > 14 || *om > 59) return std::nullopt;
    offset_s = (*oh * 60 + *om) * 60 * (s[s.size() - 6] == '-' ? -1 : 1);
    s.remove_suffix(6);
  }
  int64_t ns = 0;
  if (s.size() > 19) {
    const size_t frac_digits = s.size() - 20;
    if (s[19] != '.' || frac_digits < 1 || frac_digits > 9) return std::nullopt;
    const auto frac = digits(s, 20, frac_digits);
    if (!frac) return std::nullopt;
    ns = *frac;
    for (size_t i = frac_digits; i < 9; ++i) ns *= 10;
  }
  const int64_t days = days_from_civil(*year, static_cast<int>(*month), static_cast<int>(*day));
  return (((days * 24 + *hour) * 60 + *minute) * 60 + *second - offset_s) * kNsPerS + ns;
}

}  // namespace kvsim::traces
