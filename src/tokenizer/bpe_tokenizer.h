// BpeTokenizer: byte-level BPE from an HF tokenizer.json (GPT-2, Llama-3, Qwen2, SmolLM2 style).
#pragma once

#include <filesystem>
#include <memory>

#include "tokenizer/added_tokens.h"
#include "tokenizer/bpe_model.h"
#include "tokenizer/normalizer.h"
#include "tokenizer/pre_tokenizer.h"
#include "tokenizer/tokenizer.h"

namespace dsla {

/// Supported tokenizer.json: model BPE (vocab; merges as "a b" or [a, b]; ignore_merges,
/// byte_fallback, unk_token, fuse_unk); normalizer null / NFC; pre_tokenizer ByteLevel, Split (all
/// behaviors, invert), Digits and Sequence of them, with a ByteLevel step somewhere; decoder
/// ByteLevel; post_processor ByteLevel / TemplateProcessing ("single" only) / Sequence;
/// added_tokens with lstrip, rstrip, single_word, normalized. Anything else throws dsla::Error
/// naming the file and the feature. decode() returns raw bytes (HF replaces invalid UTF-8 with
/// U+FFFD).
class BpeTokenizer : public Tokenizer {
 public:
  /// Reads `path` (tokenizer.json). Throws dsla::Error naming the file when it is missing,
  /// malformed or uses a feature dsla does not support.
  explicit BpeTokenizer(const std::filesystem::path& path);

  std::vector<int64_t> encode(std::string_view text, bool add_bos) const override;
  std::string decode(const std::vector<int64_t>& ids, bool skip_special = true) const override;
  int64_t vocab_size() const override;
  std::optional<int64_t> bos_id() const override { return bos_id_; }
  std::optional<int64_t> eos_id() const override { return eos_id_; }
  std::string kind() const override { return "bpe"; }
  std::optional<int64_t> token_id(std::string_view token) const override;

  void set_special_ids(std::optional<int64_t> bos, std::optional<int64_t> eos) {
    bos_id_ = bos;
    eos_id_ = eos;
  }

 private:
  void read_added_tokens(const nlohmann::json& list, const std::string& file);
  void read_post_processor(const nlohmann::json& spec, const std::string& file);
  void read_decoder(const nlohmann::json& spec, const std::string& file);
  /// Normalizes, pre-tokenizes and BPE-encodes plain text (no added tokens inside).
  void encode_plain(std::string_view text, std::vector<int64_t>& out) const;

  std::unique_ptr<tokenizer::BpeModel> model_;
  std::unique_ptr<tokenizer::Normalizer> normalizer_;
  std::unique_ptr<tokenizer::PreTokenizer> pre_tokenizer_;
  tokenizer::AddedTokenMatcher raw_added_;         // added tokens matched on the raw text
  tokenizer::AddedTokenMatcher normalized_added_;  // ... and on normalized text
  std::unordered_map<int64_t, tokenizer::AddedToken> added_by_id_;
  std::vector<int64_t> template_prefix_;  // TemplateProcessing "single" ids before $A
  std::vector<int64_t> template_suffix_;  // ... and after it
  std::optional<int64_t> bos_id_;
  std::optional<int64_t> eos_id_;
};

}  // namespace dsla
