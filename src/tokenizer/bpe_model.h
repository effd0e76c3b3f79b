// The BPE model of HF tokenizer.json: vocab, ranked merges, byte fallback and a per-word cache.
#pragma once

#include <cstdint>
#include <mutex>
#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace dsla::tokenizer {

class BpeModel {
 public:
  /// Reads tokenizer.json's "model" (type BPE); throws dsla::Error naming `file` when it is
  /// invalid.
  BpeModel(const nlohmann::json& spec, const std::string& file);

  /// Appends the ids of one pre-tokenized word to `out`.
  void tokenize(std::string_view word, std::vector<int64_t>& out) const;
  std::optional<int64_t> token_to_id(std::string_view token) const;
  /// The token text of `id`, or nullptr when the vocab has no such id.
  const std::string* id_to_token(int64_t id) const;
  /// One more than the largest id of the vocab.
  int64_t size() const { return static_cast<int64_t>(id_to_token_.size()); }
  bool byte_fallback() const { return byte_fallback_; }

 private:
  struct Merge {
    int32_t rank;
    int32_t merged_id;
  };
  static uint64_t pair_key(int32_t left, int32_t right) {
    return (static_cast<uint64_t>(static_cast<uint32_t>(left)) << 32) |
           static_cast<uint32_t>(right);
  }
  void read_vocab(const nlohmann::json& vocab, const std::string& file);
  void read_merges(const nlohmann::json& merges, const std::string& file);
  /// Initial symbols of a word: one per character, with byte fallback or unk for unknown ones.
  std::vector<int32_t> initial_symbols(std::string_view word) const;
  std::vector<int32_t> merge_word(std::string_view word) const;

  std::unordered_map<std::string, int32_t> token_to_id_;
  std::vector<std::string> id_to_token_;
  std::vector<bool> has_id_;
  std::unordered_map<uint64_t, Merge> merges_;
  std::optional<int32_t> unk_id_;
  std::string continuing_subword_prefix_;
  std::string end_of_word_suffix_;
  bool fuse_unk_ = false;
  bool byte_fallback_ = false;
  bool ignore_merges_ = false;

  mutable std::mutex cache_mutex_;
  mutable std::unordered_map<std::string, std::vector<int32_t>> cache_;
};

}  // namespace dsla::tokenizer
