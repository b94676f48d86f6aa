#include "sim/core/atomic_file.h"

#include <cstdio>
#include <filesystem>

#include <fmt/format.h>
#include <unistd.h>

#include "sim/core/error.h"

namespace kvsim {

AtomicFile::AtomicFile(std::string path) : path_(std::move(path)) {
  tmp_path_ = fmt::format("{}.tmp.{}", path_, static_cast<long>(::getpid()));
  out_.open(tmp_path_, std::ios::out | std::ios::trunc | std::ios::binary);
  if (!out_) throw Error(Place{path_}, "cannot open for writing");
}

AtomicFile::~AtomicFile() { discard(); }

void AtomicFile::commit() {
  if (done_) return;
  out_.flush();
  const bool ok = static_cast<bool>(out_);
  out_.close();
  done_ = true;
  if (!ok) {
    std::remove(tmp_path_.c_str());
    throw Error(Place{path_}, "write failed");
  }
  std::error_code ec;
  std::filesystem::rename(tmp_path_, path_, ec);
  if (ec) {
    std::remove(tmp_path_.c_str());
    throw Error(Place{path_}, fmt::format("cannot rename into place: {}", ec.message()));
  }
}

void AtomicFile::discard() {
  if (done_) return;
  out_.close();
  std::remove(tmp_path_.c_str());
  done_ = true;
}

void write_file_atomic(const std::string& path, const std::string& content) {
  AtomicFile f(path);
  f.stream() << content;
  f.commit();
}

}  // namespace kvsim
