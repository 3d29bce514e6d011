// libFuzzer entry points of iommuvm's input parsers. Each target feeds one input to the code
// that reads that kind of text and does with the result what the program does (expands the
// matrix, writes JSON), so a crash, a hang, an exception that is not a bad-input error or
// invalid JSON output is a finding. A bad-input error (exit 2) is the right answer.
//
// Built two ways: with clang's -fsanitize=fuzzer by scripts/fuzz.sh, and with the ordinary
// compiler as replay programs that run the corpus in tests/fuzz/corpus/ as regression tests
// (tests/CMakeLists.txt).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "iommuvm/util/error.hpp"

namespace iommuvm::fuzz {

// Runs BODY; a bad-input error is an answer, anything else escapes (libFuzzer reports it).
template <class F>
int guarded(F&& body) {
  try {
    body();
  } catch (const Error& e) {
    if (e.code() != ExitCode::bad_input) throw;
  }
  return 0;
}

inline std::string_view as_text(const std::uint8_t* data, std::size_t size) {
  return {reinterpret_cast<const char*>(data), size};
}

}  // namespace iommuvm::fuzz
