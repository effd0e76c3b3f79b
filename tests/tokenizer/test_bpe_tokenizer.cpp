// Tests of BpeTokenizer against HF `tokenizers` ids (data/fixtures/tokenizer_ids.json) and bad
// inputs.
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <thread>

#include "core/error.h"
#include "tokenizer/bpe_tokenizer.h"
#include "tokenizer_fixtures.h"

namespace dsla {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

/// Checks one fixture entry: ids with and without special tokens, decoding, round trip.
void expect_matches_fixture(const json& entry, bool round_trips) {
  const BpeTokenizer tokenizer(testing::fixture_location(entry.at("location")));
  EXPECT_EQ(tokenizer.vocab_size(), entry.at("vocab_size").get<int64_t>());
  const auto strings = testing::fixture_strings();
  for (size_t i = 0; i < strings.size(); ++i) {
    SCOPED_TRACE(entry.at("name").get<std::string>() + ": '" + strings[i] + "'");
    const auto ids = entry.at("ids").at(i).get<std::vector<int64_t>>();
    EXPECT_EQ(tokenizer.encode(strings[i], false), ids);
    EXPECT_EQ(tokenizer.encode(strings[i], true),
              entry.at("ids_with_special").at(i).get<std::vector<int64_t>>());
    EXPECT_EQ(tokenizer.decode(ids, false), entry.at("decoded").at(i).get<std::string>());
    EXPECT_EQ(tokenizer.decode(ids, true),
              entry.at("decoded_skip_special").at(i).get<std::string>());
    if (round_trips) {
      EXPECT_EQ(tokenizer.decode(tokenizer.encode(strings[i], false), false), strings[i]);
    }
  }
}

/// Encodes the whole shared corpus (~600 KB) and compares count and hash of the ids with HF's.
void expect_corpus_matches(const json& entry) {
  const BpeTokenizer tokenizer(testing::fixture_location(entry.at("location")));
  EXPECT_EQ(testing::ids_digest(tokenizer.encode(testing::fixture_corpus(), false)),
            entry.at("corpus"));
}

TEST(BpeTokenizer, SmolLike_MatchesHfTokenizers) {
  expect_matches_fixture(testing::bpe_fixture("smol_like"), true);
  expect_corpus_matches(testing::bpe_fixture("smol_like"));
}

TEST(BpeTokenizer, Llama3Like_MatchesHfTokenizers) {
  // NFC and an lstrip added token change the text, so decode is checked against HF instead.
  expect_matches_fixture(testing::bpe_fixture("llama3_like"), false);
  expect_corpus_matches(testing::bpe_fixture("llama3_like"));
}

TEST(BpeTokenizer, ByteFallback_MatchesHfTokenizers) {
  expect_matches_fixture(testing::bpe_fixture("fallback"), false);
  expect_corpus_matches(testing::bpe_fixture("fallback"));
}

TEST(BpeTokenizer, SmolLM2_MatchesHfTokenizers) {
  if (!fs::exists(testing::smollm2_dir() / "tokenizer.json")) {
    GTEST_SKIP() << "no " << (testing::smollm2_dir() / "tokenizer.json").string()
                 << " (set DSLA_SMOLLM2_DIR to the converted SmolLM2-135M-Instruct)";
  }
  const json entry = testing::bpe_fixture("smollm2");
  ASSERT_FALSE(entry.is_null()) << "tokenizer_ids.json has no smollm2 entry: rerun "
                                   "tools/gen_tokenizer_fixtures.py";
  expect_matches_fixture(entry, true);
  expect_corpus_matches(entry);
}

TEST(BpeTokenizer, TemplateAddsBosOnlyWhenAsked) {
  const BpeTokenizer llama3(testing::fixtures_dir() / "tokenizer_llama3_like.json");
  const auto plain = llama3.encode("Hello", false);
  auto with_bos = llama3.encode("Hello", true);
  ASSERT_EQ(with_bos.size(), plain.size() + 1);
  EXPECT_EQ(with_bos[0], llama3.token_id("<|begin_of_text|>"));
  const BpeTokenizer smol(testing::fixtures_dir() / "tokenizer_smol_like.json");
  EXPECT_EQ(smol.encode("Hello", true), smol.encode("Hello", false));  // no template, no BOS
}

TEST(BpeTokenizer, SpecialTokensAndLookups) {
  const BpeTokenizer smol(testing::fixtures_dir() / "tokenizer_smol_like.json");
  const auto im_start = smol.token_id("<|im_start|>");
  const auto im_end = smol.token_id("<|im_end|>");
  ASSERT_TRUE(im_start && im_end);
  const auto ids = smol.encode("<|im_start|>user\nhi<|im_end|>", false);
  EXPECT_EQ(ids.front(), *im_start);
  EXPECT_EQ(ids.back(), *im_end);
  EXPECT_EQ(smol.decode(ids, true), "user\nhi");
  EXPECT_EQ(smol.kind(), "bpe");
  EXPECT_FALSE(smol.token_id("no such token").has_value());
  EXPECT_THROW(smol.decode({smol.vocab_size()}), Error);
}

TEST(BpeTokenizer, LongRunsAndInvalidUtf8) {
  const BpeTokenizer smol(testing::fixtures_dir() / "tokenizer_smol_like.json");
  const std::string spaces(200000, ' ');
  const std::string letters(200000, 'a');
  for (const std::string& text : {spaces + "x", letters, std::string(50000, '\n') + "y"}) {
    EXPECT_EQ(smol.decode(smol.encode(text, false)), text);
  }
  EXPECT_THROW(smol.encode("bad \xFF\xFE utf-8", false), Error);
}

TEST(BpeTokenizer, ConcurrentEncodesAgree) {
  const BpeTokenizer smol(testing::fixtures_dir() / "tokenizer_smol_like.json");
  const json entry = testing::bpe_fixture("smol_like");
  const auto strings = testing::fixture_strings();
  std::vector<int> mismatches(4, 0);
  std::vector<std::thread> threads;
  for (size_t t = 0; t < mismatches.size(); ++t) {
    threads.emplace_back([&, t] {
      for (int round = 0; round < 20; ++round) {
        for (size_t i = 0; i < strings.size(); ++i) {
          const auto expected = entry.at("ids").at(i).get<std::vector<int64_t>>();
          if (smol.encode(strings[i], false) != expected) ++mismatches[t];
        }
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(mismatches, std::vector<int>(mismatches.size(), 0));
}

/// Writes `spec` as tokenizer.json in a fresh directory and returns the file.
fs::path write_tokenizer_json(const std::string& tag, const std::string& text) {
  const fs::path path = testing::make_temp_dir(tag) / "tokenizer.json";
  std::ofstream(path) << text;
  return path;
}

/// Expects constructing a BpeTokenizer from `path` to throw a dsla::Error naming the file and
/// `what`.
void expect_error_naming(const fs::path& path, const std::string& what) {
  try {
    BpeTokenizer tokenizer(path);
    FAIL() << "expected dsla::Error for " << what;
  } catch (const Error& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find(path.string()), std::string::npos) << message;
    EXPECT_NE(message.find(what), std::string::npos) << message;
  }
  testing::remove_temp_dir(path.parent_path());
}

json smol_spec() {
  return json::parse(testing::read_file(testing::fixtures_dir() / "tokenizer_smol_like.json"));
}

TEST(BpeTokenizer, BadFilesThrowNamingTheFile) {
  expect_error_naming(testing::make_temp_dir("bpe-missing") / "tokenizer.json", "cannot open");
  expect_error_naming(write_tokenizer_json("bpe-malformed", "{\"model\": {"), "malformed JSON");
  json spec = smol_spec();
  spec["model"]["type"] = "WordPiece";
  expect_error_naming(write_tokenizer_json("bpe-wordpiece", spec.dump()), "WordPiece");
  spec = smol_spec();
  spec["pre_tokenizer"] = {{"type", "Metaspace"}, {"replacement", "_"}};
  expect_error_naming(write_tokenizer_json("bpe-metaspace", spec.dump()), "Metaspace");
  spec = smol_spec();
  spec["normalizer"] = {{"type", "Lowercase"}};
  expect_error_naming(write_tokenizer_json("bpe-lowercase", spec.dump()), "Lowercase");
  spec = smol_spec();
  spec["model"]["merges"].push_back(json::array({"Ġ", "nonexistent"}));
  expect_error_naming(write_tokenizer_json("bpe-merge", spec.dump()), "nonexistent");
  spec = smol_spec();
  spec["pre_tokenizer"] = {{"type", "Split"},
                           {"pattern", {{"Regex", "(unclosed"}}},
                           {"behavior", "Isolated"},
                           {"invert", false}};
  expect_error_naming(write_tokenizer_json("bpe-regex", spec.dump()), "(unclosed");
  spec = smol_spec();
  spec["model"].erase("vocab");
  expect_error_naming(write_tokenizer_json("bpe-novocab", spec.dump()), "vocab");
  // Found by fuzz_tokenizer_json: a float id was converted to int64 (undefined past 2^63, 1.5
  // became 1).
  spec = smol_spec();
  spec["model"]["vocab"]["Ġthe"] = 2.9e21;
  expect_error_naming(write_tokenizer_json("bpe-floatid", spec.dump()), "must be an integer");
  spec = smol_spec();
  spec["added_tokens"][0]["id"] = 1.5;
  expect_error_naming(write_tokenizer_json("bpe-floatadded", spec.dump()), "an added token's id");
}

}  // namespace
}  // namespace dsla
