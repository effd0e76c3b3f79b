// Implementation of the API's request validation and response shapes.
#include "serve/api.h"

#include <fmt/format.h>

#include <algorithm>
#include <set>

#include "core/error.h"
#include "core/settings.h"

namespace dsla::serve {
namespace {

constexpr int64_t kMaxLogprobs = 20;

[[noreturn]] void refuse(const std::string& message, const std::string& param = "") {
  throw ApiError{400, message, param, ""};
}

nlohmann::json parse_body(const std::string& body) {
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(body);
  } catch (const nlohmann::json::exception& e) {
    refuse(fmt::format("the body is not valid JSON: {}", e.what()));
  }
  if (!j.is_object()) refuse("the body must be a JSON object");
  return j;
}

/// Refuses fields outside `known`, and fields dsla knows but does not implement.
void check_fields(const nlohmann::json& j, const std::set<std::string>& known) {
  static const std::set<std::string> unsupported = {
      "logprobs",        "top_logprobs",     "echo",
      "best_of",         "suffix",           "logit_bias",
      "tools",           "tool_choice",      "functions",
      "response_format", "presence_penalty", "frequency_penalty"};
  for (const auto& [key, value] : j.items()) {
    if (unsupported.count(key) && !known.count(key) && !value.is_null()) {
      refuse(fmt::format("'{}' is not supported by this server", key), key);
    }
    if (!known.count(key) && !unsupported.count(key)) {
      refuse(fmt::format("unknown field '{}'", key), key);
    }
  }
}

template <typename T>
T field(const nlohmann::json& j, const char* key, T fallback) {
  if (!j.contains(key) || j[key].is_null()) return fallback;
  // The settings' rules: an integer field takes integers in range only (1.5 is not 1).
  T value{};
  if (!read_json_value(j[key], value)) {
    refuse(fmt::format("'{}' has the wrong type or is out of range ({})", key, j[key].dump()), key);
  }
  return value;
}

/// The "model" field names the served model (or is absent).
void check_model(const nlohmann::json& j, const ApiLimits& limits) {
  if (!j.contains("model") || j["model"].is_null() || limits.model_name.empty()) return;
  if (!j["model"].is_string()) refuse("'model' must be a string", "model");
  auto name = j["model"].get<std::string>();
  if (name != limits.model_name) throw model_not_found(name, limits.model_name);
}

void check_prompt_bytes(size_t bytes, const ApiLimits& limits) {
  if (limits.max_prompt_bytes > 0 && bytes > limits.max_prompt_bytes) {
    refuse(fmt::format("the prompt text is {} bytes; this server refuses more than {} before "
                       "tokenising (its context cannot hold that many tokens)",
                       bytes, limits.max_prompt_bytes),
           "prompt");
  }
}

/// Sampling, length, stop and stream fields shared by both endpoints.
void parse_common(const nlohmann::json& j, ApiRequest& r, const char* max_tokens_key) {
  RequestParams& p = r.params;
  p.max_tokens = field<int64_t>(j, max_tokens_key, 16);
  if (p.max_tokens < (p.echo ? 0 : 1)) {
    refuse(fmt::format("'{}' must be at least {}", max_tokens_key, p.echo ? "0 (with echo)" : "1"),
           max_tokens_key);
  }
  p.sampling.temperature = field<double>(j, "temperature", 0.0);
  if (p.sampling.temperature < 0 || p.sampling.temperature > 2)
    refuse("'temperature' must be in [0, 2]", "temperature");
  p.sampling.top_p = field<double>(j, "top_p", 1.0);
  if (p.sampling.top_p <= 0 || p.sampling.top_p > 1) refuse("'top_p' must be in (0, 1]", "top_p");
  p.sampling.top_k = field<int64_t>(j, "top_k", 0);
  if (p.sampling.top_k < 0) refuse("'top_k' must be >= 0", "top_k");
  p.sampling.seed = field<uint64_t>(j, "seed", 0);
  if (field<int64_t>(j, "n", 1) != 1) refuse("only n = 1 is supported", "n");
  if (j.contains("stop") && !j["stop"].is_null()) {
    if (j["stop"].is_string()) {
      p.stop.push_back(j["stop"].get<std::string>());
    } else if (j["stop"].is_array() && j["stop"].size() <= 4) {
      for (const auto& s : j["stop"]) {
        if (!s.is_string()) refuse("'stop' must be a string or up to 4 strings", "stop");
        p.stop.push_back(s.get<std::string>());
      }
    } else {
      refuse("'stop' must be a string or up to 4 strings", "stop");
    }
  }
  r.stream = field<bool>(j, "stream", false);
  if (j.contains("stream_options") && !j["stream_options"].is_null()) {
    const auto& o = j["stream_options"];
    if (!o.is_object()) refuse("'stream_options' must be an object", "stream_options");
    for (const auto& [key, value] : o.items()) {
      if (key != "include_usage")
        refuse(fmt::format("unknown field 'stream_options.{}'", key), "stream_options");
    }
    r.include_usage = field<bool>(o, "include_usage", false);
  }
}

/// The one prompt of a /v1/completions body: a string or a list of ids, or a list holding one of
/// those (lm-evaluation-harness sends its batch that way).
const nlohmann::json& single_prompt(const nlohmann::json& j) {
  if (!j.contains("prompt")) refuse("'prompt' is required", "prompt");
  const auto& prompt = j["prompt"];
  if (!prompt.is_array() || prompt.empty() || !(prompt[0].is_string() || prompt[0].is_array())) {
    return prompt;
  }
  if (prompt.size() > 1) {
    refuse(fmt::format("'prompt' holds {} prompts; this server takes one per request (send them "
                       "separately; lm-evaluation-harness: --batch_size 1)",
                       prompt.size()),
           "prompt");
  }
  return prompt[0];
}

/// A chat message's content: a string, or a list of text parts joined by newlines.
std::string message_content(const nlohmann::json& content) {
  if (content.is_string()) return content.get<std::string>();
  if (!content.is_array())
    refuse("a message's 'content' must be a string or a list of parts", "messages");
  std::string text;
  for (const auto& part : content) {
    if (!part.is_object() || !part.contains("type") || !part["type"].is_string()) {
      refuse("each content part needs a string 'type'", "messages");
    }
    auto type = part["type"].get<std::string>();
    if (type != "text")
      refuse(fmt::format("content parts of type '{}' are not supported (text only)", type),
             "messages");
    if (!part.contains("text") || !part["text"].is_string())
      refuse("a text part needs a string 'text'", "messages");
    if (!text.empty()) text += "\n";
    text += part["text"].get<std::string>();
  }
  return text;
}

}  // namespace

ApiRequest parse_completion(const std::string& body, const Tokenizer& tokenizer,
                            const ApiLimits& limits) {
  nlohmann::json j = parse_body(body);
  check_fields(j, {"model", "prompt", "max_tokens", "temperature", "top_p", "top_k", "seed", "n",
                   "stop", "stream", "user", "stream_options", "logprobs", "echo"});
  check_model(j, limits);
  ApiRequest r;
  const auto& prompt = single_prompt(j);
  if (prompt.is_string()) {
    check_prompt_bytes(prompt.get_ref<const std::string&>().size(), limits);
    r.prompt_text = prompt.get<std::string>();
    r.params.prompt = tokenizer.encode(r.prompt_text, /*add_bos=*/true);
  } else if (prompt.is_array() && !prompt.empty() && prompt[0].is_number_integer()) {
    for (const auto& id : prompt) {
      if (!id.is_number_integer()) refuse("'prompt' token ids must be integers", "prompt");
      r.params.prompt.push_back(id.get<int64_t>());
    }
  } else {
    refuse("'prompt' must be a string or a list of token ids (one prompt per request)", "prompt");
  }
  if (r.params.prompt.empty()) refuse("'prompt' is empty", "prompt");
  r.params.echo = field<bool>(j, "echo", false);
  r.params.logprobs = field<int64_t>(j, "logprobs", -1);
  if (j.contains("logprobs") && !j["logprobs"].is_null() &&
      (r.params.logprobs < 0 || r.params.logprobs > kMaxLogprobs)) {
    refuse(fmt::format("'logprobs' must be in [0, {}]", kMaxLogprobs), "logprobs");
  }
  parse_common(j, r, "max_tokens");
  if (r.stream && r.params.logprobs >= 0)
    refuse("'logprobs' is not supported with 'stream'", "logprobs");
  if (auto eos = tokenizer.eos_id()) r.params.stop_ids.push_back(*eos);
  return r;
}

ApiRequest parse_chat(const std::string& body, const Tokenizer& tokenizer, const ChatTemplate& chat,
                      const ApiLimits& limits) {
  nlohmann::json j = parse_body(body);
  check_fields(j, {"model", "messages", "max_tokens", "max_completion_tokens", "temperature",
                   "top_p", "top_k", "seed", "n", "stop", "stream", "user", "stream_options"});
  check_model(j, limits);
  if (!chat.supported()) refuse(chat.error());
  ApiRequest r;
  r.chat = true;
  if (!j.contains("messages") || !j["messages"].is_array() || j["messages"].empty()) {
    refuse("'messages' must be a non-empty list", "messages");
  }
  std::vector<ChatMessage> messages;
  for (const auto& m : j["messages"]) {
    if (!m.is_object() || !m.contains("role") || !m["role"].is_string() || !m.contains("content")) {
      refuse("each message needs a string 'role' and a 'content'", "messages");
    }
    std::string role = m["role"].get<std::string>();
    if (role == "developer") role = "system";  // OpenAI's newer name for the system message
    if (role != "system" && role != "user" && role != "assistant") {
      refuse(fmt::format("unknown message role '{}'", role), "messages");
    }
    messages.push_back({role, message_content(m["content"])});
  }
  size_t content_bytes = 0;
  for (const auto& m : messages) content_bytes += m.content.size();
  check_prompt_bytes(content_bytes, limits);
  r.params.prompt = tokenizer.encode(chat.render(messages), /*add_bos=*/true);
  parse_common(j, r, j.contains("max_completion_tokens") ? "max_completion_tokens" : "max_tokens");
  if (auto end = tokenizer.token_id(chat.end_of_turn())) r.params.stop_ids.push_back(*end);
  if (auto eos = tokenizer.eos_id()) r.params.stop_ids.push_back(*eos);
  return r;
}

size_t prompt_byte_limit(const Tokenizer& tokenizer, int64_t max_context) {
  size_t longest = 0;
  for (int64_t id = 0; id < tokenizer.vocab_size(); ++id) {
    try {
      longest = std::max(longest, tokenizer.decode({id}, /*skip_special=*/false).size());
    } catch (const std::exception&) {
      // an id the tokenizer cannot decode alone (e.g. a gap) covers no text
    }
  }
  return static_cast<size_t>(max_context) * (longest + 1);
}

namespace {

nlohmann::json usage_json(const RequestState& r) {
  auto prompt = static_cast<int64_t>(r.params().prompt.size());
  auto completion = static_cast<int64_t>(r.output().size());
  return {{"prompt_tokens", prompt},
          {"completion_tokens", completion},
          {"total_tokens", prompt + completion}};
}

/// OpenAI's completion "logprobs" object: every token (the prompt's too with echo) with its text,
/// its log-probability (null for the prompt's first token, which nothing predicts), its most likely
/// alternatives and its offset in the returned text.
nlohmann::json logprobs_json(const ApiRequest& api, const RequestState& r,
                             const Tokenizer& tokenizer) {
  nlohmann::json tokens = nlohmann::json::array(), values = nlohmann::json::array();
  nlohmann::json top = nlohmann::json::array(), offsets = nlohmann::json::array();
  size_t offset = 0;
  auto piece = [&](int64_t id) { return tokenizer.decode({id}, /*skip_special=*/false); };
  auto add = [&](int64_t token, const TokenLogprob* lp) {
    std::string text = piece(token);
    tokens.push_back(text);
    offsets.push_back(offset);
    offset += text.size();
    values.push_back(lp ? nlohmann::json(lp->logprob) : nlohmann::json());
    if (!lp) return top.push_back(nullptr);
    nlohmann::json alternatives = nlohmann::json::object();
    // Keyed by text: of two ids with the same text, the likelier (listed first) stays.
    for (const auto& [id, value] : lp->top) alternatives.emplace(piece(id), value);
    top.push_back(std::move(alternatives));
  };
  if (api.params.echo) {
    const auto& prompt = r.params().prompt;
    const auto& scored = r.prompt_logprobs();  // tokens 1.. of the prompt
    for (size_t i = 0; i < prompt.size(); ++i) {
      add(prompt[i], i >= 1 && i - 1 < scored.size() ? &scored[i - 1] : nullptr);
    }
  }
  const auto& output = r.output();
  const auto& scored = r.output_logprobs();
  for (size_t i = 0; i < output.size(); ++i)
    add(output[i], i < scored.size() ? &scored[i] : nullptr);
  return {{"tokens", tokens},
          {"token_logprobs", values},
          {"top_logprobs", top},
          {"text_offset", offsets}};
}

}  // namespace

nlohmann::json final_response(const ApiRequest& api, const RequestState& r,
                              const std::string& model_name, const std::string& id, int64_t created,
                              const Tokenizer& tokenizer) {
  nlohmann::json choice = {{"index", 0}, {"finish_reason", r.finish_reason()}};
  if (api.chat) {
    choice["message"] = {{"role", "assistant"}, {"content", r.text()}};
  } else {
    std::string echoed;
    if (api.params.echo) {
      echoed = api.prompt_text.empty() ? tokenizer.decode(r.params().prompt) : api.prompt_text;
    }
    choice["text"] = echoed + r.text();
    choice["logprobs"] =
        api.params.logprobs >= 0 ? logprobs_json(api, r, tokenizer) : nlohmann::json();
  }
  return {{"id", id},
          {"object", api.chat ? "chat.completion" : "text_completion"},
          {"created", created},
          {"model", model_name},
          {"choices", {choice}},
          {"usage", usage_json(r)},
          {"dsla", {{"depth", r.depth}}}};
}

nlohmann::json usage_chunk(const ApiRequest& api, const RequestState& r,
                           const std::string& model_name, const std::string& id, int64_t created) {
  return {{"id", id},
          {"object", api.chat ? "chat.completion.chunk" : "text_completion"},
          {"created", created},
          {"model", model_name},
          {"choices", nlohmann::json::array()},
          {"usage", usage_json(r)}};
}

nlohmann::json stream_chunk(const ApiRequest& api, const std::string& text,
                            const std::string& finish_reason, bool first,
                            const std::string& model_name, const std::string& id, int64_t created) {
  nlohmann::json choice = {{"index", 0}};
  choice["finish_reason"] =
      finish_reason.empty() ? nlohmann::json() : nlohmann::json(finish_reason);
  if (api.chat) {
    choice["delta"] = nlohmann::json::object();
    if (first) choice["delta"]["role"] = "assistant";
    if (!text.empty()) choice["delta"]["content"] = text;
  } else {
    choice["text"] = text;
    choice["logprobs"] = nullptr;
  }
  nlohmann::json chunk = {{"id", id},
                          {"object", api.chat ? "chat.completion.chunk" : "text_completion"},
                          {"created", created},
                          {"model", model_name},
                          {"choices", {choice}}};
  if (api.include_usage) chunk["usage"] = nullptr;  // OpenAI's layout: only the last chunk has it
  return chunk;
}

ApiError model_not_found(const std::string& name, const std::string& served) {
  return {404, fmt::format("The model '{}' does not exist; this server serves '{}'", name, served),
          "model", "model_not_found"};
}

std::string error_body(const ApiError& e) {
  const char* type = e.status == 400 || !e.code.empty() ? "invalid_request_error"
                     : e.status == 503                  ? "unavailable"
                     : e.status == 404                  ? "not_found"
                                                        : "server_error";
  return json_text({{"error",
                     {{"message", e.message},
                      {"type", type},
                      {"param", e.param.empty() ? nlohmann::json() : nlohmann::json(e.param)},
                      {"code", e.code.empty() ? nlohmann::json() : nlohmann::json(e.code)}}}});
}

}  // namespace dsla::serve
