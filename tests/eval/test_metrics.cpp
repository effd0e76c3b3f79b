// Tests of dsla_eval_metrics: SQuAD normalisation and EM/F1, NLTK's Porter stemmer and ROUGE-1/2/L,
// against the Python references in fixtures/metric_fixtures.json (tools/eval_reference_metrics.py)
// and a few hand-written values.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/paths.h"
#include "eval/porter_stemmer.h"
#include "eval/rouge.h"
#include "eval/squad_metric.h"
#include "support/test_paths.h"

namespace dsla::eval {
namespace {

using nlohmann::json;

constexpr double kTol = 1e-6;

const json& fixture() {
  static const json j = json::parse(
      testing::read_file(repo_root() / "tests" / "eval" / "fixtures" / "metric_fixtures.json"));
  return j;
}

/// The i-th case of a fixture list, as a gtest trace line.
std::string where(const char* list, size_t i, const std::string& text) {
  return std::string(list) + "[" + std::to_string(i) + "]: " + text.substr(0, 200);
}

void expect_rouge(const RougeScore& got, const json& want) {
  EXPECT_NEAR(got.precision, want.at(0).get<double>(), kTol);
  EXPECT_NEAR(got.recall, want.at(1).get<double>(), kTol);
  EXPECT_NEAR(got.fmeasure, want.at(2).get<double>(), kTol);
}

TEST(SquadMetricFixture, NormalizeAnswerMatchesOfficialScript) {
  const json& cases = fixture().at("normalize_cases");
  ASSERT_GT(cases.size(), 50u);
  for (size_t i = 0; i < cases.size(); ++i) {
    const std::string text = cases[i].at("text");
    SCOPED_TRACE(where("normalize_cases", i, text));
    EXPECT_EQ(normalize_answer(text), cases[i].at("normalized").get<std::string>());
  }
}

TEST(SquadMetricFixture, ExactAndF1MatchOfficialScript) {
  const json& cases = fixture().at("squad_cases");
  ASSERT_GT(cases.size(), 50u);
  for (size_t i = 0; i < cases.size(); ++i) {
    const std::string prediction = cases[i].at("prediction");
    SCOPED_TRACE(where("squad_cases", i, prediction));
    const SquadScore s =
        squad_score(prediction, cases[i].at("answers").get<std::vector<std::string>>());
    EXPECT_NEAR(s.exact, cases[i].at("exact").get<double>(), kTol);
    EXPECT_NEAR(s.f1, cases[i].at("f1").get<double>(), kTol);
  }
}

TEST(PorterStemmerFixture, StemsMatchNltk) {
  const json& stems = fixture().at("stems");
  ASSERT_GT(stems.size(), 300u);
  for (const json& pair : stems) {
    const std::string word = pair.at(0);
    EXPECT_EQ(porter_stem(word), pair.at(1).get<std::string>()) << "word: " << word;
  }
}

TEST(RougeFixture, TokensMatchRougeScore) {
  const json& cases = fixture().at("rouge_tokenize_cases");
  for (size_t i = 0; i < cases.size(); ++i) {
    const std::string text = cases[i].at("text");
    SCOPED_TRACE(where("rouge_tokenize_cases", i, text));
    EXPECT_EQ(rouge_tokenize(text, true), cases[i].at("tokens").get<std::vector<std::string>>());
  }
}

TEST(RougeFixture, ScoresMatchRougeScore) {
  const json& cases = fixture().at("rouge_cases");
  ASSERT_GT(cases.size(), 30u);
  for (size_t i = 0; i < cases.size(); ++i) {
    const std::string prediction = cases[i].at("prediction");
    SCOPED_TRACE(where("rouge_cases", i, prediction));
    const RougeScores s = rouge_scores(prediction, cases[i].at("reference").get<std::string>());
    expect_rouge(s.rouge1, cases[i].at("rouge1"));
    expect_rouge(s.rouge2, cases[i].at("rouge2"));
    expect_rouge(s.rougeL, cases[i].at("rougeL"));
  }
}

TEST(SquadMetric, HandWrittenValues) {
  EXPECT_EQ(normalize_answer("  The  Cat, a HAT! "), "cat hat");
  EXPECT_EQ(squad_score("The Cat.", {"cat"}).exact, 1.0);
  EXPECT_EQ(squad_score("cat", {"dog"}).exact, 0.0);
  // Prediction "big black cat" vs gold "the black cat": 2 shared of 3 and 2 tokens -> F1 0.8.
  EXPECT_NEAR(squad_score("big black cat", {"the black cat"}).f1, 0.8, 1e-12);
  // Unanswerable: only the empty prediction (or one normalising to nothing) scores.
  EXPECT_EQ(squad_score("", {}).f1, 1.0);
  EXPECT_EQ(squad_score("The.", {}).exact, 1.0);
  EXPECT_EQ(squad_score("something", {}).f1, 0.0);
  // Gold answers normalising to nothing are dropped before the max.
  EXPECT_EQ(squad_score("", {"the", "Denver"}).exact, 0.0);
  EXPECT_EQ(squad_score("Denver", {"a", "Broncos", "Denver"}).exact, 1.0);
  // An article glued to letters is part of a word; next to curly quotes (non-word characters that
  // string.punctuation does not hold) it is removed and the quotes stay.
  EXPECT_EQ(normalize_answer("theater anathema"), "theater anathema");
  EXPECT_EQ(normalize_answer("“The Cat”"), "“ cat”");
  // Invalid UTF-8 passes through.
  EXPECT_EQ(normalize_answer("A \xff\xfe B"), "\xff\xfe b");
}

TEST(PorterStemmer, HandWrittenValues) {
  EXPECT_EQ(porter_stem("caresses"), "caress");
  EXPECT_EQ(porter_stem("ponies"), "poni");
  EXPECT_EQ(porter_stem("generously"), "gener");
  EXPECT_EQ(porter_stem("dying"), "die");
  EXPECT_EQ(porter_stem("Running"), "run");
  EXPECT_EQ(porter_stem("is"), "is");
}

TEST(Rouge, HandWrittenValues) {
  EXPECT_EQ(rouge_tokenize("The runners' (running) 2017!", true),
            (std::vector<std::string>{"the", "runner", "run", "2017"}));
  EXPECT_EQ(rouge_tokenize("Runners", false), (std::vector<std::string>{"runners"}));
  const RougeScores same = rouge_scores("the cat sat", "The cat sat.");
  EXPECT_EQ(same.rouge1.fmeasure, 1.0);
  EXPECT_EQ(same.rouge2.fmeasure, 1.0);
  EXPECT_EQ(same.rougeL.fmeasure, 1.0);
  // Prediction "cat the" vs reference "the cat sat": unigrams 2/2 and 2/3; no shared bigram; LCS 1.
  const RougeScores s = rouge_scores("cat the", "the cat sat");
  EXPECT_NEAR(s.rouge1.precision, 1.0, 1e-12);
  EXPECT_NEAR(s.rouge1.recall, 2.0 / 3.0, 1e-12);
  EXPECT_EQ(s.rouge2.fmeasure, 0.0);
  EXPECT_NEAR(s.rougeL.precision, 0.5, 1e-12);
  EXPECT_NEAR(s.rougeL.recall, 1.0 / 3.0, 1e-12);
  EXPECT_EQ(rouge_scores("", "the cat").rougeL.fmeasure, 0.0);
}

}  // namespace
}  // namespace dsla::eval
