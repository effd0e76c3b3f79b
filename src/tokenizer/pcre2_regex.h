// A compiled PCRE2 pattern (UTF + UCP, JIT when available) that lists its matches in a string.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace dsla::tokenizer {

class Pcre2Regex {
 public:
  /// Compiles `pattern`; `literal` matches it as plain text. Throws dsla::Error naming `origin` on
  /// failure.
  Pcre2Regex(const std::string& pattern, bool literal, const std::string& origin);
  ~Pcre2Regex();
  Pcre2Regex(const Pcre2Regex&) = delete;
  Pcre2Regex& operator=(const Pcre2Regex&) = delete;

  /// Byte ranges [begin, end) of the non-empty, non-overlapping matches in `text`, left to right.
  std::vector<std::pair<size_t, size_t>> find_all(std::string_view text) const;

 private:
  void* code_ = nullptr;  // pcre2_code_8*
  std::string origin_;
};

}  // namespace dsla::tokenizer
