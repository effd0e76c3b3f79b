// NLTK's Porter stemmer (nltk.stem.porter.PorterStemmer in its default NLTK_EXTENSIONS mode, as of
// nltk 3.10), the stemmer PyPI rouge-score uses.
#pragma once

#include <string>
#include <string_view>

namespace dsla::eval {

/// PorterStemmer().stem(word): Porter's algorithm with Martin Porter's and NLTK's extensions and
/// NLTK's pool of irregular forms (sky/skies -> sky, dying -> die, news -> news, innings -> inning,
/// ...). Words of one or two characters come back lowercased but unstemmed.
///
/// Works on bytes: only ASCII letters are lowercased, and every byte other than a, e, i, o, u and y
/// counts as a consonant, as in NLTK. For ASCII input (all rouge-score ever passes: [a-z0-9]+
/// tokens) the result equals NLTK's; words with non-ASCII letters may differ (NLTK lowercases them
/// and counts characters, not bytes).
std::string porter_stem(std::string_view word);

}  // namespace dsla::eval
