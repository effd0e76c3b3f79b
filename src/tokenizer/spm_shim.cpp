// libdsla_spm_shim.so: a C wrapper over libsentencepiece, loaded privately so its symbols never
// meet LibTorch's.
#include <sentencepiece_processor.h>

#include <cstring>
#include <exception>
#include <memory>
#include <string>
#include <vector>

#include "tokenizer/spm_shim_api.h"

namespace {

sentencepiece::SentencePieceProcessor* as_processor(void* handle) {
  return static_cast<sentencepiece::SentencePieceProcessor*>(handle);
}

void write_error(const std::string& message, char* err, size_t err_cap) {
  if (err == nullptr || err_cap == 0) return;
  const size_t n = std::min(message.size(), err_cap - 1);
  std::memcpy(err, message.data(), n);
  err[n] = '\0';
}

}  // namespace

extern "C" {

__attribute__((visibility("default"))) void* dsla_spm_load(const char* path, char* err,
                                                           size_t err_cap) {
  try {
    // Owned until loaded: Load() can also throw (a malformed protobuf), which used to leak it.
    auto processor = std::make_unique<sentencepiece::SentencePieceProcessor>();
    const auto status = processor->Load(path);
    if (status.ok()) return processor.release();
    write_error(status.ToString(), err, err_cap);
  } catch (const std::exception& e) {
    write_error(e.what(), err, err_cap);
  }
  return nullptr;
}

__attribute__((visibility("default"))) void dsla_spm_free(void* handle) {
  delete as_processor(handle);
}

__attribute__((visibility("default"))) int dsla_spm_encode(void* handle, const char* text,
                                                           size_t len, dsla_spm_id_sink sink,
                                                           void* ctx, char* err, size_t err_cap) {
  std::vector<int> ids;
  const auto status = as_processor(handle)->Encode(std::string(text, len), &ids);
  if (!status.ok()) {
    write_error(status.ToString(), err, err_cap);
    return -1;
  }
  sink(ctx, ids.data(), ids.size());
  return 0;
}

__attribute__((visibility("default"))) int dsla_spm_decode(void* handle, const int* ids, size_t n,
                                                           dsla_spm_byte_sink sink, void* ctx,
                                                           char* err, size_t err_cap) {
  std::string text;
  const auto status = as_processor(handle)->Decode(std::vector<int>(ids, ids + n), &text);
  if (!status.ok()) {
    write_error(status.ToString(), err, err_cap);
    return -1;
  }
  sink(ctx, text.data(), text.size());
  return 0;
}

__attribute__((visibility("default"))) int dsla_spm_piece_size(void* handle) {
  return as_processor(handle)->GetPieceSize();
}
__attribute__((visibility("default"))) int dsla_spm_bos_id(void* handle) {
  return as_processor(handle)->bos_id();
}
__attribute__((visibility("default"))) int dsla_spm_eos_id(void* handle) {
  return as_processor(handle)->eos_id();
}
__attribute__((visibility("default"))) const char* dsla_spm_id_to_piece(void* handle, int id) {
  return as_processor(handle)->IdToPiece(id).c_str();
}
__attribute__((visibility("default"))) int dsla_spm_is_control(void* handle, int id) {
  const auto* processor = as_processor(handle);
  return processor->IsControl(id) || processor->IsUnknown(id) ? 1 : 0;
}
__attribute__((visibility("default"))) int dsla_spm_piece_to_id(void* handle, const char* piece,
                                                                size_t len) {
  const auto* processor = as_processor(handle);
  const int id = processor->PieceToId(std::string(piece, len));
  // PieceToId answers unk_id for unknown pieces; tell a real "<unk>" apart from a miss.
  if (id == processor->unk_id() && processor->IdToPiece(id) != std::string(piece, len)) return -1;
  return id;
}

}  // extern "C"
