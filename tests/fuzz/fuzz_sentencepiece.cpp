// libFuzzer target: tokenizer.model bytes through dsla's SentencePiece wrapper (the dlopen'ed
// shim), then encode and decode. Bad models must be refused with dsla::Error.
#include "core/error.h"
#include "fuzz_support.h"
#include "tokenizer/tokenizer.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    dsla::fuzz::write_scratch("tokenizer.model", data, size);
    auto tokenizer = dsla::load_tokenizer(dsla::fuzz::scratch_dir());
    std::vector<int64_t> ids = tokenizer->encode("Once upon a time, a girl named Lily.", true);
    tokenizer->decode(ids, true);
    for (int64_t id = 0; id < std::min<int64_t>(tokenizer->vocab_size(), 64); ++id) {
      tokenizer->decode({id}, false);
    }
  } catch (const dsla::Error&) {
  }
  return 0;
}
