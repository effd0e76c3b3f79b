// libFuzzer target: HTTP request bodies through the OpenAI-style API parser (the first byte picks
// /v1/completions or /v1/chat/completions), with a SmolLM2-like tokenizer and SmolLM2's chat
// template from data/fixtures. A bad body must give an ApiError (or dsla::Error) whose JSON body
// can be written; an accepted one has a prompt and a non-negative max_tokens.
#include <cstdlib>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "fuzz_support.h"
#include "io/json_file.h"
#include "serve/api.h"

namespace {

struct Served {
  std::unique_ptr<dsla::Tokenizer> tokenizer;
  dsla::ChatTemplate chat;
  dsla::serve::ApiLimits limits;
};

const Served& served() {
  static const Served s = [] {
    namespace fs = std::filesystem;
    fs::path dir = dsla::fuzz::scratch_dir() / "model";
    fs::create_directories(dir);
    fs::copy_file(dsla::fuzz::fixtures_dir() / "tokenizer_smol_like.json", dir / "tokenizer.json",
                  fs::copy_options::overwrite_existing);
    Served out{dsla::load_tokenizer(dir), {}, {}};
    auto fixture =
        dsla::io::read_json_file(dsla::fuzz::fixtures_dir() / "chat_template_smollm2.json");
    out.chat =
        dsla::ChatTemplate::from_text(fixture.at("chat_template").get<std::string>(), "fixture");
    out.limits = {"smol", dsla::serve::prompt_byte_limit(*out.tokenizer, 2048)};
    return out;
  }();
  return s;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const Served& s = served();
  std::string body(reinterpret_cast<const char*>(data) + 1, size - 1);
  try {
    dsla::serve::ApiRequest r = data[0] % 2 == 0
                                    ? dsla::serve::parse_completion(body, *s.tokenizer, s.limits)
                                    : dsla::serve::parse_chat(body, *s.tokenizer, s.chat, s.limits);
    // (token-id prompts are range-checked by the engine at admission, not here)
    if (r.params.max_tokens < 0 || r.params.prompt.empty()) std::abort();
    dsla::serve::json_text(dsla::serve::stream_chunk(r, body, "stop", true, "smol", "id", 0));
  } catch (const dsla::serve::ApiError& e) {
    if (e.status < 400 || e.status > 499) std::abort();
    if (!nlohmann::json::accept(dsla::serve::error_body(e))) std::abort();
  } catch (const dsla::Error& e) {
    dsla::serve::error_body({400, e.what(), "", ""});
  }
  return 0;
}
