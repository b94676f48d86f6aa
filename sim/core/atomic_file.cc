#include "sim/core/atomic_file.h"

#include <cstdio>
#include <filesystem>

#include <fmt/format.h>
#include <unistd.h>

#include "sim/core/error.h"
#include "sim/core/input_file.h"
#include "sim/core/interrupt.h"

namespace kvsim {

AtomicFile::AtomicFile(std::string path) : path_(std::move(path)) {
  check_not_an_input(path_);
  tmp_path_ = fmt::format("{}.tmp.{}", path_, static_cast<long>(::getpid()));
  slot_ = register_temp_file(tmp_path_);
  out_.open(tmp_path_, std::ios::out | std::ios::trunc | std::ios::binary);
  if (!out_) {
    release_temp_file(slot_);
    throw Error(Place{path_}, "cannot open for writing");
  }
}

AtomicFile::~AtomicFile() { discard(); }

void AtomicFile::finish_writing() {
  if (written_ || done_) return;
  out_.flush();
  const bool ok = static_cast<bool>(out_);
  out_.close();
  written_ = true;
  if (!ok || out_.fail()) {
    discard();
    throw Error(Place{path_}, "write failed (is the disk full?)");
  }
}

void AtomicFile::rename_into_place() {
  if (done_) return;
  finish_writing();
  try {
    check_not_an_input(path_);  // an input read after this file was opened
  } catch (...) {
    discard();
    throw;
  }
  std::error_code ec;
  std::filesystem::rename(tmp_path_, path_, ec);
  done_ = true;
  release_temp_file(slot_);
  if (ec) {
    std::remove(tmp_path_.c_str());
    throw Error(Place{path_}, fmt::format("cannot rename into place: {}", ec.message()));
  }
}

void AtomicFile::commit() { rename_into_place(); }

void AtomicFile::discard() {
  if (done_) return;
  out_.close();
  std::remove(tmp_path_.c_str());
  release_temp_file(slot_);
  done_ = true;
}

void write_file_atomic(const std::string& path, const std::string& content) {
  AtomicFile f(path);
  f.stream() << content;
  f.commit();
}

void commit_all(const std::vector<AtomicFile*>& files) {
  try {
    for (AtomicFile* f : files) f->finish_writing();
  } catch (...) {
    for (AtomicFile* f : files) f->discard();
    throw;
  }
  for (AtomicFile* f : files) f->rename_into_place();
}

}  // namespace kvsim
