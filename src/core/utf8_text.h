// Is it text? The first byte of a buffer that is not UTF-8 text (training files, YAML files).
#pragma once

#include <cstddef>
#include <string_view>

namespace dsla {

/// The offset of the first byte that is not part of UTF-8 text (a NUL, a stray continuation byte,
/// a truncated or invalid sequence), or npos when `s` is text.
size_t first_non_text_byte(std::string_view s);

}  // namespace dsla
