#include "tests/sim/browser/png_pixels.h"

#include <zlib.h>

#include <cstdlib>
#include <fstream>
#include <sstream>

namespace kvsim::testing {

namespace {

uint32_t be32(const std::string& s, size_t at) {
  return (static_cast<uint32_t>(static_cast<uint8_t>(s[at])) << 24) |
         (static_cast<uint32_t>(static_cast<uint8_t>(s[at + 1])) << 16) |
         (static_cast<uint32_t>(static_cast<uint8_t>(s[at + 2])) << 8) |
         static_cast<uint32_t>(static_cast<uint8_t>(s[at + 3]));
}

// The PNG specification's Paeth predictor (PNG 1.2, section 6.6).
uint8_t paeth(int a, int b, int c) {
  const int p = a + b - c, pa = std::abs(p - a), pb = std::abs(p - b), pc = std::abs(p - c);
  return static_cast<uint8_t>(pa <= pb && pa <= pc ? a : pb <= pc ? b : c);
}

}  // namespace

Pixels read_png(const std::string& path) {
  Pixels out;
  std::ifstream in(path, std::ios::binary);
  std::stringstream buf;
  buf << in.rdbuf();
  const std::string s = buf.str();
  if (s.size() < 8 || s.compare(0, 8, "\x89PNG\r\n\x1a\n") != 0) return out.error = "not a PNG", out;
  std::string idat;
  int depth = 0, color = -1, interlace = 0;
  for (size_t at = 8; at + 12 <= s.size();) {
    const uint32_t len = be32(s, at);
    const std::string type = s.substr(at + 4, 4);
    if (at + 12 + len > s.size()) return out.error = "truncated chunk", out;
    if (type == "IHDR") {
      out.width = be32(s, at + 8);
      out.height = be32(s, at + 12);
      depth = static_cast<uint8_t>(s[at + 16]);
      color = static_cast<uint8_t>(s[at + 17]);
      interlace = static_cast<uint8_t>(s[at + 20]);
    } else if (type == "IDAT") {
      idat.append(s, at + 8, len);
    }
    at += 12 + len;
  }
  if (depth != 8 || (color != 2 && color != 6) || interlace != 0) return out.error = "unsupported PNG format", out;
  const size_t bpp = color == 6 ? 4 : 3, stride = static_cast<size_t>(out.width) * bpp;
  std::vector<uint8_t> raw((stride + 1) * static_cast<size_t>(out.height));
  uLongf raw_len = raw.size();
  if (uncompress(raw.data(), &raw_len, reinterpret_cast<const Bytef*>(idat.data()), idat.size()) != Z_OK ||
      raw_len != raw.size()) {
    return out.error = "bad image data", out;
  }
  std::vector<uint8_t> prev(stride, 0), cur(stride);
  out.rgb.reserve(static_cast<size_t>(out.width * out.height) * 3);
  for (int64_t y = 0; y < out.height; ++y) {
    const uint8_t* row = raw.data() + static_cast<size_t>(y) * (stride + 1);
    const uint8_t filter = row[0];
    for (size_t i = 0; i < stride; ++i) {
      const int a = i >= bpp ? cur[i - bpp] : 0, b = prev[i], c = i >= bpp ? prev[i - bpp] : 0;
      const int x = row[1 + i];
      switch (filter) {
        case 0:
          cur[i] = static_cast<uint8_t>(x);
          break;
        case 1:
          cur[i] = static_cast<uint8_t>(x + a);
          break;
        case 2:
          cur[i] = static_cast<uint8_t>(x + b);
          break;
        case 3:
          cur[i] = static_cast<uint8_t>(x + (a + b) / 2);
          break;
        case 4:
          cur[i] = static_cast<uint8_t>(x + paeth(a, b, c));
          break;
        default:
          return out.error = "bad filter", out;
      }
    }
    for (size_t px = 0; px < static_cast<size_t>(out.width); ++px) {
      // Over a white page, as it was shown.
      const int alpha = bpp == 4 ? cur[px * 4 + 3] : 255;
      for (size_t k = 0; k < 3; ++k) {
        out.rgb.push_back(static_cast<uint8_t>((cur[px * bpp + k] * alpha + 255 * (255 - alpha)) / 255));
      }
    }
    prev.swap(cur);
  }
  return out;
}

}  // namespace kvsim::testing
