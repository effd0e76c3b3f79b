// Implementation of the ChatML chat template: recognition of the Jinja text and rendering.
#include "tokenizer/chat_template.h"

#include <fstream>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "io/json_file.h"

namespace dsla {
namespace {

/// The text of the first Jinja string literal "'<|im_start|>system\n...<|im_end|>\n'" guarded by a
/// loop.first / role != 'system' test: the default system message, if the template has one.
std::optional<std::string> default_system_message(const std::string& jinja) {
  const std::string open = "<|im_start|>system\n", close = "<|im_end|>";
  if (jinja.find("loop.first") == std::string::npos) return std::nullopt;
  size_t begin = jinja.find(open);
  if (begin == std::string::npos) return std::nullopt;
  begin += open.size();
  size_t end = jinja.find(close, begin);
  if (end == std::string::npos) return std::nullopt;
  return jinja.substr(begin, end - begin);
}

}  // namespace

ChatTemplate ChatTemplate::from_text(const std::string& jinja, const std::string& source) {
  ChatTemplate t;
  bool chatml = jinja.find("<|im_start|>") != std::string::npos &&
                jinja.find("<|im_end|>") != std::string::npos &&
                jinja.find("message['role']") != std::string::npos &&
                jinja.find("message['content']") != std::string::npos;
  if (!chatml) {
    t.error_ = source +
               ": the chat template is not ChatML, the only family dsla renders; send a "
               "formatted prompt to /v1/completions instead";
    return t;
  }
  t.default_system_ = default_system_message(jinja);
  t.end_of_turn_ = "<|im_end|>";
  return t;
}

ChatTemplate ChatTemplate::load(const std::filesystem::path& model_dir) {
  std::filesystem::path file = model_dir / "tokenizer_config.json";
  ChatTemplate none;
  if (!std::filesystem::is_regular_file(file)) {
    none.error_ = model_dir.string() +
                  " has no tokenizer_config.json, so no chat template; use "
                  "/v1/completions";
    return none;
  }
  nlohmann::json j = io::read_json_file(file);
  if (!j.contains("chat_template") || !j["chat_template"].is_string()) {
    none.error_ = file.string() + " has no chat_template; use /v1/completions";
    return none;
  }
  return from_text(j["chat_template"].get<std::string>(), file.string());
}

std::string ChatTemplate::render(const std::vector<ChatMessage>& messages) const {
  DSLA_CHECK(error_.empty(), "{}", error_);
  DSLA_CHECK(!messages.empty(), "messages is empty");
  std::string out;
  if (default_system_ && messages.front().role != "system") {
    out += "<|im_start|>system\n" + *default_system_ + "<|im_end|>\n";
  }
  for (const auto& m : messages) {
    out += "<|im_start|>" + m.role + "\n" + m.content + "<|im_end|>\n";
  }
  return out + "<|im_start|>assistant\n";
}

}  // namespace dsla
