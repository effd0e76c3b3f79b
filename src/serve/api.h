// The OpenAI-style HTTP API's JSON: parsing and validating /v1/completions and
// /v1/chat/completions bodies into engine requests, and building responses, stream chunks and
// errors.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "io/json_file.h"
#include "serve/request.h"
#include "tokenizer/chat_template.h"
#include "tokenizer/tokenizer.h"

namespace dsla::serve {

/// A request the API refuses: HTTP status, message, and the offending field (if one).
struct ApiError {
  int status = 400;
  std::string message;
  std::string param;
  std::string code;  ///< OpenAI's error code ("model_not_found"), or empty
};

/// What a request is checked against besides its own fields.
struct ApiLimits {
  std::string model_name;       ///< the served model; "" accepts any "model"
  size_t max_prompt_bytes = 0;  ///< longer prompt text is refused before tokenising; 0 = no limit
};

/// The prompt text, in bytes, that can still fit `max_context` tokens: no token of `tokenizer`
/// covers more than its longest token's bytes (+1 for a leading space a decoder drops), so longer
/// text is certain to be too long and is refused without tokenising it.
size_t prompt_byte_limit(const Tokenizer& tokenizer, int64_t max_context);

struct ApiRequest {
  RequestParams params;
  bool stream = false;
  bool chat = false;
  bool include_usage = false;  ///< stream_options.include_usage: a last chunk with the usage
  std::string prompt_text;     ///< the prompt as sent (a string prompt), for echo
};

/// Parses a /v1/completions body (prompt as a string or a list of token ids, or a list of one of
/// those; `logprobs` 0-20 and `echo`, with max_tokens 0 to score the prompt only). Throws ApiError
/// for malformed JSON, unknown or unsupported fields, values out of range, a prompt over the byte
/// limit (400) and a model other than the served one (404, "model_not_found").
ApiRequest parse_completion(const std::string& body, const Tokenizer& tokenizer,
                            const ApiLimits& limits = {});
/// Parses a /v1/chat/completions body; the prompt is `chat`'s rendering of the messages (content as
/// a string or a list of text parts; the developer role is the system role) and the turn ends at
/// its end-of-turn token.
ApiRequest parse_chat(const std::string& body, const Tokenizer& tokenizer, const ChatTemplate& chat,
                      const ApiLimits& limits = {});

/// The non-streamed response for a finished request; `tokenizer` gives the tokens' text of its
/// logprobs.
nlohmann::json final_response(const ApiRequest& api, const RequestState& r,
                              const std::string& model_name, const std::string& id, int64_t created,
                              const Tokenizer& tokenizer);
/// The last chunk of a stream with stream_options.include_usage: no choices, the token counts.
nlohmann::json usage_chunk(const ApiRequest& api, const RequestState& r,
                           const std::string& model_name, const std::string& id, int64_t created);
/// One server-sent-events chunk: new `text`, and the finish reason on the last one.
nlohmann::json stream_chunk(const ApiRequest& api, const std::string& text,
                            const std::string& finish_reason, bool first,
                            const std::string& model_name, const std::string& id, int64_t created);
/// `j` as compact JSON text; invalid UTF-8 (a model can emit part of a character, a client can send
/// any bytes) becomes U+FFFD instead of an exception.
using io::json_text;

/// OpenAI's 404 for a model name other than the served one (a request's "model", /v1/models/{id}).
ApiError model_not_found(const std::string& name, const std::string& served);

/// {"error": {"message", "type", "param", "code"}} (OpenAI's layout).
std::string error_body(const ApiError& e);

}  // namespace dsla::serve
