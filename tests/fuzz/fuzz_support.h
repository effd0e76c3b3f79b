// Shared by the libFuzzer targets: a per-process scratch directory for inputs that loaders read
// from files, and the rule every target checks (a bad input may only raise the error type the
// caller handles; anything else escapes, aborts, and libFuzzer records the input).
#pragma once

#include <stdlib.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <string>

namespace dsla::fuzz {

/// A directory made once per process under $TMPDIR (or /tmp); files in it are overwritten by
/// every input.
inline const std::filesystem::path& scratch_dir() {
  static const std::filesystem::path dir = [] {
    const char* tmp = std::getenv("TMPDIR");
    std::string pattern = std::string(tmp != nullptr ? tmp : "/tmp") + "/dsla_fuzz_XXXXXX";
    if (::mkdtemp(pattern.data()) == nullptr) std::abort();
    return std::filesystem::path(pattern);
  }();
  return dir;
}

/// Writes `size` bytes to `scratch_dir()/name` and returns the path.
inline std::filesystem::path write_scratch(const std::string& name, const uint8_t* data,
                                           size_t size) {
  std::filesystem::path path = scratch_dir() / name;
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (f == nullptr) std::abort();
  if (size > 0 && std::fwrite(data, 1, size, f) != size) std::abort();
  std::fclose(f);
  return path;
}

/// The repository's data/fixtures folder (compiled in by tests/fuzz/CMakeLists.txt).
inline std::filesystem::path fixtures_dir() {
  return DSLA_FUZZ_FIXTURES;
}

}  // namespace dsla::fuzz
