// The C interface of the SentencePiece shim library (libdsla_spm_shim.so), loaded with
// dlopen(RTLD_DEEPBIND).
#pragma once

#include <cstddef>

extern "C" {

/// Receives a chunk of output (ids or bytes); `ctx` is the caller's pointer passed through.
typedef void (*dsla_spm_id_sink)(void* ctx, const int* ids, size_t n);
typedef void (*dsla_spm_byte_sink)(void* ctx, const char* bytes, size_t n);

/// Loads a tokenizer.model; returns a handle, or null with a message written into err
/// (NUL-terminated).
typedef void* (*dsla_spm_load_fn)(const char* path, char* err, size_t err_cap);
typedef void (*dsla_spm_free_fn)(void* handle);
/// Encodes UTF-8 text into ids (no BOS/EOS); returns 0, or -1 with a message in err.
typedef int (*dsla_spm_encode_fn)(void* handle, const char* text, size_t len, dsla_spm_id_sink sink,
                                  void* ctx, char* err, size_t err_cap);
/// Decodes ids into UTF-8 bytes; returns 0, or -1 with a message in err.
typedef int (*dsla_spm_decode_fn)(void* handle, const int* ids, size_t n, dsla_spm_byte_sink sink,
                                  void* ctx, char* err, size_t err_cap);
/// Number of pieces; special ids (-1 when absent); piece text and whether a piece is a control
/// token.
typedef int (*dsla_spm_int_fn)(void* handle);
typedef const char* (*dsla_spm_piece_fn)(void* handle, int id);
typedef int (*dsla_spm_is_control_fn)(void* handle, int id);
typedef int (*dsla_spm_piece_to_id_fn)(void* handle, const char* piece, size_t len);

}  // extern "C"
