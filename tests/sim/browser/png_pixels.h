// Reads the pixels of a PNG as a headless browser writes it (8-bit RGB or RGBA, not interlaced) with zlib alone, for
// the report screenshot test: enough to count how much of a page is drawn and in which colours.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace kvsim::testing {

struct Pixels {
  int64_t width = 0, height = 0;
  std::vector<uint8_t> rgb;  // width * height * 3
  std::string error;         // empty when decoded
};

Pixels read_png(const std::string& path);

}  // namespace kvsim::testing
