// Added tokens (special and not) and the matcher that cuts them out of text before
// pre-tokenization.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace dsla::tokenizer {

/// One entry of tokenizer.json's "added_tokens" (HF AddedToken).
struct AddedToken {
  int64_t id = 0;
  std::string content;
  bool special = false;
  bool lstrip = false;       // the match swallows whitespace on its left
  bool rstrip = false;       // ... and on its right
  bool single_word = false;  // only matches when not inside a word
  bool normalized = false;   // matched against normalized text instead of the raw text
};

/// A piece of text: either plain text to tokenize or one added token.
struct TextSegment {
  std::string_view text;
  int64_t token_id = -1;  // >= 0 for an added token
  bool is_token() const { return token_id >= 0; }
};

/// Finds added tokens in text, leftmost-longest and non-overlapping, like HF's AddedVocabulary.
class AddedTokenMatcher {
 public:
  AddedTokenMatcher() = default;
  explicit AddedTokenMatcher(std::vector<AddedToken> tokens);

  bool empty() const { return tokens_.empty(); }
  /// Splits `text` into plain segments and token segments, in order; empty plain segments are
  /// dropped.
  std::vector<TextSegment> split(std::string_view text) const;

 private:
  struct Match {
    size_t begin = 0, end = 0;
    const AddedToken* token = nullptr;
  };
  /// The leftmost-longest match at or after `from`, or a match with token == nullptr.
  Match find_next(std::string_view text, size_t from) const;
  bool is_single_word(std::string_view text, const Match& m) const;
  void strip_whitespace(std::string_view text, size_t floor, Match& m) const;

  std::vector<AddedToken> tokens_;
  std::unordered_map<unsigned char, std::vector<size_t>> by_first_byte_;  // longest first
};

}  // namespace dsla::tokenizer
