// SQuAD v2.0 answer normalisation, exact match and token F1, as the official evaluate-v2.0.py
// computes them (normalize_answer, get_tokens, compute_exact, compute_f1, the max over gold
// answers).
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace dsla::eval {

/// The official normalize_answer: lowercase, drop the 32 ASCII punctuation characters of Python's
/// string.punctuation, replace each whole word a/an/the (regex \b(a|an|the)\b) by a space, then
/// collapse white space to single spaces. Returns UTF-8.
///
/// The official script works on Python str (Unicode); this works on UTF-8 and agrees with it as
/// follows (tests/eval/test_metrics.cpp checks every point against the script, Python 3.11 /
/// Unicode 14, character by character over the blocks named):
/// - Punctuation removal is exact (string.punctuation is ASCII-only; other punctuation stays).
/// - White space is exactly Python's str.isspace() set (ASCII, U+001C-U+001F, U+0085, U+00A0,
///   U+1680, U+2000-U+200A, U+2028, U+2029, U+202F, U+205F, U+3000).
/// - Lowercasing is Python's str.lower() in U+0000-U+058F (Latin, IPA, Greek, Cyrillic, Armenian),
///   U+1E00-U+1FFF, U+2000-U+2BFF, U+3000-U+303F, U+FE30-U+FE6F and U+FF00-U+FFEF, including
///   U+0130 -> "i" U+0307 and Greek final sigma (whose context rule is tabled in U+0000-U+058F and
///   U+1E00-U+218F). Letters elsewhere (e.g. Georgian, Cherokee, Deseret) are NOT lowercased.
/// - The word/non-word classes behind \b are Python's in the lowercasing blocks above; every other
///   non-ASCII character counts as a word character (Python counts marks, symbols and punctuation
///   of other scripts as non-word), which matters only for an article glued to such a character.
/// - Invalid UTF-8 bytes pass through unchanged as non-word, non-space characters (as Python's
///   surrogateescape would keep them).
std::string normalize_answer(std::string_view s);

/// get_tokens: normalize_answer(s) split at spaces (empty for an empty s).
std::vector<std::string> squad_tokens(std::string_view s);

/// compute_exact for one gold answer: 1 when both normalise to the same text, else 0.
double squad_exact(std::string_view gold, std::string_view prediction);

/// compute_f1 for one gold answer: token F1 of the bags of tokens; when either side has no tokens,
/// 1 if both have none, else 0.
double squad_f1(std::string_view gold, std::string_view prediction);

/// Exact match and F1 of one prediction, fractions in [0, 1].
struct SquadScore {
  double exact = 0, f1 = 0;
};

/// The official per-question score: gold answers that normalise to nothing are dropped, and when
/// none is left (an empty list: an unanswerable question) the only gold answer is ""; exact and f1
/// are each the max over the gold answers.
SquadScore squad_score(std::string_view prediction, const std::vector<std::string>& gold_answers);

}  // namespace dsla::eval
