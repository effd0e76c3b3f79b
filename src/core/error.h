// dsla::Error and DSLA_CHECK: user-facing errors (bad files, bad config, bad input) that name what
// is wrong.
#pragma once

#include <fmt/format.h>

#include <stdexcept>
#include <string>

namespace dsla {

/// An error caused by the user's input (a file, a recipe, a request). The CLI prints it and exits
/// non-zero.
class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& what) : std::runtime_error(what) {}
};

}  // namespace dsla

/// DSLA_CHECK(cond, "format {}", args...): throws dsla::Error with the formatted message when cond
/// is false.
#define DSLA_CHECK(cond, ...)                                     \
  do {                                                            \
    if (!(cond)) throw ::dsla::Error(::fmt::format(__VA_ARGS__)); \
  } while (0)

/// DSLA_FAIL("format {}", args...): throws dsla::Error unconditionally.
#define DSLA_FAIL(...) throw ::dsla::Error(::fmt::format(__VA_ARGS__))
