// Tests of the token cache (tokenised once, memory-mapped after, keyed by content, bad entries
// rebuilt) and the weighted sequence stream (shares, no repeats within a pass, skip = read).
#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <set>

#include "core/error.h"
#include "data/mixture.h"
#include "data/text_corpus.h"
#include "data/token_cache.h"
#include "support/test_paths.h"

namespace dsla::data {
namespace {

namespace fs = std::filesystem;

fs::path write_file(const fs::path& p, const std::string& content) {
  std::ofstream(p, std::ios::binary) << content;
  return p;
}

/// A token file holding 0 .. n-1 (each id says where it was in the file).
std::shared_ptr<const TokenFile> counting_file(const fs::path& dir, const std::string& name,
                                               int64_t n) {
  std::vector<int64_t> ids(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) ids[static_cast<size_t>(i)] = i;
  write_token_file(dir / name, ids);
  return std::make_shared<const TokenFile>(dir / name);
}

TEST(TokenCache, TokenisesOnceThenMapsTheSameIds) {
  fs::path dir = testing::make_temp_dir("token_cache");
  auto tokenizer = load_tokenizer(testing::stories260k_dir());
  std::string key = tokenizer_hash(testing::stories260k_dir());
  fs::path corpus = write_file(dir / "c.jsonl",
                               "{\"text\": \"Once upon a time there was a cat.\"}\n"
                               "{\"text\": \"The dog ran home.\"}\n");
  std::vector<int64_t> expected = tokenize_documents(*tokenizer, read_documents(corpus), 0);
  bool hit = true;
  auto first = cached_tokens(*tokenizer, key, corpus, dir / "cache", &hit);
  EXPECT_FALSE(hit);
  auto second = cached_tokens(*tokenizer, key, corpus, dir / "cache", &hit);
  EXPECT_TRUE(hit);
  ASSERT_EQ(second->size(), expected.size());
  for (size_t i = 0; i < expected.size(); ++i) EXPECT_EQ((*second)[i], expected[i]) << i;

  // Another content is another entry; an entry of another tokenizer is not reused.
  write_file(corpus, "{\"text\": \"A new story.\"}\n");
  auto changed = cached_tokens(*tokenizer, key, corpus, dir / "cache", &hit);
  EXPECT_FALSE(hit);
  EXPECT_EQ(changed->size(), tokenize_documents(*tokenizer, read_documents(corpus), 0).size());
  cached_tokens(*tokenizer, "another-tokenizer", corpus, dir / "cache", &hit);
  EXPECT_FALSE(hit);

  // A damaged entry is rebuilt, not read.
  fs::path entry = changed->path();
  changed.reset();
  write_file(entry, "DSLATOK1 truncated");
  auto rebuilt = cached_tokens(*tokenizer, key, corpus, dir / "cache", &hit);
  EXPECT_FALSE(hit);
  EXPECT_EQ(rebuilt->size(), tokenize_documents(*tokenizer, read_documents(corpus), 0).size());
  fs::remove_all(dir);
}

TEST(TokenCache, RefusesFilesThatAreNotTokenFiles) {
  fs::path dir = testing::make_temp_dir("token_file");
  fs::path bad = write_file(dir / "bad.tok", "NOTATOKENFILE-----");
  try {
    TokenFile f(bad);
    ADD_FAILURE() << "a file with a bad header was mapped";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(bad.string()), std::string::npos) << e.what();
  }
  EXPECT_THROW(TokenFile(dir / "missing.tok"), Error);
  EXPECT_THROW(write_token_file(dir / "big.tok", {int64_t{1} << 40}), Error);
  fs::remove_all(dir);
}

TEST(SequenceStream, SharesFollowTheWeightsAndNoSlotRepeatsWithinAPass) {
  fs::path dir = testing::make_temp_dir("mixture");
  const int64_t seq_len = 8;
  auto a = counting_file(dir, "a.tok", 8 * 40);      // 40 slots
  auto b = counting_file(dir, "b.tok", 8 * 30 + 5);  // 30 slots, a partial tail never read
  SequenceStream stream({{"a", a, 0, a->size(), 3.0}, {"b", b, 0, b->size(), 1.0}}, seq_len, 7);
  std::vector<int64_t> ids = stream.next(40);  // 30 from a, 10 from b
  auto usage = stream.usage();
  EXPECT_EQ(usage[0].sequences, 30);
  EXPECT_EQ(usage[1].sequences, 10);
  EXPECT_EQ(usage[0].tokens, 30 * seq_len);
  EXPECT_DOUBLE_EQ(usage[1].passes, 10.0 / 30.0);
  // Each sequence is one aligned slot of one file (ids count up by one from a multiple of 8).
  std::set<int64_t> starts;
  for (int64_t i = 0; i < 40; ++i) {
    int64_t first = ids[static_cast<size_t>(i * seq_len)];
    EXPECT_EQ(first % seq_len, 0);
    for (int64_t t = 1; t < seq_len; ++t) {
      EXPECT_EQ(ids[static_cast<size_t>(i * seq_len + t)], first + t);
    }
  }
  // All 40 slots of `a` come once before any comes again: read a alone.
  SequenceStream only_a({{"a", a, 0, a->size(), 1.0}}, seq_len, 3);
  std::vector<int64_t> pass = only_a.next(40);
  for (int64_t i = 0; i < 40; ++i) starts.insert(pass[static_cast<size_t>(i * seq_len)]);
  EXPECT_EQ(starts.size(), 40u);
  // Consecutive sequences come from distant parts of the file.
  EXPECT_GT(std::abs(pass[0] - pass[static_cast<size_t>(seq_len)]), 4 * seq_len);
  fs::remove_all(dir);
}

TEST(SequenceStream, SkippingEqualsReadingAndTheSeedDecidesTheOrder) {
  fs::path dir = testing::make_temp_dir("mixture_skip");
  auto a = counting_file(dir, "a.tok", 16 * 23);
  auto b = counting_file(dir, "b.tok", 16 * 11);
  std::vector<MixtureSource> sources = {{"a", a, 16, a->size(), 2.0}, {"b", b, 0, b->size(), 1.5}};
  SequenceStream read(sources, 16, 5), skipped(sources, 16, 5), other_seed(sources, 16, 6);
  read.next(17);
  skipped.skip(17);
  EXPECT_EQ(read.next(9), skipped.next(9));
  EXPECT_EQ(read.position(), 26);
  SequenceStream again(sources, 16, 5);
  EXPECT_NE(again.next(10), other_seed.next(10));
  // The trained range [begin, end) is respected: nothing from a's first 16 tokens.
  SequenceStream from_a({{"a", a, 16, a->size(), 1.0}}, 16, 1);
  std::vector<int64_t> all = from_a.next(22);
  for (int64_t id : all) EXPECT_GE(id, 16);
  fs::remove_all(dir);
}

TEST(SequenceStream, CopySequencesRepeatTheirFirstHalfAtTheGivenShare) {
  fs::path dir = testing::make_temp_dir("mixture_copy");
  const int64_t seq_len = 10;
  auto a = counting_file(dir, "a.tok", seq_len * 50);
  std::vector<MixtureSource> sources = {{"a", a, 0, a->size(), 1.0}};
  SequenceStream plain(sources, seq_len, 4), copies(sources, seq_len, 4, 0.25);
  std::vector<int64_t> p = plain.next(40), c = copies.next(40);
  int64_t copied = 0;
  for (int64_t i = 0; i < 40; ++i) {
    auto at = [&](const std::vector<int64_t>& v, int64_t t) {
      return v[static_cast<size_t>(i * seq_len + t)];
    };
    // The same slot either way; the first half is the slot's own tokens.
    for (int64_t t = 0; t < seq_len / 2; ++t) EXPECT_EQ(at(c, t), at(p, t)) << i;
    bool repeated = true;
    for (int64_t t = 0; t < seq_len / 2; ++t) repeated &= at(c, seq_len / 2 + t) == at(c, t);
    EXPECT_EQ(repeated, copies.is_copy(i)) << i;
    if (!repeated) {
      for (int64_t t = seq_len / 2; t < seq_len; ++t) EXPECT_EQ(at(c, t), at(p, t)) << i;
    }
    copied += repeated ? 1 : 0;
  }
  EXPECT_EQ(copied, 10);  // a quarter of 40, one in every four
  EXPECT_FALSE(copies.is_copy(0));
  EXPECT_TRUE(copies.is_copy(3));
  // Skipping keeps the copy pattern on the stream's index.
  SequenceStream skipped(sources, seq_len, 4, 0.25);
  skipped.skip(30);
  std::vector<int64_t> tail = skipped.next(10);
  EXPECT_EQ(tail, std::vector<int64_t>(c.begin() + 30 * seq_len, c.end()));
  // An odd length repeats too: position h + t holds position t.
  SequenceStream odd(sources, 7, 4, 1.0);
  std::vector<int64_t> o = odd.next(1);
  for (int64_t t = 0; t < 3; ++t)
    EXPECT_EQ(o[static_cast<size_t>(3 + t)], o[static_cast<size_t>(t)]);
  EXPECT_THROW(SequenceStream(sources, seq_len, 4, 1.5), Error);
  EXPECT_THROW(SequenceStream(sources, seq_len, 4, -0.1), Error);
  fs::remove_all(dir);
}

TEST(SequenceStream, RefusesSourcesItCannotRead) {
  fs::path dir = testing::make_temp_dir("mixture_bad");
  auto tiny = counting_file(dir, "tiny.tok", 5);
  try {
    SequenceStream s({{"tiny_file", tiny, 0, tiny->size(), 1.0}}, 8, 0);
    ADD_FAILURE() << "a source shorter than one sequence was accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("tiny_file"), std::string::npos) << e.what();
  }
  EXPECT_THROW(SequenceStream({{"w", tiny, 0, tiny->size(), 0.0}}, 2, 0), Error);
  EXPECT_THROW(SequenceStream({}, 2, 0), Error);
  fs::remove_all(dir);
}

}  // namespace
}  // namespace dsla::data
