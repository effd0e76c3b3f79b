// Implementation of SentencePieceTokenizer (sentencepiece_tokenizer.h) over the shim's C functions.
#include "tokenizer/sentencepiece_tokenizer.h"

#include "core/error.h"
#include "tokenizer/spm_shim_loader.h"

namespace dsla {

namespace {

constexpr size_t kErrorCapacity = 512;
constexpr const char* kWordBoundary = "\xE2\x96\x81";  // U+2581, SentencePiece's space

void append_ids(void* ctx, const int* ids, size_t n) {
  auto* out = static_cast<std::vector<int64_t>*>(ctx);
  out->insert(out->end(), ids, ids + n);
}

void append_bytes(void* ctx, const char* bytes, size_t n) {
  static_cast<std::string*>(ctx)->append(bytes, n);
}

std::optional<int64_t> optional_id(int id) {
  return id >= 0 ? std::optional<int64_t>(id) : std::nullopt;
}

}  // namespace

SentencePieceTokenizer::SentencePieceTokenizer(const std::filesystem::path& path)
    : shim_(&tokenizer::spm_shim()), file_(path.string()) {
  DSLA_CHECK(std::filesystem::is_regular_file(path), "{}: tokenizer file not found", file_);
  char error[kErrorCapacity] = {0};
  handle_ = shim_->load(file_.c_str(), error, sizeof(error));
  DSLA_CHECK(handle_ != nullptr, "{}: cannot load SentencePiece model: {}", file_, error);
  vocab_size_ = shim_->piece_size(handle_);
  bos_id_ = optional_id(shim_->bos_id(handle_));
  eos_id_ = optional_id(shim_->eos_id(handle_));
  std::vector<tokenizer::AddedToken> controls;
  for (int id = 0; id < vocab_size_; ++id) {
    if (!shim_->is_control(handle_, id)) continue;
    tokenizer::AddedToken token;
    token.id = id;
    token.content = shim_->id_to_piece(handle_, id);
    token.special = true;
    controls.push_back(token);
  }
  control_tokens_ = tokenizer::AddedTokenMatcher(std::move(controls));
}

SentencePieceTokenizer::~SentencePieceTokenizer() {
  if (handle_ != nullptr) shim_->free(handle_);
}

void SentencePieceTokenizer::encode_plain(std::string_view text, std::vector<int64_t>& out) const {
  char error[kErrorCapacity] = {0};
  const int rc =
      shim_->encode(handle_, text.data(), text.size(), &append_ids, &out, error, sizeof(error));
  DSLA_CHECK(rc == 0, "{}: SentencePiece encode failed: {}", file_, error);
}

std::vector<int64_t> SentencePieceTokenizer::encode(std::string_view text, bool add_bos) const {
  std::vector<int64_t> ids;
  if (add_bos && bos_id_) ids.push_back(*bos_id_);
  for (const tokenizer::TextSegment& segment : control_tokens_.split(text)) {
    if (segment.is_token()) {
      ids.push_back(segment.token_id);
    } else {
      encode_plain(segment.text, ids);
    }
  }
  return ids;
}

std::string SentencePieceTokenizer::decode_run(const std::vector<int>& ids) const {
  std::string text;
  char error[kErrorCapacity] = {0};
  const int rc =
      shim_->decode(handle_, ids.data(), ids.size(), &append_bytes, &text, error, sizeof(error));
  DSLA_CHECK(rc == 0, "{}: SentencePiece decode failed: {}", file_, error);
  return text;
}

bool SentencePieceTokenizer::is_control(int64_t id) const {
  return shim_->is_control(handle_, static_cast<int>(id)) != 0;
}

std::string SentencePieceTokenizer::decode(const std::vector<int64_t>& ids,
                                           bool skip_special) const {
  std::string text;
  std::vector<int> run;
  auto flush = [&] {
    if (run.empty()) return;
    // SentencePiece drops the leading space of a run; keep it when text precedes the run.
    const bool leading_space =
        !text.empty() &&
        std::string(shim_->id_to_piece(handle_, run[0])).rfind(kWordBoundary, 0) == 0;
    text += (leading_space ? " " : "") + decode_run(run);
    run.clear();
  };
  for (int64_t id : ids) {
    DSLA_CHECK(id >= 0 && id < vocab_size_, "decode: id {} is out of range [0, {})", id,
               vocab_size_);
    if (!is_control(id)) {
      run.push_back(static_cast<int>(id));
      continue;
    }
    if (skip_special) continue;
    flush();
    text += shim_->id_to_piece(handle_, static_cast<int>(id));
  }
  flush();
  return text;
}

std::optional<int64_t> SentencePieceTokenizer::token_id(std::string_view token) const {
  return optional_id(shim_->piece_to_id(handle_, token.data(), token.size()));
}

}  // namespace dsla
