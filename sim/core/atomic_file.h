// Outputs are written to "<name>.tmp.<pid>" and renamed into place on commit(), so an interrupted or failed run never
// leaves a half-written result; an uncommitted file is removed when the writer goes away.
#pragma once

#include <fstream>
#include <string>

namespace kvsim {

class AtomicFile {
 public:
  explicit AtomicFile(std::string path);
  ~AtomicFile();
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;

  std::ostream& stream() { return out_; }
  void commit();  // flush, close and rename; throws kvsim::Error on I/O failure
  void discard();
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  std::string tmp_path_;
  std::ofstream out_;
  bool done_ = false;
};

void write_file_atomic(const std::string& path, const std::string& content);

}  // namespace kvsim
