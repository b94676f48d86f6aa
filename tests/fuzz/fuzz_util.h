// Shared by the fuzz targets: a parser may reject its input only with kvsim::Error (a clear message); any other
// exception, a crash, a leak or undefined behaviour is a finding.
#pragma once

#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <fstream>
#include <string>

namespace kvsim::fuzz {

inline std::string text(const uint8_t* data, size_t size) {
  return std::string(reinterpret_cast<const char*>(data), size);
}

// Writes the input to a per-process temporary file, for parsers that read a path.
inline std::string temp_file(const std::string& data, const char* ext) {
  const std::string path = "/tmp/kvsim-fuzz-" + std::to_string(::getpid()) + ext;
  std::ofstream(path, std::ios::binary) << data;
  return path;
}

}  // namespace kvsim::fuzz
