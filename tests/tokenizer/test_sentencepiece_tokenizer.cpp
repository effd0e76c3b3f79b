// Tests of SentencePieceTokenizer against stories260K's references and python sentencepiece's ids.
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "tokenizer/incremental_decoder.h"
#include "tokenizer/sentencepiece_tokenizer.h"
#include "tokenizer_fixtures.h"

namespace dsla {
namespace {

using testing::read_file;
using testing::stories260k_dir;
using testing::stories260k_reference_dir;

const SentencePieceTokenizer& stories_tokenizer() {
  static const SentencePieceTokenizer tokenizer(stories260k_dir() / "tokenizer.model");
  return tokenizer;
}

TEST(SentencePieceTokenizer, PromptMatchesReferenceIds) {
  const auto reference =
      nlohmann::json::parse(read_file(stories260k_reference_dir() / "prompt_logits.json"));
  const auto expected = reference.at("tokens").get<std::vector<int64_t>>();
  EXPECT_EQ(stories_tokenizer().encode(reference.at("prompt").get<std::string>(), true), expected);
}

TEST(SentencePieceTokenizer, GreedyTokensDecodeToLlama2cText) {
  const auto greedy =
      nlohmann::json::parse(read_file(stories260k_reference_dir() / "greedy_from_bos_200.json"));
  const auto ids = greedy.at("tokens_including_bos").get<std::vector<int64_t>>();
  const std::string expected =
      read_file(stories260k_reference_dir() / "llama2c_test_all_expected_stdout.txt");
  EXPECT_EQ(stories_tokenizer().decode(ids), expected);
}

TEST(SentencePieceTokenizer, IncrementalDecodingConcatenatesToTheWholeDecode) {
  // The 200 greedy tokens of the llama2.c reference, then text with multi-byte characters that
  // stories260K spells in byte-fallback pieces (a character's bytes arrive over several tokens).
  const auto greedy =
      nlohmann::json::parse(read_file(stories260k_reference_dir() / "greedy_from_bos_200.json"));
  auto ids = greedy.at("tokens_including_bos").get<std::vector<int64_t>>();
  auto extra = stories_tokenizer().encode(" caf\u00e9 \u2014 na\u00efve \U0001F600 end", false);
  ids.insert(ids.end(), extra.begin(), extra.end());
  IncrementalDecoder decoder(stories_tokenizer());
  std::string streamed;
  for (int64_t id : ids) streamed += decoder.push(id);
  EXPECT_EQ(streamed, stories_tokenizer().decode(ids));
}

TEST(SentencePieceTokenizer, MatchesPythonSentencepiece) {
  const auto& entry = testing::tokenizer_fixture().at("sentencepiece");
  const auto strings = testing::fixture_strings();
  const auto& tokenizer = stories_tokenizer();
  for (size_t i = 0; i < strings.size(); ++i) {
    SCOPED_TRACE(strings[i]);
    const auto expected = entry.at("ids").at(i).get<std::vector<int64_t>>();
    EXPECT_EQ(tokenizer.encode(strings[i], false), expected);
    EXPECT_EQ(tokenizer.decode(expected), entry.at("decoded").at(i).get<std::string>());
  }
}

TEST(SentencePieceTokenizer, CorpusMatchesPythonSentencepiece) {
  const auto& entry = testing::tokenizer_fixture().at("sentencepiece");
  EXPECT_EQ(testing::ids_digest(stories_tokenizer().encode(testing::fixture_corpus(), false)),
            entry.at("corpus"));
}

TEST(SentencePieceTokenizer, SpecialIdsAndVocab) {
  const auto& tokenizer = stories_tokenizer();
  EXPECT_EQ(tokenizer.vocab_size(), 512);
  EXPECT_EQ(tokenizer.bos_id(), 1);
  EXPECT_EQ(tokenizer.eos_id(), 2);
  EXPECT_EQ(tokenizer.token_id("</s>"), 2);
  EXPECT_EQ(tokenizer.token_id("<unk>"), 0);
  EXPECT_FALSE(tokenizer.token_id("no-such-piece").has_value());
  EXPECT_EQ(tokenizer.kind(), "sentencepiece");
}

TEST(SentencePieceTokenizer, ControlTokensInTextAreSingleIds) {
  const auto& tokenizer = stories_tokenizer();
  std::vector<int64_t> expected = tokenizer.encode("Lily", false);
  expected.push_back(2);
  const auto tail = tokenizer.encode("Tom", false);
  expected.insert(expected.end(), tail.begin(), tail.end());
  EXPECT_EQ(tokenizer.encode("Lily</s>Tom", false), expected);
  EXPECT_EQ(tokenizer.decode(expected), "Lily Tom");  // each segment gets its dummy prefix
  EXPECT_EQ(tokenizer.decode({1, 403, 2}, false), "<s> Once</s>");
}

TEST(SentencePieceTokenizer, BadInputsThrow) {
  EXPECT_THROW(stories_tokenizer().decode({512}), Error);
  const auto dir = testing::make_temp_dir("spm-bad");
  try {
    SentencePieceTokenizer missing(dir / "tokenizer.model");
    FAIL() << "expected dsla::Error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("tokenizer.model"), std::string::npos) << e.what();
  }
  { std::ofstream(dir / "tokenizer.model") << "not a protobuf"; }
  try {
    SentencePieceTokenizer garbage(dir / "tokenizer.model");
    FAIL() << "expected dsla::Error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find((dir / "tokenizer.model").string()), std::string::npos)
        << e.what();
  }
  testing::remove_temp_dir(dir);
}

}  // namespace
}  // namespace dsla
