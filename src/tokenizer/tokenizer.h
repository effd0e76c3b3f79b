// The tokenizer interface: SentencePiece (tokenizer.model) and byte-level BPE (tokenizer.json)
// behind one API.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace dsla {

class Tokenizer {
 public:
  virtual ~Tokenizer() = default;

  /// Token ids of `text`. With `add_bos`, SentencePiece prepends its BOS and tokenizer.json adds
  /// what its TemplateProcessing post-processor adds (nothing when it has none, e.g. SmolLM2).
  /// Special tokens written in the text (e.g. "<|im_start|>") are recognised as single tokens.
  virtual std::vector<int64_t> encode(std::string_view text, bool add_bos) const = 0;
  /// Text of `ids`; special tokens (BOS/EOS/added control tokens) are skipped when `skip_special`.
  virtual std::string decode(const std::vector<int64_t>& ids, bool skip_special = true) const = 0;
  /// Number of ids, including added tokens.
  virtual int64_t vocab_size() const = 0;
  virtual std::optional<int64_t> bos_id() const = 0;
  virtual std::optional<int64_t> eos_id() const = 0;
  /// The id of a token given by its text (e.g. "<|im_end|>", "</s>"), if the vocab has it.
  virtual std::optional<int64_t> token_id(std::string_view token) const = 0;
  /// Name of the implementation ("sentencepiece" or "bpe"), for logs.
  virtual std::string kind() const = 0;
};

/// Loads the tokenizer of an HF model directory: tokenizer.json when present, else tokenizer.model.
/// Throws dsla::Error naming the directory when neither exists or the file is malformed.
std::unique_ptr<Tokenizer> load_tokenizer(const std::filesystem::path& model_dir);
/// load_tokenizer() for a model with `model_vocab_size` logits: refuses a tokenizer with more ids
/// (they would index past the embeddings); fewer is a padded vocabulary, whose extra logits the
/// samplers never choose (SamplingOptions::vocab_limit).
std::unique_ptr<Tokenizer> load_tokenizer(const std::filesystem::path& model_dir,
                                          int64_t model_vocab_size);

}  // namespace dsla
