// UTF-8 helpers for the tokenizers: code point iteration, Unicode whitespace, GPT-2's byte <-> char
// table.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace dsla::tokenizer {

/// Length in bytes of the UTF-8 sequence starting with `lead` (1 for stray continuation or invalid
/// bytes).
size_t utf8_char_length(unsigned char lead);
/// Decodes the code point at `pos` (advancing `pos`); invalid bytes decode as themselves, one byte
/// each.
char32_t utf8_next(std::string_view text, size_t& pos);
/// Appends `cp` as UTF-8.
void utf8_append(std::string& out, char32_t cp);
/// Unicode White_Space (what Rust's char::is_whitespace accepts).
bool is_unicode_whitespace(char32_t cp);
/// Letters and digits, approximating Rust's char::is_alphanumeric (every non-ASCII non-space
/// counts).
bool is_word_char(char32_t cp);

/// GPT-2's reversible byte -> printable character map used by byte-level BPE.
class ByteLevelAlphabet {
 public:
  static const ByteLevelAlphabet& instance();
  /// The UTF-8 text of the character that stands for `byte`.
  const std::string& encode_byte(unsigned char byte) const { return byte_to_text_[byte]; }
  /// Maps each byte of `raw` to its character.
  std::string encode(std::string_view raw) const;
  /// Maps characters back to bytes; characters outside the alphabet are kept as they are.
  std::string decode(std::string_view mapped) const;

 private:
  ByteLevelAlphabet();
  std::array<std::string, 256> byte_to_text_;
  std::array<int, 512> char_to_byte_{};  // code points < 512 cover the whole alphabet
};

}  // namespace dsla::tokenizer
