// Tests of load_tokenizer(): file choice, BOS/EOS from the HF config files, and errors naming the
// path.
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer_fixtures.h"

namespace dsla {
namespace {

namespace fs = std::filesystem;

void write_text(const fs::path& path, const std::string& text) {
  std::ofstream(path) << text;
}

/// A temp model directory holding the smol_like tokenizer.json plus the given config files.
fs::path smol_dir(const std::string& tag) {
  const fs::path dir = testing::make_temp_dir(tag);
  fs::copy_file(testing::fixtures_dir() / "tokenizer_smol_like.json", dir / "tokenizer.json");
  return dir;
}

std::string error_of(const fs::path& dir) {
  try {
    load_tokenizer(dir);
  } catch (const Error& e) {
    return e.what();
  }
  return "no error";
}

TEST(LoadTokenizer, Stories260kUsesSentencePiece) {
  const auto tokenizer = load_tokenizer(testing::stories260k_dir());
  EXPECT_EQ(tokenizer->kind(), "sentencepiece");
  EXPECT_EQ(tokenizer->bos_id(), 1);
  EXPECT_EQ(tokenizer->eos_id(), 2);
  EXPECT_EQ(tokenizer->encode("Once", true).front(), 1);
}

TEST(LoadTokenizer, SpecialIdsFollowHfPrecedence) {
  const fs::path dir = smol_dir("factory-special");
  auto tokenizer = load_tokenizer(dir);
  EXPECT_EQ(tokenizer->kind(), "bpe");
  EXPECT_FALSE(tokenizer->bos_id().has_value());
  EXPECT_FALSE(tokenizer->eos_id().has_value());

  write_text(dir / "config.json", R"({"bos_token_id": 1, "eos_token_id": [2, 0]})");
  tokenizer = load_tokenizer(dir);
  EXPECT_EQ(tokenizer->bos_id(), 1);
  EXPECT_EQ(tokenizer->eos_id(), 2);

  write_text(dir / "special_tokens_map.json",
             R"({"eos_token": {"content": "<|endoftext|>", "special": true}})");
  write_text(dir / "tokenizer_config.json",
             R"({"bos_token": "<|im_start|>", "eos_token": "<|im_end|>"})");
  tokenizer = load_tokenizer(dir);
  EXPECT_EQ(tokenizer->bos_id(), tokenizer->token_id("<|im_start|>"));
  EXPECT_EQ(tokenizer->eos_id(), tokenizer->token_id("<|im_end|>"));

  write_text(dir / "tokenizer_config.json", R"({"bos_token": null})");
  tokenizer = load_tokenizer(dir);
  EXPECT_FALSE(tokenizer->bos_id().has_value());                         // explicit null wins
  EXPECT_EQ(tokenizer->eos_id(), tokenizer->token_id("<|endoftext|>"));  // special_tokens_map
  testing::remove_temp_dir(dir);
}

TEST(LoadTokenizer, ErrorsNameTheFileOrDirectory) {
  const fs::path empty = testing::make_temp_dir("factory-empty");
  EXPECT_NE(error_of(empty).find(empty.string()), std::string::npos) << error_of(empty);
  EXPECT_NE(error_of(empty / "nope").find((empty / "nope").string()), std::string::npos);

  const fs::path dir = smol_dir("factory-badconfig");
  write_text(dir / "tokenizer_config.json", "{ not json");
  EXPECT_NE(error_of(dir).find((dir / "tokenizer_config.json").string()), std::string::npos)
      << error_of(dir);
  write_text(dir / "tokenizer_config.json", R"({"eos_token": "<|no_such_token|>"})");
  EXPECT_NE(error_of(dir).find("<|no_such_token|>"), std::string::npos) << error_of(dir);

  write_text(dir / "tokenizer.json", "[1, 2");
  EXPECT_NE(error_of(dir).find((dir / "tokenizer.json").string()), std::string::npos)
      << error_of(dir);
  testing::remove_temp_dir(empty);
  testing::remove_temp_dir(dir);
}

TEST(LoadTokenizer, UnsupportedJsonFallsBackToTokenizerModel) {
  const fs::path dir = testing::make_temp_dir("factory-fallback");
  fs::copy_file(testing::stories260k_dir() / "tokenizer.model", dir / "tokenizer.model");
  write_text(dir / "tokenizer.json", R"({"model": {"type": "Unigram", "vocab": []}})");
  const auto tokenizer = load_tokenizer(dir);
  EXPECT_EQ(tokenizer->kind(), "sentencepiece");
  // Malformed JSON is an error, not a reason to fall back.
  write_text(dir / "tokenizer.json", R"({"model": )");
  EXPECT_NE(error_of(dir).find("malformed"), std::string::npos) << error_of(dir);
  testing::remove_temp_dir(dir);
}

TEST(LoadTokenizer, SmolLM2ChatTokens) {
  const fs::path dir = testing::smollm2_dir();
  if (!fs::exists(dir / "tokenizer.json")) {
    GTEST_SKIP() << "no " << dir.string() << " (set DSLA_SMOLLM2_DIR to the converted SmolLM2)";
  }
  const auto tokenizer = load_tokenizer(dir);
  EXPECT_EQ(tokenizer->kind(), "bpe");
  EXPECT_EQ(tokenizer->vocab_size(), 49152);
  EXPECT_EQ(tokenizer->bos_id(), tokenizer->token_id("<|im_start|>"));
  EXPECT_EQ(tokenizer->eos_id(), tokenizer->token_id("<|im_end|>"));
  const auto ids = tokenizer->encode("<|im_start|>user\nhi<|im_end|>\n", true);
  EXPECT_EQ(ids.front(), tokenizer->bos_id());  // written in the text; the template adds nothing
  EXPECT_EQ(tokenizer->decode(ids, false), "<|im_start|>user\nhi<|im_end|>\n");
}

TEST(LoadTokenizer, SmolLM2MatchesTransformersCases) {
  // data/fixtures/hf_smollm2_tokenizer.json: transformers' ids (cross-checked with llama.cpp).
  const fs::path dir = testing::smollm2_dir();
  const fs::path cases_file = testing::fixtures_dir() / "hf_smollm2_tokenizer.json";
  if (!fs::exists(dir / "tokenizer.json") || !fs::exists(cases_file)) {
    GTEST_SKIP() << "needs " << dir.string() << " and " << cases_file.string();
  }
  const auto tokenizer = load_tokenizer(dir);
  const auto fixture = nlohmann::json::parse(testing::read_file(cases_file));
  ASSERT_FALSE(fixture.at("cases").empty());
  for (const auto& c : fixture.at("cases")) {
    const std::string text = c.at("text");
    SCOPED_TRACE(text);
    const auto ids = c.at("ids").get<std::vector<int64_t>>();
    EXPECT_EQ(tokenizer->encode(text, false), ids);
    EXPECT_EQ(tokenizer->decode(ids, false), c.at("decoded").get<std::string>());
  }
}

}  // namespace
}  // namespace dsla
