// Normalizers of HF tokenizer.json that dsla supports: none and NFC (via ICU); anything else is
// rejected.
#pragma once

#include <nlohmann/json_fwd.hpp>
#include <string>
#include <string_view>

namespace dsla::tokenizer {

class Normalizer {
 public:
  /// Reads tokenizer.json's "normalizer"; throws dsla::Error naming `file` for unsupported ones.
  Normalizer(const nlohmann::json& spec, const std::string& file);
  /// The normalized text (unchanged when there is no normalizer).
  std::string apply(std::string_view text) const;
  bool is_identity() const { return !nfc_; }

 private:
  bool nfc_ = false;
};

/// Unicode NFC of UTF-8 text; throws dsla::Error on invalid UTF-8.
std::string nfc_normalize(std::string_view text);

}  // namespace dsla::tokenizer
