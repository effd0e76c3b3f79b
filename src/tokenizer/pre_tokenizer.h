// Pre-tokenizers of HF tokenizer.json (ByteLevel, Split, Digits, Sequence): cut text into words for
// BPE.
#pragma once

#include <memory>
#include <nlohmann/json_fwd.hpp>
#include <string>
#include <vector>

namespace dsla::tokenizer {

class PreTokenizer {
 public:
  virtual ~PreTokenizer() = default;
  /// Replaces each piece by its sub-pieces (possibly transformed); empty pieces are dropped.
  virtual std::vector<std::string> apply(const std::vector<std::string>& pieces) const = 0;
  /// True when it maps bytes to GPT-2's byte-level alphabet (the decoder must undo it).
  virtual bool is_byte_level() const { return false; }
};

/// Builds the pre-tokenizer described by `spec` (tokenizer.json "pre_tokenizer"; null gives a
/// no-op). Throws dsla::Error naming `file` for unsupported types or options.
std::unique_ptr<PreTokenizer> make_pre_tokenizer(const nlohmann::json& spec,
                                                 const std::string& file);

}  // namespace dsla::tokenizer
