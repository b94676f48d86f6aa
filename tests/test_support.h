// Small helpers shared by every test suite.
#pragma once

#include <functional>
#include <string>

#include "sim/core/error.h"

namespace kvsim::testing {

// The message of the kvsim::Error that `f` throws, or "<no error>".
inline std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "<no error>";
}

}  // namespace kvsim::testing
