// Implementation of rouge.h, following rouge_score/tokenize.py and rouge_score/rouge_scorer.py.
#include "eval/rouge.h"

#include <algorithm>
#include <map>

#include "eval/porter_stemmer.h"

namespace dsla::eval {
namespace {

/// The lowercased text with every run of characters outside [a-z0-9] as one space.
std::string lowercase_alphanumerics(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  auto separate = [&out] {
    if (!out.empty() && out.back() != ' ') out += ' ';
  };
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')) {
      out += c;
    } else if (c >= 'A' && c <= 'Z') {
      out += static_cast<char>(c - 'A' + 'a');
    } else if (text.compare(i, 2, "\xC4\xB0") == 0) {  // U+0130 lowercases to "i" U+0307
      out += 'i';
      separate();
      i += 1;
    } else if (text.compare(i, 3, "\xE2\x84\xAA") == 0) {  // U+212A KELVIN SIGN lowercases to "k"
      out += 'k';
      i += 2;
    } else {
      separate();
    }
  }
  return out;
}

using Ngrams = std::map<std::string, int>;

Ngrams make_ngrams(const std::vector<std::string>& tokens, size_t n) {
  Ngrams ngrams;
  for (size_t i = 0; i + n <= tokens.size(); ++i) {
    std::string key = tokens[i];
    for (size_t k = 1; k < n; ++k) key += ' ' + tokens[i + k];
    ++ngrams[key];
  }
  return ngrams;
}

double fmeasure(double precision, double recall) {
  return precision + recall > 0 ? 2 * precision * recall / (precision + recall) : 0.0;
}

RougeScore score_ngrams(const std::vector<std::string>& target,
                        const std::vector<std::string>& prediction, size_t n) {
  const Ngrams target_ngrams = make_ngrams(target, n);
  const Ngrams prediction_ngrams = make_ngrams(prediction, n);
  int overlap = 0, target_count = 0, prediction_count = 0;
  for (const auto& [ngram, count] : target_ngrams) {
    target_count += count;
    if (auto it = prediction_ngrams.find(ngram); it != prediction_ngrams.end()) {
      overlap += std::min(count, it->second);
    }
  }
  for (const auto& entry : prediction_ngrams) prediction_count += entry.second;
  RougeScore s;
  s.precision = static_cast<double>(overlap) / std::max(prediction_count, 1);
  s.recall = static_cast<double>(overlap) / std::max(target_count, 1);
  s.fmeasure = fmeasure(s.precision, s.recall);
  return s;
}

size_t lcs_length(const std::vector<std::string>& a, const std::vector<std::string>& b) {
  std::vector<size_t> prev(b.size() + 1, 0), cur(b.size() + 1, 0);
  for (size_t i = 1; i <= a.size(); ++i) {
    for (size_t j = 1; j <= b.size(); ++j) {
      cur[j] = a[i - 1] == b[j - 1] ? prev[j - 1] + 1 : std::max(prev[j], cur[j - 1]);
    }
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

RougeScore score_lcs(const std::vector<std::string>& target,
                     const std::vector<std::string>& prediction) {
  RougeScore s;
  if (target.empty() || prediction.empty()) return s;
  const auto lcs = static_cast<double>(lcs_length(target, prediction));
  s.precision = lcs / static_cast<double>(prediction.size());
  s.recall = lcs / static_cast<double>(target.size());
  s.fmeasure = fmeasure(s.precision, s.recall);
  return s;
}

}  // namespace

std::vector<std::string> rouge_tokenize(std::string_view text, bool use_stemmer) {
  const std::string clean = lowercase_alphanumerics(text);
  std::vector<std::string> tokens;
  size_t start = 0;
  while (start < clean.size()) {
    size_t end = clean.find(' ', start);
    if (end == std::string::npos) end = clean.size();
    if (end > start) {
      std::string token = clean.substr(start, end - start);
      tokens.push_back(use_stemmer && token.size() > 3 ? porter_stem(token) : token);
      // rouge-score drops tokens that are not ^[a-z0-9]+$; stems of [a-z0-9]+ never are.
      if (tokens.back().empty()) tokens.pop_back();
    }
    start = end + 1;
  }
  return tokens;
}

RougeScores rouge_scores(std::string_view prediction, std::string_view reference,
                         bool use_stemmer) {
  const std::vector<std::string> target = rouge_tokenize(reference, use_stemmer);
  const std::vector<std::string> pred = rouge_tokenize(prediction, use_stemmer);
  return {score_ngrams(target, pred, 1), score_ngrams(target, pred, 2), score_lcs(target, pred)};
}

}  // namespace dsla::eval
