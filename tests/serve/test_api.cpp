// Tests of the HTTP API's JSON: request validation (every refusal is a 400 naming the field),
// response shapes, and the ChatML renderer against HF transformers' apply_chat_template.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "serve/api.h"
#include "support/test_paths.h"

using namespace dsla;
using namespace dsla::serve;

namespace {

const Tokenizer& tokenizer() {
  static auto t = load_tokenizer(dsla::testing::stories260k_dir());
  return *t;
}

ApiError refusal(const std::string& body) {
  try {
    parse_completion(body, tokenizer());
  } catch (const ApiError& e) {
    return e;
  }
  ADD_FAILURE() << "accepted: " << body;
  return {};
}

}  // namespace

TEST(Api, ParsesACompletionRequest) {
  ApiRequest r = parse_completion(
      R"({"model": "x", "prompt": "Once upon a time", "max_tokens": 7, "temperature": 0.5,
          "top_p": 0.9, "stop": ["\n", "The end"], "stream": true, "seed": 3})",
      tokenizer());
  EXPECT_EQ(r.params.prompt, tokenizer().encode("Once upon a time", true));
  EXPECT_EQ(r.params.max_tokens, 7);
  EXPECT_DOUBLE_EQ(r.params.sampling.temperature, 0.5);
  EXPECT_EQ(r.params.stop, (std::vector<std::string>{"\n", "The end"}));
  EXPECT_TRUE(r.stream);
  EXPECT_EQ(r.params.stop_ids, std::vector<int64_t>{*tokenizer().eos_id()});
  ApiRequest ids = parse_completion(R"({"prompt": [1, 5, 9]})", tokenizer());
  EXPECT_EQ(ids.params.prompt, (std::vector<int64_t>{1, 5, 9}));
  EXPECT_EQ(ids.params.max_tokens, 16);
}

TEST(Api, RefusesBadRequestsNamingTheField) {
  EXPECT_EQ(refusal("{not json").status, 400);
  EXPECT_EQ(refusal("[1, 2]").status, 400);
  EXPECT_EQ(refusal(R"({"max_tokens": 3})").param, "prompt");
  EXPECT_EQ(refusal(R"({"prompt": "a", "temprature": 1})").param, "temprature");
  EXPECT_EQ(refusal(R"({"prompt": "a", "logprobs": 21})").param, "logprobs");
  EXPECT_EQ(refusal(R"({"prompt": "a", "logprobs": 1, "stream": true})").param, "logprobs");
  EXPECT_EQ(refusal(R"({"prompt": "a", "echo": 1})").param, "echo");
  EXPECT_EQ(refusal(R"({"prompt": "a", "frequency_penalty": 1})").param, "frequency_penalty");
  EXPECT_EQ(refusal(R"({"prompt": "a", "max_tokens": 0})").param, "max_tokens");
  EXPECT_EQ(refusal(R"({"prompt": "a", "max_tokens": "ten"})").param, "max_tokens");
  EXPECT_EQ(refusal(R"({"prompt": "a", "max_tokens": 1.5})").param, "max_tokens");
  EXPECT_EQ(refusal(R"({"prompt": "a", "seed": -1})").param, "seed");
  EXPECT_EQ(refusal(R"({"prompt": "a", "top_k": 18446744073709551615})").param, "top_k");
  EXPECT_EQ(refusal(R"({"prompt": "a", "temperature": 3})").param, "temperature");
  EXPECT_EQ(refusal(R"({"prompt": "a", "top_p": 0})").param, "top_p");
  EXPECT_EQ(refusal(R"({"prompt": "a", "n": 2})").param, "n");
  EXPECT_EQ(refusal(R"({"prompt": "a", "stop": [1]})").param, "stop");
  EXPECT_EQ(refusal(R"({"prompt": ["a", "b"]})").param, "prompt");
  auto body = nlohmann::json::parse(error_body(refusal(R"({"prompt": "a", "n": 2})")));
  EXPECT_EQ(body["error"]["type"], "invalid_request_error");
  EXPECT_EQ(body["error"]["param"], "n");
}

TEST(ChatTemplate, ChatMLMatchesTransformers) {
  auto fixture = nlohmann::json::parse(
      dsla::testing::read_file(dsla::testing::fixtures_dir() / "chat_template_smollm2.json"));
  ChatTemplate t = ChatTemplate::from_text(fixture["chat_template"], "fixture");
  ASSERT_TRUE(t.supported()) << t.error();
  EXPECT_EQ(t.end_of_turn(), "<|im_end|>");
  for (const auto& c : fixture["cases"]) {
    std::vector<ChatMessage> messages;
    for (const auto& m : c["messages"]) messages.push_back({m["role"], m["content"]});
    EXPECT_EQ(t.render(messages), c["expected"].get<std::string>());
  }
}

TEST(Api, ChatTakesContentPartsAndTheDeveloperRole) {
  auto fixture = nlohmann::json::parse(
      dsla::testing::read_file(dsla::testing::fixtures_dir() / "chat_template_smollm2.json"));
  ChatTemplate t = ChatTemplate::from_text(fixture["chat_template"], "fixture");
  ApiRequest parts = parse_chat(
      R"({"messages": [{"role": "developer", "content": "Be brief."},
                       {"role": "user", "content": [{"type": "text", "text": "Hi"},
                                                    {"type": "text", "text": "there"}]}]})",
      tokenizer(), t);
  ApiRequest plain = parse_chat(
      R"({"messages": [{"role": "system", "content": "Be brief."},
                       {"role": "user", "content": "Hi\nthere"}]})",
      tokenizer(), t);
  EXPECT_EQ(parts.params.prompt, plain.params.prompt);
  auto chat_refusal = [&](const std::string& body) {
    try {
      parse_chat(body, tokenizer(), t);
    } catch (const ApiError& e) {
      return e.param;
    }
    ADD_FAILURE() << "accepted: " << body;
    return std::string();
  };
  EXPECT_EQ(chat_refusal(R"({"messages": [{"role": "user", "content": [{"type": "image_url"}]}]})"),
            "messages");
  EXPECT_EQ(chat_refusal(R"({"messages": [{"role": "user", "content": 5}]})"), "messages");
  EXPECT_EQ(chat_refusal(R"({"messages": [{"role": "tool", "content": "x"}]})"), "messages");
  EXPECT_EQ(chat_refusal(R"({"messages": [{"role": "user", "content": "x"}], "logprobs": true})"),
            "logprobs");
}

TEST(ChatTemplate, RefusesTemplatesItCannotRender) {
  ChatTemplate llama2 = ChatTemplate::from_text("{{ bos_token }}[INST] {{ m }} [/INST]", "x");
  EXPECT_FALSE(llama2.supported());
  EXPECT_THROW(llama2.render({{"user", "hi"}}), dsla::Error);
  ChatTemplate none = ChatTemplate::load(dsla::testing::stories260k_dir());  // has no template
  EXPECT_FALSE(none.supported());
  try {
    parse_chat(R"({"messages": [{"role": "user", "content": "hi"}]})", tokenizer(), none);
    ADD_FAILURE() << "a chat request was accepted without a template";
  } catch (const ApiError& e) {
    EXPECT_EQ(e.status, 400);
    EXPECT_NE(e.message.find("/v1/completions"), std::string::npos) << e.message;
  }
}

TEST(Api, InvalidUtf8FromTheModelBecomesReplacementCharacters) {
  // A byte-level model can emit a lone continuation byte; the JSON must still be written.
  ApiRequest api;
  nlohmann::json chunk = stream_chunk(api, "\xBA ok \xE2\x82", "", true, "m", "id", 0);
  std::string text;
  ASSERT_NO_THROW(text = json_text(chunk));
  EXPECT_EQ(nlohmann::json::parse(text)["choices"][0]["text"], "\xEF\xBF\xBD ok \xEF\xBF\xBD");
  EXPECT_NO_THROW(error_body({400, "unknown field '\xFF'", "\xFF", ""}));
}
