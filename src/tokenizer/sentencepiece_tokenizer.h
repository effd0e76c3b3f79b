// SentencePieceTokenizer: tokenizer.model through libsentencepiece, loaded in a private symbol
// scope.
#pragma once

#include <filesystem>
#include <memory>

#include "tokenizer/added_tokens.h"
#include "tokenizer/tokenizer.h"

namespace dsla {

namespace tokenizer {
struct SpmShim;
}

class SentencePieceTokenizer : public Tokenizer {
 public:
  /// Loads `path` (tokenizer.model). Throws dsla::Error naming the file when it cannot.
  explicit SentencePieceTokenizer(const std::filesystem::path& path);
  ~SentencePieceTokenizer() override;

  std::vector<int64_t> encode(std::string_view text, bool add_bos) const override;
  std::string decode(const std::vector<int64_t>& ids, bool skip_special = true) const override;
  int64_t vocab_size() const override { return vocab_size_; }
  std::optional<int64_t> bos_id() const override { return bos_id_; }
  std::optional<int64_t> eos_id() const override { return eos_id_; }
  std::string kind() const override { return "sentencepiece"; }
  std::optional<int64_t> token_id(std::string_view token) const override;

  void set_special_ids(std::optional<int64_t> bos, std::optional<int64_t> eos) {
    bos_id_ = bos;
    eos_id_ = eos;
  }

 private:
  void encode_plain(std::string_view text, std::vector<int64_t>& out) const;
  /// Decodes a run of non-control ids with SentencePiece.
  std::string decode_run(const std::vector<int>& ids) const;
  bool is_control(int64_t id) const;

  const tokenizer::SpmShim* shim_;
  void* handle_ = nullptr;
  std::string file_;
  int64_t vocab_size_ = 0;
  std::optional<int64_t> bos_id_;
  std::optional<int64_t> eos_id_;
  tokenizer::AddedTokenMatcher control_tokens_;  // "<s>", "</s>", "<unk>" written in text
};

}  // namespace dsla
