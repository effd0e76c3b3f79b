// Implementation of Normalizer (normalizer.h); NFC goes through ICU's C API (UTF-8 -> UTF-16 -> NFC
// -> UTF-8).
#include "tokenizer/normalizer.h"

#include <unicode/unorm2.h>
#include <unicode/ustring.h>

#include <nlohmann/json.hpp>
#include <vector>

#include "core/error.h"

namespace dsla::tokenizer {

namespace {

bool is_nfc_spec(const nlohmann::json& spec) {
  if (spec.at("type") == "NFC") return true;
  if (spec.at("type") != "Sequence") return false;
  for (const auto& member : spec.at("normalizers")) {
    if (!is_nfc_spec(member)) return false;
  }
  return !spec.at("normalizers").empty();
}

}  // namespace

Normalizer::Normalizer(const nlohmann::json& spec, const std::string& file) {
  if (spec.is_null()) return;
  DSLA_CHECK(is_nfc_spec(spec),
             "{}: unsupported normalizer '{}' (supported: null, NFC, Sequence of NFC)", file,
             spec.dump());
  nfc_ = true;
}

std::string Normalizer::apply(std::string_view text) const {
  return nfc_ ? nfc_normalize(text) : std::string(text);
}

std::string nfc_normalize(std::string_view text) {
  if (text.empty()) return {};
  UErrorCode status = U_ZERO_ERROR;
  const UNormalizer2* nfc = unorm2_getNFCInstance(&status);
  DSLA_CHECK(U_SUCCESS(status), "ICU: NFC normalizer unavailable: {}", u_errorName(status));
  std::vector<UChar> utf16(text.size() + 1);
  int32_t utf16_len = 0;
  u_strFromUTF8(utf16.data(), static_cast<int32_t>(utf16.size()), &utf16_len, text.data(),
                static_cast<int32_t>(text.size()), &status);
  DSLA_CHECK(U_SUCCESS(status), "NFC: invalid UTF-8 in text: {}", u_errorName(status));
  // NFC can grow a string by at most 3x (Unicode's stated bound for NFC).
  std::vector<UChar> normalized(static_cast<size_t>(utf16_len) * 3 + 1);
  const int32_t normalized_len = unorm2_normalize(nfc, utf16.data(), utf16_len, normalized.data(),
                                                  static_cast<int32_t>(normalized.size()), &status);
  DSLA_CHECK(U_SUCCESS(status), "NFC: normalization failed: {}", u_errorName(status));
  std::string out(static_cast<size_t>(normalized_len) * 3 + 1, '\0');
  int32_t out_len = 0;
  u_strToUTF8(out.data(), static_cast<int32_t>(out.size()), &out_len, normalized.data(),
              normalized_len, &status);
  DSLA_CHECK(U_SUCCESS(status), "NFC: UTF-8 conversion failed: {}", u_errorName(status));
  out.resize(static_cast<size_t>(out_len));
  return out;
}

}  // namespace dsla::tokenizer
