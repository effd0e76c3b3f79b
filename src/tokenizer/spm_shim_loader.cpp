// Implementation of spm_shim() (spm_shim_loader.h): dlopen with a private, deep-bound symbol scope.
#include "tokenizer/spm_shim_loader.h"

#include <dlfcn.h>

#include <cstdlib>
#include <string>
#include <vector>

#include "core/error.h"

#ifndef DSLA_SPM_SHIM_PATH
#define DSLA_SPM_SHIM_PATH "libdsla_spm_shim.so"
#endif

namespace dsla::tokenizer {

namespace {

// RTLD_DEEPBIND makes libsentencepiece resolve its own symbols (FLAGS_minloglevel clashes with
// libc10's); sanitizer runtimes refuse it, so those builds fall back to a plain local load. (GCC
// defines __SANITIZE_*__; clang 14, which builds the fuzz targets, only answers __has_feature.)
#if defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define DSLA_SANITIZER_RUNTIME 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__) || defined(DSLA_SANITIZER_RUNTIME)
constexpr int kDlopenFlags = RTLD_NOW | RTLD_LOCAL;
#else
constexpr int kDlopenFlags = RTLD_NOW | RTLD_LOCAL | RTLD_DEEPBIND;
#endif

void* open_shim() {
  std::vector<std::string> candidates;
  if (const char* env = std::getenv("DSLA_SPM_SHIM"); env != nullptr && *env != '\0') {
    candidates.emplace_back(env);
  }
  candidates.emplace_back(DSLA_SPM_SHIM_PATH);
  candidates.emplace_back("libdsla_spm_shim.so");
  std::string errors;
  for (const std::string& path : candidates) {
    if (void* handle = dlopen(path.c_str(), kDlopenFlags)) return handle;
    errors += fmt::format("\n  {}: {}", path, dlerror());
  }
  DSLA_FAIL("cannot load the SentencePiece shim (set DSLA_SPM_SHIM to libdsla_spm_shim.so):{}",
            errors);
}

template <typename Fn>
Fn symbol(void* handle, const char* name) {
  void* address = dlsym(handle, name);
  DSLA_CHECK(address != nullptr, "SentencePiece shim lacks {}", name);
  return reinterpret_cast<Fn>(address);
}

SpmShim load_shim() {
  void* handle = open_shim();
  SpmShim shim{};
  shim.load = symbol<dsla_spm_load_fn>(handle, "dsla_spm_load");
  shim.free = symbol<dsla_spm_free_fn>(handle, "dsla_spm_free");
  shim.encode = symbol<dsla_spm_encode_fn>(handle, "dsla_spm_encode");
  shim.decode = symbol<dsla_spm_decode_fn>(handle, "dsla_spm_decode");
  shim.piece_size = symbol<dsla_spm_int_fn>(handle, "dsla_spm_piece_size");
  shim.bos_id = symbol<dsla_spm_int_fn>(handle, "dsla_spm_bos_id");
  shim.eos_id = symbol<dsla_spm_int_fn>(handle, "dsla_spm_eos_id");
  shim.id_to_piece = symbol<dsla_spm_piece_fn>(handle, "dsla_spm_id_to_piece");
  shim.is_control = symbol<dsla_spm_is_control_fn>(handle, "dsla_spm_is_control");
  shim.piece_to_id = symbol<dsla_spm_piece_to_id_fn>(handle, "dsla_spm_piece_to_id");
  return shim;  // the library stays loaded for the life of the process
}

}  // namespace

const SpmShim& spm_shim() {
  static const SpmShim shim = load_shim();
  return shim;
}

}  // namespace dsla::tokenizer
