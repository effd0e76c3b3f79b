// Tests of dsla_data: reading .jsonl / plain-text corpora, tokenizing documents, packing, shuffling
// and the batch cursor.
#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <numeric>
#include <set>

#include "core/error.h"
#include "core/paths.h"
#include "data/packing.h"
#include "data/text_corpus.h"
#include "support/test_paths.h"

namespace dsla::data {
namespace {

namespace fs = std::filesystem;

fs::path write_file(const fs::path& dir, const std::string& name, const std::string& content) {
  const fs::path p = dir / name;
  std::ofstream(p, std::ios::binary) << content;
  return p;
}

/// The message of the dsla::Error that `f` throws ("" when it throws none).
template <typename F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(ReadDocuments, JsonlTakesTextFieldAndSkipsEmptyLines) {
  const fs::path dir = testing::make_temp_dir("jsonl");
  const fs::path f = write_file(dir, "c.jsonl",
                                "{\"text\": \"  first doc \\n\", \"id\": 1}\n"
                                "\n"
                                "{\"text\": \"second \\\"quoted\\\"\"}\n"
                                "{\"text\": \"   \"}\n");
  EXPECT_EQ(read_documents(f), (std::vector<std::string>{"first doc", "second \"quoted\""}));
  fs::remove_all(dir);
}

TEST(ReadDocuments, JsonlBadLineNamesFileAndLine) {
  const fs::path dir = testing::make_temp_dir("jsonl-bad");
  const fs::path bad_json = write_file(dir, "bad.jsonl", "{\"text\": \"ok\"}\n\n{\"text\": \n");
  std::string msg = error_of([&] { read_documents(bad_json); });
  EXPECT_NE(msg.find(bad_json.string() + ":3"), std::string::npos) << msg;
  EXPECT_NE(msg.find("JSON"), std::string::npos) << msg;

  const fs::path no_text =
      write_file(dir, "notext.jsonl", "{\"text\": \"ok\"}\n{\"document\": 1}\n");
  msg = error_of([&] { read_documents(no_text); });
  EXPECT_NE(msg.find(no_text.string() + ":2"), std::string::npos) << msg;
  EXPECT_NE(msg.find("\"text\""), std::string::npos) << msg;

  const fs::path not_string = write_file(dir, "num.jsonl", "{\"text\": 5}\n");
  msg = error_of([&] { read_documents(not_string); });
  EXPECT_NE(msg.find(not_string.string() + ":1"), std::string::npos) << msg;
  fs::remove_all(dir);
}

TEST(ReadDocuments, PlainTextSplitsOnSeparatorLines) {
  const fs::path dir = testing::make_temp_dir("plain");
  const fs::path f = write_file(dir, "s.txt",
                                "\nOnce upon a time.\n\nThe end.\n<|endoftext|>\r\n"
                                "Second story.\n<|endoftext|>\n<|endoftext|>\n"
                                "Inline <|endoftext|> is not a separator.\n<|endoftext|>\n");
  EXPECT_EQ(read_documents(f),
            (std::vector<std::string>{"Once upon a time.\n\nThe end.", "Second story.",
                                      "Inline <|endoftext|> is not a separator."}));
  fs::remove_all(dir);
}

TEST(ReadDocuments, PlainTextWithoutSeparatorIsOneDocument) {
  const fs::path dir = testing::make_temp_dir("plain-one");
  const fs::path f =
      write_file(dir, "w.txt", " = Title = \n\nParagraph one.\n\n\nParagraph two.\n\n");
  EXPECT_EQ(read_documents(f),
            (std::vector<std::string>{"= Title = \n\nParagraph one.\n\n\nParagraph two."}));
  fs::remove_all(dir);
}

TEST(ReadDocuments, TinyStoriesSample) {
  const fs::path f =
      assets_dir() / "datasets" / "tinystories_val_sample" / "cs336_tinystories_sample.txt";
  const auto docs = read_documents(f);
  ASSERT_EQ(docs.size(), 5u);  // five stories, each followed by a separator line
  EXPECT_EQ(docs.front().rfind("Once upon a time there was a little boy named Ben.", 0), 0u);
  for (const auto& d : docs) EXPECT_EQ(d.find("<|endoftext|>"), std::string::npos);
}

TEST(ReadDocuments, MissingOrEmptyFileNamesIt) {
  const fs::path dir = testing::make_temp_dir("missing");
  const fs::path missing = dir / "nope.txt";
  EXPECT_NE(error_of([&] { read_documents(missing); }).find(missing.string()), std::string::npos);
  const fs::path empty = write_file(dir, "empty.txt", " \n<|endoftext|>\n\n");
  const std::string msg = error_of([&] { read_documents(empty); });
  EXPECT_NE(msg.find(empty.string()), std::string::npos) << msg;
  EXPECT_NE(msg.find("no documents"), std::string::npos) << msg;
  const fs::path empty_jsonl = write_file(dir, "empty.jsonl", "\n\n");
  EXPECT_NE(error_of([&] { read_documents(empty_jsonl); }).find(empty_jsonl.string()),
            std::string::npos);
  fs::remove_all(dir);
}

TEST(ReadDocuments, BinaryOrNulFilesAreRefusedNamingTheFile) {
  const fs::path dir = testing::make_temp_dir("binary");
  for (const auto& [name, content] : std::vector<std::pair<std::string, std::string>>{
           {"nul.txt", std::string(64, '\0')},
           {"elf.txt", std::string("\x7f"
                                   "ELF\x02\x01\x01\0\0\0\0\0",
                                   12)},
           {"latin1.txt", "caf\xe9 au lait"},
           {"cut.txt", "ends inside a character \xe2\x82"},
           {"nul.jsonl", "{\"text\": \"a\\u0000b\"}\n"}}) {
    const fs::path file = write_file(dir, name, content);
    const std::string msg = error_of([&] { read_documents(file); });
    EXPECT_NE(msg.find(file.string()), std::string::npos) << name << ": " << msg;
    EXPECT_NE(msg.find("not UTF-8 text"), std::string::npos) << name << ": " << msg;
  }
  const fs::path good = write_file(dir, "good.txt", "caf\xc3\xa9 \xe2\x80\x94 \xf0\x9f\x98\x80");
  EXPECT_EQ(read_documents(good).size(), 1u);
  fs::remove_all(dir);
}

TEST(TokenizeDocuments, SentencePieceSeparatesDocumentsWithBos) {
  const auto tokenizer = load_tokenizer(testing::stories260k_dir());
  ASSERT_TRUE(tokenizer->bos_id().has_value());
  const std::vector<std::string> docs = {"Once upon a time, there was a cat.", "The dog ran.",
                                         "Lily was happy."};
  std::vector<int64_t> expected;
  for (const auto& d : docs) {
    const auto ids = tokenizer->encode(d, /*add_bos=*/false);
    expected.push_back(*tokenizer->bos_id());
    expected.insert(expected.end(), ids.begin(), ids.end());
  }
  const auto stream = tokenize_documents(*tokenizer, docs, 0);
  EXPECT_EQ(stream, expected);
  EXPECT_EQ(std::count(stream.begin(), stream.end(), *tokenizer->bos_id()), 3);

  const auto truncated = tokenize_documents(*tokenizer, docs, 7);
  EXPECT_EQ(truncated, std::vector<int64_t>(expected.begin(), expected.begin() + 7));
  EXPECT_EQ(tokenize_documents(*tokenizer, docs, 100000), expected);
}

TEST(TokenizeDocuments, BpeWithoutBosAppendsEos) {
  const fs::path dir = testing::smollm2_dir();
  if (!fs::exists(dir / "tokenizer.json")) GTEST_SKIP() << "no SmolLM2 at " << dir;
  const auto tokenizer = load_tokenizer(dir);
  ASSERT_TRUE(tokenizer->eos_id().has_value());
  const std::vector<std::string> docs = {"Hello world.", "Second document here."};
  std::vector<int64_t> expected;
  for (const auto& d : docs) {
    const auto ids = tokenizer->encode(d, /*add_bos=*/true);
    expected.insert(expected.end(), ids.begin(), ids.end());
    expected.push_back(*tokenizer->eos_id());
  }
  EXPECT_EQ(tokenize_documents(*tokenizer, docs, 0), expected);
}

TEST(Pack, ContiguousChunksDropTheTail) {
  std::vector<int64_t> stream(23);
  std::iota(stream.begin(), stream.end(), 100);
  const PackedSequences p = pack(stream, 5);
  EXPECT_EQ(p.seq_len, 5);
  EXPECT_EQ(p.count(), 4);
  EXPECT_EQ(p.tokens, std::vector<int64_t>(stream.begin(), stream.begin() + 20));
  EXPECT_EQ(pack(stream, 23).count(), 1);
}

TEST(Pack, TooShortSaysHowManyTokens) {
  const std::vector<int64_t> stream(10, 1);
  const std::string msg = error_of([&] { pack(stream, 64); });
  EXPECT_NE(msg.find("10 tokens"), std::string::npos) << msg;
  EXPECT_NE(msg.find("64"), std::string::npos) << msg;
  EXPECT_THROW(pack(stream, 0), Error);
}

TEST(ShuffledOrder, DeterministicPermutationDiffersBetweenSeeds) {
  const auto a = shuffled_order(1000, 42);
  std::vector<int64_t> sorted = a;
  std::sort(sorted.begin(), sorted.end());
  std::vector<int64_t> identity(1000);
  std::iota(identity.begin(), identity.end(), 0);
  EXPECT_EQ(sorted, identity);
  EXPECT_NE(a, identity);
  EXPECT_EQ(shuffled_order(1000, 42), a);
  EXPECT_NE(shuffled_order(1000, 43), a);
  EXPECT_TRUE(shuffled_order(0, 1).empty());
  EXPECT_EQ(shuffled_order(1, 1), std::vector<int64_t>{0});
}

TEST(BatchCursor, EveryIndexOncePerEpoch) {
  PackedSequences p;
  p.seq_len = 4;
  p.tokens.assign(10 * 4, 0);  // 10 sequences
  BatchCursor cursor(p, 3, 7);
  std::vector<int64_t> seen;
  for (int b = 0; b < 10; ++b) {  // 30 indices: exactly three epochs
    const auto batch = cursor.next_batch();
    ASSERT_EQ(batch.size(), 3u);
    seen.insert(seen.end(), batch.begin(), batch.end());
    EXPECT_EQ(cursor.epoch(), static_cast<int64_t>(seen.size()) / 10) << "after batch " << b;
  }
  for (int64_t epoch = 0; epoch < 3; ++epoch) {
    const std::vector<int64_t> part(seen.begin() + epoch * 10, seen.begin() + (epoch + 1) * 10);
    EXPECT_EQ(std::set<int64_t>(part.begin(), part.end()).size(), 10u) << "epoch " << epoch;
    EXPECT_EQ(part, shuffled_order(10, 7 + static_cast<uint64_t>(epoch))) << "epoch " << epoch;
  }
  EXPECT_NE(std::vector<int64_t>(seen.begin(), seen.begin() + 10),
            std::vector<int64_t>(seen.begin() + 10, seen.begin() + 20));
}

TEST(BatchCursor, RejectsEmptyInputAndBadBatchSize) {
  PackedSequences empty;
  empty.seq_len = 4;
  EXPECT_THROW(BatchCursor(empty, 2, 0), Error);
  PackedSequences one;
  one.seq_len = 2;
  one.tokens = {1, 2};
  EXPECT_THROW(BatchCursor(one, 0, 0), Error);
  BatchCursor cursor(one, 2, 0);
  EXPECT_EQ(cursor.next_batch(), (std::vector<int64_t>{0, 0}));
  EXPECT_EQ(cursor.epoch(), 2);
}

}  // namespace
}  // namespace dsla::data
