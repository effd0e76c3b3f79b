// Chat prompts from a model's tokenizer_config.json chat template. HF templates are Jinja; dsla
// recognises the ChatML family (SmolLM2, Qwen, ...) and renders it natively, and refuses others.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace dsla {

struct ChatMessage {
  std::string role;  ///< "system", "user" or "assistant"
  std::string content;
};

class ChatTemplate {
 public:
  /// Reads `<model_dir>/tokenizer_config.json`'s chat_template. A missing file or template, or one
  /// dsla cannot render, gives a template whose render() throws a dsla::Error that says so.
  static ChatTemplate load(const std::filesystem::path& model_dir);
  /// Recognises `jinja` (the template text); `source` names it in errors.
  static ChatTemplate from_text(const std::string& jinja, const std::string& source);

  bool supported() const { return error_.empty(); }
  /// Why the template cannot be rendered (empty when it can).
  const std::string& error() const { return error_; }
  /// The prompt for `messages` followed by the assistant turn's opening (add_generation_prompt).
  std::string render(const std::vector<ChatMessage>& messages) const;
  /// The text that ends an assistant turn ("<|im_end|>" for ChatML).
  const std::string& end_of_turn() const { return end_of_turn_; }

 private:
  std::string error_;                          ///< why render() refuses; empty when supported
  std::optional<std::string> default_system_;  ///< inserted when the first message is not system
  std::string end_of_turn_;
};

}  // namespace dsla
