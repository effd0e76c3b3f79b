// Implementation of the ByteLevel, Split, Digits and Sequence pre-tokenizers (pre_tokenizer.h).
#include "tokenizer/pre_tokenizer.h"

#include <algorithm>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "tokenizer/pcre2_regex.h"
#include "tokenizer/utf8_util.h"

namespace dsla::tokenizer {

namespace {

using Json = nlohmann::json;
using Range = std::pair<size_t, size_t>;

/// GPT-2's word regex, used by ByteLevel(use_regex=true).
constexpr const char* kGpt2Pattern =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";

enum class SplitBehavior { kRemoved, kIsolated, kMergedWithPrevious, kMergedWithNext, kContiguous };

SplitBehavior parse_behavior(const std::string& name, const std::string& file) {
  if (name == "Removed") return SplitBehavior::kRemoved;
  if (name == "Isolated") return SplitBehavior::kIsolated;
  if (name == "MergedWithPrevious") return SplitBehavior::kMergedWithPrevious;
  if (name == "MergedWithNext") return SplitBehavior::kMergedWithNext;
  if (name == "Contiguous") return SplitBehavior::kContiguous;
  DSLA_FAIL("{}: unsupported Split behavior '{}'", file, name);
}

/// All of `text` as (range, is_match) segments, matches and the gaps between them.
std::vector<std::pair<Range, bool>> segments_of(const Pcre2Regex& regex, const std::string& text,
                                                bool invert) {
  std::vector<std::pair<Range, bool>> segments;
  size_t cursor = 0;
  for (const auto& [begin, end] : regex.find_all(text)) {
    if (begin > cursor) segments.push_back({{cursor, begin}, invert});
    segments.push_back({{begin, end}, !invert});
    cursor = end;
  }
  if (cursor < text.size()) segments.push_back({{cursor, text.size()}, invert});
  return segments;
}

/// Combines segments according to HF's SplitDelimiterBehavior.
std::vector<Range> combine(const std::vector<std::pair<Range, bool>>& segments,
                           SplitBehavior behavior) {
  std::vector<Range> out;
  bool previous_match = false;
  switch (behavior) {
    case SplitBehavior::kRemoved:
      for (const auto& [range, is_match] : segments) {
        if (!is_match) out.push_back(range);
      }
      break;
    case SplitBehavior::kIsolated:
      for (const auto& segment : segments) out.push_back(segment.first);
      break;
    case SplitBehavior::kMergedWithPrevious:
      for (const auto& [range, is_match] : segments) {
        if (is_match && !previous_match && !out.empty()) {
          out.back().second = range.second;
        } else {
          out.push_back(range);
        }
        previous_match = is_match;
      }
      break;
    case SplitBehavior::kMergedWithNext:
      for (auto it = segments.rbegin(); it != segments.rend(); ++it) {
        if (it->second && !previous_match && !out.empty()) {
          out.back().first = it->first.first;
        } else {
          out.push_back(it->first);
        }
        previous_match = it->second;
      }
      std::reverse(out.begin(), out.end());
      break;
    case SplitBehavior::kContiguous:
      for (size_t i = 0; i < segments.size(); ++i) {
        if (i > 0 && segments[i].second == segments[i - 1].second) {
          out.back().second = segments[i].first.second;
        } else {
          out.push_back(segments[i].first);
        }
      }
      break;
  }
  return out;
}

/// Split: cuts each piece at the matches of a regex (or literal string).
class SplitPreTokenizer : public PreTokenizer {
 public:
  SplitPreTokenizer(const std::string& pattern, bool literal, SplitBehavior behavior, bool invert,
                    const std::string& file)
      : regex_(pattern, literal, file), behavior_(behavior), invert_(invert) {}

  std::vector<std::string> apply(const std::vector<std::string>& pieces) const override {
    std::vector<std::string> out;
    for (const std::string& piece : pieces) {
      for (const auto& [begin, end] : combine(segments_of(regex_, piece, invert_), behavior_)) {
        if (end > begin) out.push_back(piece.substr(begin, end - begin));
      }
    }
    return out;
  }

 private:
  Pcre2Regex regex_;
  SplitBehavior behavior_;
  bool invert_;
};

/// ByteLevel: optional prefix space, optional GPT-2 regex split, then bytes -> byte-level
/// characters.
class ByteLevelPreTokenizer : public PreTokenizer {
 public:
  ByteLevelPreTokenizer(bool add_prefix_space, bool use_regex, const std::string& file)
      : add_prefix_space_(add_prefix_space) {
    if (use_regex) {
      split_ = std::make_unique<SplitPreTokenizer>(kGpt2Pattern, false, SplitBehavior::kIsolated,
                                                   false, file);
    }
  }

  std::vector<std::string> apply(const std::vector<std::string>& pieces) const override {
    std::vector<std::string> prefixed;
    prefixed.reserve(pieces.size());
    for (const std::string& piece : pieces) {
      const bool add_space = add_prefix_space_ && (piece.empty() || piece[0] != ' ');
      prefixed.push_back(add_space ? " " + piece : piece);
    }
    std::vector<std::string> words = split_ ? split_->apply(prefixed) : prefixed;
    const auto& alphabet = ByteLevelAlphabet::instance();
    std::vector<std::string> out;
    out.reserve(words.size());
    for (const std::string& word : words) {
      if (!word.empty()) out.push_back(alphabet.encode(word));
    }
    return out;
  }
  bool is_byte_level() const override { return true; }

 private:
  bool add_prefix_space_;
  std::unique_ptr<SplitPreTokenizer> split_;
};

/// Sequence: applies its members in order.
class SequencePreTokenizer : public PreTokenizer {
 public:
  explicit SequencePreTokenizer(std::vector<std::unique_ptr<PreTokenizer>> members)
      : members_(std::move(members)) {}

  std::vector<std::string> apply(const std::vector<std::string>& pieces) const override {
    std::vector<std::string> current = pieces;
    for (const auto& member : members_) current = member->apply(current);
    return current;
  }
  bool is_byte_level() const override {
    for (const auto& member : members_) {
      if (member->is_byte_level()) return true;
    }
    return false;
  }

 private:
  std::vector<std::unique_ptr<PreTokenizer>> members_;
};

/// No pre-tokenizer: the whole piece is one word.
class IdentityPreTokenizer : public PreTokenizer {
 public:
  std::vector<std::string> apply(const std::vector<std::string>& pieces) const override {
    std::vector<std::string> out;
    for (const std::string& piece : pieces) {
      if (!piece.empty()) out.push_back(piece);
    }
    return out;
  }
};

std::unique_ptr<PreTokenizer> make_split(const Json& spec, const std::string& file) {
  const Json& pattern = spec.at("pattern");
  const bool literal = pattern.contains("String");
  DSLA_CHECK(literal || pattern.contains("Regex"), "{}: Split pattern must be String or Regex",
             file);
  const std::string text =
      literal ? pattern.at("String").get<std::string>() : pattern.at("Regex").get<std::string>();
  return std::make_unique<SplitPreTokenizer>(
      text, literal, parse_behavior(spec.at("behavior"), file), spec.value("invert", false), file);
}

std::unique_ptr<PreTokenizer> make_digits(const Json& spec, const std::string& file) {
  // HF splits on char::is_numeric (Unicode N): one digit per piece, or runs of them.
  const bool individual = spec.value("individual_digits", false);
  return std::make_unique<SplitPreTokenizer>(individual ? R"(\p{N})" : R"(\p{N}+)", false,
                                             SplitBehavior::kIsolated, false, file);
}

}  // namespace

std::unique_ptr<PreTokenizer> make_pre_tokenizer(const Json& spec, const std::string& file) {
  if (spec.is_null()) return std::make_unique<IdentityPreTokenizer>();
  const std::string type = spec.at("type");
  if (type == "ByteLevel") {
    return std::make_unique<ByteLevelPreTokenizer>(spec.value("add_prefix_space", true),
                                                   spec.value("use_regex", true), file);
  }
  if (type == "Split") return make_split(spec, file);
  if (type == "Digits") return make_digits(spec, file);
  if (type == "Sequence") {
    std::vector<std::unique_ptr<PreTokenizer>> members;
    for (const Json& member : spec.at("pretokenizers")) {
      members.push_back(make_pre_tokenizer(member, file));
    }
    return std::make_unique<SequencePreTokenizer>(std::move(members));
  }
  DSLA_FAIL(
      "{}: unsupported pre_tokenizer type '{}' (supported: ByteLevel, Split, Digits, Sequence)",
      file, type);
}

}  // namespace dsla::tokenizer
