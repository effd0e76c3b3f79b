// ROUGE-1, ROUGE-2 and ROUGE-L precision, recall and F-measure as PyPI rouge-score 0.1.2 computes
// them (RougeScorer(["rouge1", "rouge2", "rougeL"], use_stemmer=...).score(reference, prediction)).
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace dsla::eval {

/// One ROUGE type's scores, fractions in [0, 1].
struct RougeScore {
  double precision = 0, recall = 0, fmeasure = 0;
};

/// ROUGE-1 and ROUGE-2 (clipped n-gram overlap) and ROUGE-L (longest common subsequence, not the
/// summary-level rougeLsum).
struct RougeScores {
  RougeScore rouge1, rouge2, rougeL;
};

/// rouge-score's tokenizer: lowercase, every character other than a-z and 0-9 becomes a separator,
/// and with `use_stemmer` tokens longer than 3 characters become their NLTK Porter stems. Input is
/// UTF-8; as in Python, non-ASCII characters separate tokens except the two whose lowercase is
/// ASCII (U+0130 -> "i" then a separator, U+212A KELVIN SIGN -> "k"). Invalid UTF-8 bytes separate
/// tokens.
std::vector<std::string> rouge_tokenize(std::string_view text, bool use_stemmer);

/// The three scores of `prediction` against one `reference`. An empty token list on either side
/// gives zeros; F-measure is 2PR/(P+R), 0 when P+R = 0.
RougeScores rouge_scores(std::string_view prediction, std::string_view reference,
                         bool use_stemmer = true);

}  // namespace dsla::eval
