// cuBLASLt is opened on first use, not at start: a process that never calls it never maps it (and never pays its
// ~210 MB of load-time initialisation), and the first call reaches the real library.
#include <cublasLt.h>
#include <gtest/gtest.h>

#include <fstream>
#include <string>

namespace {

bool mapped(const std::string& library) {
  std::ifstream maps("/proc/self/maps");
  std::string line;
  while (std::getline(maps, line)) {
    if (line.find(library) != std::string::npos) return true;
  }
  return false;
}

TEST(CublasLtLazy, OpenedOnFirstCallOnly) {
  ASSERT_FALSE(mapped("libcublasLt")) << "cuBLASLt is mapped before any call: is it linked again?";
  // A call that needs no GPU: the library's own text (CUDA 13 says "success"), not the forwarder's "cannot open".
  const std::string status = cublasLtGetStatusString(CUBLAS_STATUS_SUCCESS);
  EXPECT_NE(status.find("success"), std::string::npos) << status;
  EXPECT_TRUE(mapped("libcublasLt"));
}

}  // namespace
