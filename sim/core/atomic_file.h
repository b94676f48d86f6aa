// Outputs are written to "<name>.tmp.<pid>" and renamed into place on commit(), so an interrupted or failed run never
// leaves a half-written result; an uncommitted file is removed when the writer goes away, and the interrupt
// watchdog and crash handler remove it too (sim/core/interrupt.h). Several files that form one result (a run's
// folder) are committed together by commit_all: every file is written and flushed first, and only when all
// succeeded are they renamed, so a folder never mixes two runs' files.
#pragma once

#include <fstream>
#include <string>
#include <vector>

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

  // The two halves of commit(): flush and close, throwing on a failed write (the temporary file stays until
  // discard), then rename.
  void finish_writing();
  void rename_into_place();

 private:
  std::string path_;
  std::string tmp_path_;
  std::ofstream out_;
  int slot_ = -1;
  bool written_ = false;
  bool done_ = false;
};

void write_file_atomic(const std::string& path, const std::string& content);

// Finish writing every file, then rename them all; a failed write discards them all and throws.
void commit_all(const std::vector<AtomicFile*>& files);

}  // namespace kvsim
