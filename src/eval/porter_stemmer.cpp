// Implementation of porter_stemmer.h, step by step as nltk/stem/porter.py (NLTK_EXTENSIONS mode).
#include "eval/porter_stemmer.h"

#include <functional>
#include <initializer_list>
#include <unordered_map>
#include <vector>

namespace dsla::eval {
namespace {

using Condition = std::function<bool(const std::string& stem)>;

/// One suffix rule: a word ending in `suffix` whose stem (the word without it) meets `condition`
/// (none: always) becomes stem + `replacement`. The suffix "*d" means "ends in a double consonant"
/// and then drops both letters.
struct Rule {
  std::string suffix, replacement;
  Condition condition;
};

bool ends_with(const std::string& w, std::string_view suffix) {
  return w.size() >= suffix.size() &&
         w.compare(w.size() - suffix.size(), suffix.size(), suffix) == 0;
}

std::string drop(const std::string& w, size_t n) {
  return w.substr(0, w.size() - n);
}

bool is_vowel(char c) {
  return c == 'a' || c == 'e' || c == 'i' || c == 'o' || c == 'u';
}

/// Consonant flags of every letter: y is a consonant at the start or after a vowel.
std::vector<bool> consonant_flags(const std::string& w) {
  std::vector<bool> flags(w.size());
  for (size_t i = 0; i < w.size(); ++i) {
    flags[i] = is_vowel(w[i]) ? false : w[i] == 'y' ? (i == 0 || !flags[i - 1]) : true;
  }
  return flags;
}

bool is_consonant(const std::string& w, size_t i) {
  return consonant_flags(w)[i];
}

/// m: the number of vowel-consonant transitions, [C](VC){m}[V].
int measure(const std::string& stem) {
  const std::vector<bool> flags = consonant_flags(stem);
  int m = 0;
  for (size_t i = 1; i < flags.size(); ++i) m += (!flags[i - 1] && flags[i]) ? 1 : 0;
  return m;
}

bool has_positive_measure(const std::string& stem) {
  return measure(stem) > 0;
}

bool contains_vowel(const std::string& stem) {
  for (bool consonant : consonant_flags(stem)) {
    if (!consonant) return true;
  }
  return false;
}

/// *d: ends in a double consonant.
bool ends_double_consonant(const std::string& w) {
  return w.size() >= 2 && w.back() == w[w.size() - 2] && is_consonant(w, w.size() - 1);
}

/// *o: ends consonant-vowel-consonant with the last not w, x or y; NLTK also takes a two-letter
/// vowel-consonant word.
bool ends_cvc(const std::string& w) {
  const size_t n = w.size();
  if (n >= 3 && is_consonant(w, n - 3) && !is_consonant(w, n - 2) && is_consonant(w, n - 1) &&
      w.back() != 'w' && w.back() != 'x' && w.back() != 'y') {
    return true;
  }
  return n == 2 && !is_consonant(w, 0) && is_consonant(w, 1);
}

/// The first rule whose suffix the word ends in decides: applied when its condition holds, else the
/// word stays as it is.
std::string apply_rule_list(const std::string& word, const std::vector<Rule>& rules) {
  for (const Rule& rule : rules) {
    if (rule.suffix == "*d" && ends_double_consonant(word)) {
      const std::string stem = drop(word, 2);
      return (!rule.condition || rule.condition(stem)) ? stem + rule.replacement : word;
    }
    if (ends_with(word, rule.suffix)) {
      const std::string stem = drop(word, rule.suffix.size());
      return (!rule.condition || rule.condition(stem)) ? stem + rule.replacement : word;
    }
  }
  return word;
}

std::string step1a(const std::string& w) {
  if (ends_with(w, "ies") && w.size() == 4) return drop(w, 3) + "ie";
  return apply_rule_list(
      w,
      {{"sses", "ss", nullptr}, {"ies", "i", nullptr}, {"ss", "ss", nullptr}, {"s", "", nullptr}});
}

std::string step1b(const std::string& w) {
  if (ends_with(w, "ied")) return drop(w, 3) + (w.size() == 4 ? "ie" : "i");
  if (ends_with(w, "eed")) {
    const std::string stem = drop(w, 3);
    return measure(stem) > 0 ? stem + "ee" : w;
  }
  std::string stem;
  bool removed = false;
  for (std::string_view suffix : {"ed", "ing"}) {
    if (ends_with(w, suffix) && contains_vowel(drop(w, suffix.size()))) {
      stem = drop(w, suffix.size());
      removed = true;
      break;
    }
  }
  if (!removed) return w;
  const char last = stem.back();
  return apply_rule_list(
      stem, {{"at", "ate", nullptr},
             {"bl", "ble", nullptr},
             {"iz", "ize", nullptr},
             {"*d", std::string(1, last),
              [last](const std::string&) { return last != 'l' && last != 's' && last != 'z'; }},
             {"", "e", [](const std::string& s) { return measure(s) == 1 && ends_cvc(s); }}});
}

std::string step1c(const std::string& w) {
  return apply_rule_list(w, {{"y", "i", [](const std::string& s) {
                                return s.size() > 1 && is_consonant(s, s.size() - 1);
                              }}});
}

std::string step2(const std::string& w) {
  if (ends_with(w, "alli") && has_positive_measure(drop(w, 4))) return step2(drop(w, 4) + "al");
  const Condition m0 = has_positive_measure;
  return apply_rule_list(
      w, {{"ational", "ate", m0},
          {"tional", "tion", m0},
          {"enci", "ence", m0},
          {"anci", "ance", m0},
          {"izer", "ize", m0},
          {"bli", "ble", m0},
          {"alli", "al", m0},
          {"entli", "ent", m0},
          {"eli", "e", m0},
          {"ousli", "ous", m0},
          {"ization", "ize", m0},
          {"ation", "ate", m0},
          {"ator", "ate", m0},
          {"alism", "al", m0},
          {"iveness", "ive", m0},
          {"fulness", "ful", m0},
          {"ousness", "ous", m0},
          {"aliti", "al", m0},
          {"iviti", "ive", m0},
          {"biliti", "ble", m0},
          {"fulli", "ful", m0},
          // The l of logi stays with the stem, so that short stems (geo, theo) count.
          {"logi", "log", [&w](const std::string&) { return has_positive_measure(drop(w, 3)); }}});
}

std::string step3(const std::string& w) {
  const Condition m0 = has_positive_measure;
  return apply_rule_list(w, {{"icate", "ic", m0},
                             {"ative", "", m0},
                             {"alize", "al", m0},
                             {"iciti", "ic", m0},
                             {"ical", "ic", m0},
                             {"ful", "", m0},
                             {"ness", "", m0}});
}

std::string step4(const std::string& w) {
  const Condition m1 = [](const std::string& s) { return measure(s) > 1; };
  const Condition ion = [](const std::string& s) {
    return measure(s) > 1 && (s.back() == 's' || s.back() == 't');
  };
  return apply_rule_list(w, {{"al", "", m1},
                             {"ance", "", m1},
                             {"ence", "", m1},
                             {"er", "", m1},
                             {"ic", "", m1},
                             {"able", "", m1},
                             {"ible", "", m1},
                             {"ant", "", m1},
                             {"ement", "", m1},
                             {"ment", "", m1},
                             {"ent", "", m1},
                             {"ion", "", ion},
                             {"ou", "", m1},
                             {"ism", "", m1},
                             {"ate", "", m1},
                             {"iti", "", m1},
                             {"ous", "", m1},
                             {"ive", "", m1},
                             {"ize", "", m1}});
}

/// (m>1) E -> ; (m=1 and not *o) E -> : both conditions are tried.
std::string step5a(const std::string& w) {
  if (!ends_with(w, "e")) return w;
  const std::string stem = drop(w, 1);
  const int m = measure(stem);
  return (m > 1 || (m == 1 && !ends_cvc(stem))) ? stem : w;
}

/// (m>1 and *d and *L) -> single letter; the measure is of the word less one l.
std::string step5b(const std::string& w) {
  return apply_rule_list(
      w, {{"ll", "l", [&w](const std::string&) { return measure(drop(w, 1)) > 1; }}});
}

/// NLTK's irregular forms, looked up before stemming.
const std::unordered_map<std::string, std::string>& irregular_forms() {
  static const std::unordered_map<std::string, std::string> pool = {
      {"sky", "sky"},        {"skies", "sky"},        {"dying", "die"},
      {"lying", "lie"},      {"tying", "tie"},        {"news", "news"},
      {"innings", "inning"}, {"inning", "inning"},    {"outings", "outing"},
      {"outing", "outing"},  {"cannings", "canning"}, {"canning", "canning"},
      {"howe", "howe"},      {"proceed", "proceed"},  {"exceed", "exceed"},
      {"succeed", "succeed"}};
  return pool;
}

}  // namespace

std::string porter_stem(std::string_view word) {
  std::string w(word);
  for (char& c : w) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  const auto& pool = irregular_forms();
  if (auto it = pool.find(w); it != pool.end()) return it->second;
  if (word.size() <= 2) return w;
  return step5b(step5a(step4(step3(step2(step1c(step1b(step1a(w))))))));
}

}  // namespace dsla::eval
