// libFuzzer target: tokenizer.json bytes through load_tokenizer, then encode and decode of a fixed
// text and of the input itself. Bad files must be refused with dsla::Error; a loaded tokenizer must
// encode any text and decode its ids without another exception.
#include "core/error.h"
#include "fuzz_support.h"
#include "tokenizer/tokenizer.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    dsla::fuzz::write_scratch("tokenizer.json", data, size);
    auto tokenizer = dsla::load_tokenizer(dsla::fuzz::scratch_dir());
    std::string text = "Once upon a time, \xc3\xa9t\xc3\xa9 <|im_start|>user\n 12345 !?";
    std::vector<int64_t> ids = tokenizer->encode(text, true);
    tokenizer->decode(ids, true);
    tokenizer->decode(ids, false);
    std::string input(reinterpret_cast<const char*>(data), std::min<size_t>(size, 256));
    tokenizer->decode(tokenizer->encode(input, false));
  } catch (const dsla::Error&) {
  }
  return 0;
}
