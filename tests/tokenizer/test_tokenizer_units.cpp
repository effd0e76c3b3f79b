// Unit tests of the tokenizer building blocks: UTF-8 helpers, byte-level alphabet, added-token
// matcher, Split behaviors and NFC.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <tuple>

#include "core/error.h"
#include "tokenizer/added_tokens.h"
#include "tokenizer/normalizer.h"
#include "tokenizer/pre_tokenizer.h"
#include "tokenizer/utf8_util.h"

namespace dsla::tokenizer {
namespace {

TEST(Utf8Util, DecodesAndEncodesCodePoints) {
  const std::string text = "a\xC3\xA9\xE6\x97\xA5\xF0\x9F\x98\x80";  // a é 日 😀
  size_t pos = 0;
  std::u32string decoded;
  while (pos < text.size()) decoded += utf8_next(text, pos);
  EXPECT_EQ(decoded, U"a\u00E9\u65E5\U0001F600");
  std::string encoded;
  for (char32_t cp : decoded) utf8_append(encoded, cp);
  EXPECT_EQ(encoded, text);
  EXPECT_TRUE(is_unicode_whitespace(U'\u3000'));
  EXPECT_FALSE(is_unicode_whitespace(U'x'));
}

TEST(ByteLevelAlphabet, MatchesGpt2Table) {
  const auto& alphabet = ByteLevelAlphabet::instance();
  EXPECT_EQ(alphabet.encode_byte(' '), "\xC4\xA0");   // U+0120 'Ġ'
  EXPECT_EQ(alphabet.encode_byte('\n'), "\xC4\x8A");  // U+010A 'Ċ'
  EXPECT_EQ(alphabet.encode_byte('A'), "A");
  EXPECT_EQ(alphabet.encode_byte(0xAD), "\xC5\x83");  // the last remapped byte: U+0143
  std::string all_bytes;
  for (int b = 0; b < 256; ++b) all_bytes += static_cast<char>(b);
  EXPECT_EQ(alphabet.decode(alphabet.encode(all_bytes)), all_bytes);
}

TEST(AddedTokenMatcher, LeftmostLongestWithStripAndSingleWord) {
  AddedToken a{10, "<a>", true};
  AddedToken ab{11, "<a><b>", true};
  AddedToken strip{12, "<s>", true, /*lstrip=*/true, /*rstrip=*/true};
  AddedToken word{13, "xx", false, false, false, /*single_word=*/true};
  const AddedTokenMatcher matcher({a, ab, strip, word});
  const auto segments = matcher.split("q<a><b>r <s>  t xx axxb");
  std::vector<std::pair<std::string, int64_t>> got;
  for (const auto& s : segments) got.emplace_back(std::string(s.text), s.token_id);
  const std::vector<std::pair<std::string, int64_t>> expected = {
      {"q", -1}, {"<a><b>", 11}, {"r", -1}, {" <s>  ", 12}, {"t ", -1}, {"xx", 13}, {" axxb", -1}};
  EXPECT_EQ(got, expected);
}

std::vector<std::string> split_with(const nlohmann::json& spec, const std::string& text) {
  return make_pre_tokenizer(spec, "test")->apply({text});
}

TEST(PreTokenizer, SplitBehaviorsMatchHf) {
  // Expected pieces from tokenizers 0.23.3: Split("-", behavior,
  // invert).pre_tokenize_str("a-b--c").
  using V = std::vector<std::string>;
  const std::vector<std::tuple<std::string, bool, V>> cases = {
      {"Removed", false, {"a", "b", "c"}},
      {"Removed", true, {"-", "-", "-"}},
      {"Isolated", false, {"a", "-", "b", "-", "-", "c"}},
      {"Isolated", true, {"a", "-", "b", "-", "-", "c"}},
      {"MergedWithPrevious", false, {"a-", "b-", "-", "c"}},
      {"MergedWithPrevious", true, {"a", "-b", "-", "-c"}},
      {"MergedWithNext", false, {"a", "-b", "-", "-c"}},
      {"MergedWithNext", true, {"a-", "b-", "-", "c"}},
      {"Contiguous", false, {"a", "-", "b", "--", "c"}},
      {"Contiguous", true, {"a", "-", "b", "--", "c"}},
  };
  for (const auto& [behavior, invert, expected] : cases) {
    SCOPED_TRACE(behavior + (invert ? " inverted" : ""));
    const nlohmann::json spec = {{"type", "Split"},
                                 {"pattern", {{"String", "-"}}},
                                 {"behavior", behavior},
                                 {"invert", invert}};
    EXPECT_EQ(split_with(spec, "a-b--c"), expected);
  }
}

TEST(PreTokenizer, DigitsAndByteLevel) {
  using V = std::vector<std::string>;
  EXPECT_EQ(split_with({{"type", "Digits"}, {"individual_digits", true}}, "ab12"),
            (V{"ab", "1", "2"}));
  EXPECT_EQ(split_with({{"type", "Digits"}, {"individual_digits", false}}, "ab12c"),
            (V{"ab", "12", "c"}));
  EXPECT_EQ(split_with({{"type", "ByteLevel"}, {"add_prefix_space", true}, {"use_regex", true}},
                       "hi you"),
            (V{"\xC4\xA0hi", "\xC4\xA0you"}));
  EXPECT_THROW(split_with({{"type", "Whitespace"}}, "x"), Error);
}

TEST(Normalizer, NfcComposes) {
  EXPECT_EQ(nfc_normalize("e\xCC\x81"), "\xC3\xA9");
  EXPECT_EQ(nfc_normalize("plain"), "plain");
  EXPECT_EQ(nfc_normalize(""), "");
}

}  // namespace
}  // namespace dsla::tokenizer
