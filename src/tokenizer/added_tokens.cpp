// Implementation of AddedTokenMatcher (added_tokens.h).
#include "tokenizer/added_tokens.h"

#include <algorithm>

#include "tokenizer/utf8_util.h"

namespace dsla::tokenizer {

AddedTokenMatcher::AddedTokenMatcher(std::vector<AddedToken> tokens) : tokens_(std::move(tokens)) {
  tokens_.erase(std::remove_if(tokens_.begin(), tokens_.end(),
                               [](const AddedToken& t) { return t.content.empty(); }),
                tokens_.end());
  for (size_t i = 0; i < tokens_.size(); ++i) {
    by_first_byte_[static_cast<unsigned char>(tokens_[i].content[0])].push_back(i);
  }
  for (auto& [byte, indices] : by_first_byte_) {
    std::stable_sort(indices.begin(), indices.end(), [&](size_t a, size_t b) {
      return tokens_[a].content.size() > tokens_[b].content.size();
    });
  }
}

AddedTokenMatcher::Match AddedTokenMatcher::find_next(std::string_view text, size_t from) const {
  for (size_t pos = from; pos < text.size(); ++pos) {
    const auto it = by_first_byte_.find(static_cast<unsigned char>(text[pos]));
    if (it == by_first_byte_.end()) continue;
    for (size_t index : it->second) {
      const AddedToken& token = tokens_[index];
      if (text.compare(pos, token.content.size(), token.content) == 0) {
        return Match{pos, pos + token.content.size(), &token};
      }
    }
  }
  return Match{};
}

namespace {

char32_t last_char(std::string_view text) {
  size_t start = text.size() - 1;
  while (start > 0 && (static_cast<unsigned char>(text[start]) >> 6) == 0x2) --start;
  return utf8_next(text, start);
}

}  // namespace

bool AddedTokenMatcher::is_single_word(std::string_view text, const Match& m) const {
  const bool word_before = m.begin > 0 && is_word_char(last_char(text.substr(0, m.begin)));
  size_t pos = m.end;
  const bool word_after = m.end < text.size() && is_word_char(utf8_next(text, pos));
  return !word_before && !word_after;
}

void AddedTokenMatcher::strip_whitespace(std::string_view text, size_t floor, Match& m) const {
  if (m.token->lstrip) {
    while (m.begin > floor) {
      size_t start = m.begin - 1;
      while (start > floor && (static_cast<unsigned char>(text[start]) >> 6) == 0x2) --start;
      size_t pos = start;
      if (!is_unicode_whitespace(utf8_next(text, pos))) break;
      m.begin = start;
    }
  }
  if (m.token->rstrip) {
    while (m.end < text.size()) {
      size_t pos = m.end;
      if (!is_unicode_whitespace(utf8_next(text, pos))) break;
      m.end = pos;
    }
  }
}

std::vector<TextSegment> AddedTokenMatcher::split(std::string_view text) const {
  std::vector<TextSegment> segments;
  size_t plain_start = 0;  // start of the text not yet emitted
  size_t search_from = 0;
  while (search_from < text.size() && !tokens_.empty()) {
    Match m = find_next(text, search_from);
    if (m.token == nullptr) break;
    search_from = m.end;
    if (m.token->single_word && !is_single_word(text, m)) continue;
    strip_whitespace(text, plain_start, m);
    if (m.begin > plain_start) {
      segments.push_back({text.substr(plain_start, m.begin - plain_start), -1});
    }
    segments.push_back({text.substr(m.begin, m.end - m.begin), m.token->id});
    plain_start = m.end;
    search_from = m.end;
  }
  if (plain_start < text.size()) segments.push_back({text.substr(plain_start), -1});
  return segments;
}

}  // namespace dsla::tokenizer
