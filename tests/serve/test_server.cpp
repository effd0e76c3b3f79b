// Server tests over loopback: concurrent clients get what the engine alone gives, streaming sends
// the same text as SSE chunks, bad requests get 4xx JSON errors while the server keeps serving, a
// client that disconnects mid-stream frees its slot, /health and /metrics answer, and shutdown
// ends open streams.
#include <gtest/gtest.h>
#include <httplib.h>

#include <future>
#include <nlohmann/json.hpp>
#include <thread>

#include "serve/server_fixture.h"

using namespace dsla;
using dsla::testing::ServerFixture;
using dsla::testing::sse_payloads;
using nlohmann::json;

namespace {

json completion(const std::string& prompt, int max_tokens) {
  return {{"prompt", prompt}, {"max_tokens", max_tokens}};
}

}  // namespace

TEST_F(ServerFixture, ConcurrentClientsGetTheirOwnCompletions) {
  std::vector<std::string> prompts = {"Once upon a time", "The dog", "Lily and Ben went to the",
                                      "One day, a little"};
  // Alone, one after the other.
  std::vector<std::string> alone;
  for (const auto& p : prompts) {
    int status = 0;
    json r = post("/v1/completions", completion(p, 24), &status);
    ASSERT_EQ(status, 200) << r.dump();
    alone.push_back(r["choices"][0]["text"]);
    EXPECT_EQ(r["usage"]["completion_tokens"].get<int>() <= 24, true);
    EXPECT_EQ(r["object"], "text_completion");
  }
  // Together.
  std::vector<std::future<json>> together;
  for (const auto& p : prompts) {
    together.push_back(std::async(std::launch::async,
                                  [&, p] { return post("/v1/completions", completion(p, 24)); }));
  }
  for (size_t i = 0; i < prompts.size(); ++i) {
    EXPECT_EQ(together[i].get()["choices"][0]["text"], alone[i]) << prompts[i];
  }
}

TEST_F(ServerFixture, StreamingSendsTheSameTextAsChunks) {
  json whole = post("/v1/completions", completion("Once upon a time", 30));
  std::string body;
  auto res = client().Post(
      "/v1/completions",
      json{{"prompt", "Once upon a time"}, {"max_tokens", 30}, {"stream", true}}.dump(),
      "application/json");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->get_header_value("Content-Type"), "text/event-stream");
  auto events = sse_payloads(res->body);
  ASSERT_GE(events.size(), 3u);
  EXPECT_EQ(events.back(), "[DONE]");
  std::string text, reason;
  for (size_t i = 0; i + 1 < events.size(); ++i) {
    json chunk = json::parse(events[i]);
    text += chunk["choices"][0]["text"].get<std::string>();
    if (!chunk["choices"][0]["finish_reason"].is_null())
      reason = chunk["choices"][0]["finish_reason"];
  }
  EXPECT_EQ(text, whole["choices"][0]["text"]);
  EXPECT_EQ(reason, whole["choices"][0]["finish_reason"]);
}

TEST_F(ServerFixture, BadRequestsGetJsonErrorsAndTheServerKeepsServing) {
  auto c = client();
  auto bad = c.Post("/v1/completions", "{oops", "application/json");
  ASSERT_TRUE(bad);
  EXPECT_EQ(bad->status, 400);
  EXPECT_EQ(json::parse(bad->body)["error"]["type"], "invalid_request_error");
  int status = 0;
  json r = post("/v1/completions", {{"prompt", "a"}, {"colour", "red"}}, &status);
  EXPECT_EQ(status, 400);
  EXPECT_EQ(r["error"]["param"], "colour");
  r = post("/v1/completions", {{"prompt", std::vector<int64_t>(300, 5)}, {"max_tokens", 4}},
           &status);  // > 256 tokens
  EXPECT_EQ(status, 400);
  EXPECT_NE(r["error"]["message"].get<std::string>().find("at most"), std::string::npos);
  r = post("/v1/completions", completion("a", 1000), &status);
  EXPECT_EQ(status, 400);
  r = post("/v1/chat/completions", {{"messages", {{{"role", "user"}, {"content", "hi"}}}}},
           &status);
  EXPECT_EQ(status, 400);  // stories260K has no chat template
  auto missing = c.Get("/v2/nothing");
  ASSERT_TRUE(missing);
  EXPECT_EQ(missing->status, 404);
  EXPECT_TRUE(json::parse(missing->body).contains("error"));
  r = post("/v1/completions", completion("Once", 4), &status);
  EXPECT_EQ(status, 200) << r.dump();
}

TEST_F(ServerFixture, ClientThatDisconnectsMidStreamFreesItsSlot) {
  auto c = client();
  int chunks = 0;
  httplib::Request req;
  req.method = "POST";
  req.path = "/v1/completions";
  req.body = json{{"prompt", "Once upon a time"}, {"max_tokens", 200}, {"stream", true}}.dump();
  req.set_header("Content-Type", "application/json");
  req.content_receiver = [&](const char*, size_t, uint64_t, uint64_t) { return ++chunks < 3; };
  httplib::Response res;
  httplib::Error error = httplib::Error::Success;
  c.send(req, res, error);
  EXPECT_GE(chunks, 3);  // the client stopped reading after 3 chunks
  for (int i = 0; i < 100 && engine->stats().running + engine->stats().prefilling > 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  auto s = engine->stats();
  EXPECT_EQ(s.running, 0);
  EXPECT_EQ(s.finished_total["cancelled"], 1);
  EXPECT_LT(s.generated_tokens_total, 200);
}

TEST_F(ServerFixture, HealthAndMetrics) {
  post("/v1/completions", completion("Once", 5));
  auto c = client();
  auto health = c.Get("/health");
  ASSERT_TRUE(health);
  EXPECT_EQ(health->status, 200);
  EXPECT_EQ(json::parse(health->body)["status"], "ok");
  // The engine records a request's end just after the client has its answer: poll briefly.
  const std::vector<std::string> names = {"dsla_queue_requests",
                                          "dsla_depth",
                                          "dsla_generation_tokens_total 5",
                                          "dsla_time_to_first_token_seconds{quantile=\"0.99\"}",
                                          "dsla_cache_bytes",
                                          "dsla_requests_finished_total{reason=\"length\"} 1"};
  std::string body;
  for (int attempt = 0; attempt < 100; ++attempt) {
    auto metrics = c.Get("/metrics");
    ASSERT_TRUE(metrics);
    body = metrics->body;
    bool all = true;
    for (const auto& name : names) all = all && body.find(name) != std::string::npos;
    if (all) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  for (const auto& name : names) {
    EXPECT_NE(body.find(name), std::string::npos) << name << "\n" << body;
  }
}

TEST_F(ServerFixture, ShutdownEndsOpenStreamsAndRefusesNewRequests) {
  std::string body;
  auto stream = std::async(std::launch::async, [&] {
    auto res = client().Post(
        "/v1/completions",
        json{{"prompt", "Once upon a time"}, {"max_tokens", 220}, {"stream", true}}.dump(),
        "application/json");
    return res ? res->body : std::string();
  });
  for (int i = 0; i < 200 && engine->stats().running == 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  engine->shutdown(std::chrono::milliseconds(0));
  auto events = sse_payloads(stream.get());
  ASSERT_GE(events.size(), 2u);
  EXPECT_EQ(events.back(), "[DONE]");
  EXPECT_EQ(json::parse(events[events.size() - 2])["choices"][0]["finish_reason"], "shutdown");
  int status = 0;
  post("/v1/completions", completion("Once", 4), &status);
  EXPECT_EQ(status, 503);
  EXPECT_EQ(client().Get("/health")->status, 503);
}
