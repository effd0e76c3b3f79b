// The OpenAI API surface that clients and lm-evaluation-harness rely on, over loopback: prompt
// log-probabilities (echo, max_tokens 0) against HF transformers' logits for stories260K,
// generated-token logprobs, /v1/models, the usage chunk of stream_options.include_usage, and the
// refusals around them (chat content parts and roles: test_api.cpp).
#include <cmath>
#include <fstream>

#include "server_fixture.h"

using dsla::testing::ServerFixture;
using dsla::testing::sse_payloads;
using json = nlohmann::json;

namespace {

/// HF transformers' fp32 logits [T, V] for a stories260K prompt (tools/gen_hf_fixtures.py).
struct HfLogits {
  std::vector<int64_t> ids;
  int64_t vocab = 0;
  std::vector<float> values;
  /// log_softmax(logits[row])[id], in double.
  double logprob(int64_t row, int64_t id) const {
    const float* r = values.data() + row * vocab;
    double m = *std::max_element(r, r + vocab), z = 0;
    for (int64_t v = 0; v < vocab; ++v) z += std::exp(r[v] - m);
    return r[id] - m - std::log(z);
  }
};

HfLogits hf_logits(const std::string& name) {
  auto meta =
      json::parse(dsla::testing::read_file(dsla::testing::fixtures_dir() / (name + ".json")));
  HfLogits out{meta["ids"].get<std::vector<int64_t>>(), meta["vocab_size"].get<int64_t>(), {}};
  out.values.resize(out.ids.size() * static_cast<size_t>(out.vocab));
  std::ifstream f(dsla::testing::fixtures_dir() / (name + ".f32"), std::ios::binary);
  f.read(reinterpret_cast<char*>(out.values.data()),
         static_cast<std::streamsize>(out.values.size() * sizeof(float)));
  EXPECT_TRUE(f.good());
  return out;
}

}  // namespace

TEST_F(ServerFixture, EchoedPromptLogprobsMatchHfTransformers) {
  const HfLogits hf = hf_logits("hf_stories260k_logits_lily");
  int status = 0;
  // lm-evaluation-harness's request: token ids in a list of one, max_tokens 0, logprobs 1, echo.
  json r = post("/v1/completions",
                {{"prompt", {hf.ids}},
                 {"max_tokens", 0},
                 {"logprobs", 1},
                 {"echo", true},
                 {"temperature", 0}},
                &status);
  ASSERT_EQ(status, 200) << r.dump();
  const json& lp = r["choices"][0]["logprobs"];
  ASSERT_EQ(lp["token_logprobs"].size(), hf.ids.size()) << lp.dump();
  EXPECT_TRUE(lp["token_logprobs"][0].is_null());
  EXPECT_TRUE(lp["top_logprobs"][0].is_null());
  EXPECT_EQ(r["choices"][0]["finish_reason"], "length");
  EXPECT_EQ(r["usage"]["completion_tokens"], 0);
  for (size_t t = 1; t < hf.ids.size(); ++t) {
    double want = hf.logprob(static_cast<int64_t>(t) - 1, hf.ids[t]);
    EXPECT_NEAR(lp["token_logprobs"][t].get<double>(), want, 1e-4) << "position " << t;
    // One alternative: the most likely token, whose value is the row's maximum.
    ASSERT_EQ(lp["top_logprobs"][t].size(), 1u);
    double best = -1e30;
    for (int64_t v = 0; v < hf.vocab; ++v)
      best = std::max(best, hf.logprob(static_cast<int64_t>(t) - 1, v));
    EXPECT_NEAR(lp["top_logprobs"][t].begin().value().get<double>(), best, 1e-4);
  }
  // The prompt is a greedy continuation of itself from "Once" on (HF's argmax), so lm-eval's
  // is_greedy test (token logprob == best alternative) holds exactly at those positions.
  EXPECT_EQ(lp["token_logprobs"][2].get<double>(),
            lp["top_logprobs"][2].begin().value().get<double>());
  // Text prompts are echoed as sent.
  json text =
      post("/v1/completions", {{"prompt", "Once upon a time"}, {"max_tokens", 0}, {"echo", true}});
  EXPECT_EQ(text["choices"][0]["text"], "Once upon a time") << text.dump();
}

TEST_F(ServerFixture, GeneratedTokensCarryTheirLogprobs) {
  int status = 0;
  json r = post("/v1/completions",
                {{"prompt", "Once upon a time"}, {"max_tokens", 4}, {"logprobs", 2}}, &status);
  ASSERT_EQ(status, 200) << r.dump();
  const json& lp = r["choices"][0]["logprobs"];
  ASSERT_EQ(lp["tokens"].size(), r["usage"]["completion_tokens"].get<size_t>());
  std::string joined;
  for (size_t i = 0; i < lp["tokens"].size(); ++i) {
    joined += lp["tokens"][i].get<std::string>();
    ASSERT_EQ(lp["top_logprobs"][i].size(), 2u);
    // Greedy: the chosen token is the best alternative (lm-eval's is_greedy test).
    double best = -1e30;
    for (const auto& [text, value] : lp["top_logprobs"][i].items())
      best = std::max(best, value.get<double>());
    EXPECT_EQ(lp["token_logprobs"][i].get<double>(), best);
    EXPECT_LE(lp["token_logprobs"][i].get<double>(), 0.0);
    EXPECT_EQ(lp["text_offset"][i].get<size_t>(),
              joined.size() - lp["tokens"][i].get<std::string>().size());
  }
}

TEST_F(ServerFixture, ModelsAreListedTheOpenAiWay) {
  auto c = client();
  auto list = c.Get("/v1/models");
  ASSERT_TRUE(list);
  json j = json::parse(list->body);
  EXPECT_EQ(j["object"], "list");
  ASSERT_EQ(j["data"].size(), 1u);
  const std::string name = engine->model().name();
  EXPECT_EQ(j["data"][0]["id"], name);
  EXPECT_EQ(j["data"][0]["object"], "model");
  auto one = c.Get(("/v1/models/" + name).c_str());
  ASSERT_TRUE(one);
  EXPECT_EQ(one->status, 200);
  EXPECT_EQ(json::parse(one->body)["id"], name);
  auto missing = c.Get("/v1/models/gpt-4o");
  ASSERT_TRUE(missing);
  EXPECT_EQ(missing->status, 404);
  EXPECT_EQ(json::parse(missing->body)["error"]["code"], "model_not_found");
}

TEST_F(ServerFixture, StreamWithIncludeUsageEndsWithTheUsageChunk) {
  json body = {{"prompt", "Once upon a time"},
               {"max_tokens", 5},
               {"stream", true},
               {"stream_options", {{"include_usage", true}}}};
  auto res = client().Post("/v1/completions", body.dump(), "application/json");
  ASSERT_TRUE(res);
  auto events = sse_payloads(res->body);
  ASSERT_GE(events.size(), 3u);
  EXPECT_EQ(events.back(), "[DONE]");
  json usage = json::parse(events[events.size() - 2]);
  EXPECT_TRUE(usage["choices"].empty()) << usage.dump();
  EXPECT_EQ(usage["usage"]["completion_tokens"], 5);
  EXPECT_TRUE(json::parse(events[0]).contains("usage"));  // null on the other chunks
  EXPECT_TRUE(json::parse(events[0])["usage"].is_null());
}

TEST_F(ServerFixture, RequestsTheApiRefusesInsteadOfIgnoring) {
  auto refused = [&](const json& body, const std::string& path = "/v1/completions") {
    int status = 0;
    json r = post(path, body, &status);
    EXPECT_EQ(status, 400) << body.dump() << " -> " << r.dump();
    return r["error"]["param"];
  };
  EXPECT_EQ(refused({{"prompt", "a"}, {"logprobs", 21}}), "logprobs");
  EXPECT_EQ(refused({{"prompt", "a"}, {"logprobs", 1}, {"stream", true}}), "logprobs");
  EXPECT_EQ(refused({{"prompt", "a"}, {"max_tokens", 0}}), "max_tokens");
  EXPECT_EQ(refused({{"prompt", {"a", "b"}}}), "prompt");
  EXPECT_EQ(refused({{"prompt", "a"}, {"presence_penalty", 0.5}}), "presence_penalty");
  EXPECT_EQ(refused({{"prompt", "a"}, {"n", 2}}), "n");
  EXPECT_EQ(refused({{"prompt", "a"}, {"stream_options", {{"include_costs", true}}}}),
            "stream_options");
}
