// Implementation of Pcre2Regex (pcre2_regex.h) over libpcre2-8.
#define PCRE2_CODE_UNIT_WIDTH 8
#include "tokenizer/pcre2_regex.h"

#include <pcre2.h>

#include <memory>

#include "core/error.h"
#include "tokenizer/utf8_util.h"

namespace dsla::tokenizer {

namespace {

std::string pcre2_message(int code) {
  PCRE2_UCHAR buffer[256];
  pcre2_get_error_message(code, buffer, sizeof(buffer));
  return reinterpret_cast<const char*>(buffer);
}

pcre2_code* as_code(void* code) {
  return static_cast<pcre2_code*>(code);
}

}  // namespace

Pcre2Regex::Pcre2Regex(const std::string& pattern, bool literal, const std::string& origin)
    : origin_(origin) {
  // PCRE2_LITERAL admits UTF but not UCP (which only matters for character classes anyway).
  const uint32_t options = PCRE2_UTF | (literal ? PCRE2_LITERAL : PCRE2_UCP);
  int error_code = 0;
  PCRE2_SIZE error_offset = 0;
  pcre2_code* code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(),
                                   options, &error_code, &error_offset, nullptr);
  DSLA_CHECK(code != nullptr, "{}: cannot compile regex '{}' at offset {}: {}", origin, pattern,
             error_offset, pcre2_message(error_code));
  pcre2_jit_compile(code, PCRE2_JIT_COMPLETE);  // falls back to the interpreter when JIT is missing
  code_ = code;
}

Pcre2Regex::~Pcre2Regex() {
  pcre2_code_free(as_code(code_));
}

std::vector<std::pair<size_t, size_t>> Pcre2Regex::find_all(std::string_view text) const {
  std::unique_ptr<pcre2_match_data, decltype(&pcre2_match_data_free)> data(
      pcre2_match_data_create_from_pattern(as_code(code_), nullptr), &pcre2_match_data_free);
  std::vector<std::pair<size_t, size_t>> matches;
  const auto* subject = reinterpret_cast<PCRE2_SPTR>(text.data());
  size_t offset = 0;
  uint32_t options = 0;
  while (offset <= text.size()) {
    const int rc =
        pcre2_match(as_code(code_), subject, text.size(), offset, options, data.get(), nullptr);
    if (rc == PCRE2_ERROR_NOMATCH) break;
    DSLA_CHECK(rc >= 0, "{}: regex match failed: {}", origin_, pcre2_message(rc));
    const PCRE2_SIZE* ovector = pcre2_get_ovector_pointer(data.get());
    const size_t begin = ovector[0], end = ovector[1];
    if (end > begin) {
      matches.emplace_back(begin, end);
      offset = end;
    } else {  // empty match: step over one character
      if (begin >= text.size()) break;
      offset = begin + utf8_char_length(static_cast<unsigned char>(text[begin]));
    }
    options = PCRE2_NO_UTF_CHECK;  // the subject was checked by the first call
  }
  return matches;
}

}  // namespace dsla::tokenizer
