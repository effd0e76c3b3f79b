// Fault tests of the server over loopback (issue 17's cases as regressions): an unknown model gets
// OpenAI's 404; prompt text too long for the context is refused before tokenising; slow and idle
// connections leave /health answering; a non-streamed request whose client leaves is cancelled;
// a second server cannot bind the same port; a request the engine cannot serve ends with an error
// while the others complete; a padded vocabulary samples only the tokenizer's ids.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <future>
#include <thread>

#include "core/atomic_file.h"
#include "core/error.h"
#include "io/json_file.h"
#include "io/safetensors.h"
#include "serve/api.h"
#include "serve/server_fixture.h"

using namespace dsla;
using dsla::testing::ServerFixture;
using nlohmann::json;
namespace fs = std::filesystem;

namespace {

/// A raw TCP connection to the server (for clients that send half a request, or nothing).
struct RawConnection {
  int fd = -1;
  explicit RawConnection(int port) {
    fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
      close(fd);
      fd = -1;
    }
  }
  bool send_text(const std::string& s) const {
    return fd >= 0 &&
           ::send(fd, s.data(), s.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(s.size());
  }
  ~RawConnection() {
    if (fd >= 0) close(fd);
  }
};

std::string raw_post(const std::string& path, const std::string& body) {
  return "POST " + path + " HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n" +
         "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
}

/// The finished count for `reason`, polled until it reaches `want` (the engine records a request's
/// end just after its client has the answer) or 10 s pass.
int64_t finished_count(serve::Engine& engine, const std::string& reason, int64_t want) {
  int64_t n = 0;
  for (int i = 0; i < 200; ++i) {
    auto s = engine.stats();
    n = s.finished_total.count(reason) ? s.finished_total.at(reason) : 0;
    if (n >= want) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return n;
}

}  // namespace

TEST_F(ServerFixture, UnknownModelGetsOpenAis404AndTheServedNameIsAccepted) {
  int status = 0;
  json r =
      post("/v1/completions", {{"model", "gpt-4"}, {"prompt", "Once"}, {"max_tokens", 2}}, &status);
  EXPECT_EQ(status, 404);
  EXPECT_EQ(r["error"]["code"], "model_not_found");
  EXPECT_EQ(r["error"]["param"], "model");
  r = post("/v1/chat/completions",
           {{"model", "gpt-4"}, {"messages", {{{"role", "user"}, {"content", "hi"}}}}}, &status);
  EXPECT_EQ(status, 404);
  r = post("/v1/completions", {{"model", model->name()}, {"prompt", "Once"}, {"max_tokens", 2}},
           &status);
  EXPECT_EQ(status, 200) << r.dump();
}

TEST_F(ServerFixture, PromptTextTooLongForTheContextIsRefusedBeforeTokenising) {
  size_t limit = serve::prompt_byte_limit(model->tokenizer(), engine->max_context());
  // Every token decodes to fewer bytes than limit / context: text past the limit cannot fit.
  size_t per_token = limit / static_cast<size_t>(engine->max_context());
  for (int64_t id = 0; id < model->tokenizer().vocab_size(); ++id) {
    ASSERT_LT(model->tokenizer().decode({id}, false).size(), per_token) << id;
  }
  int status = 0;
  json r = post("/v1/completions", {{"prompt", std::string(limit + 1, 'a')}, {"max_tokens", 1}},
                &status);
  EXPECT_EQ(status, 400);
  EXPECT_NE(r["error"]["message"].get<std::string>().find("before tokenising"), std::string::npos)
      << r.dump();
  r = post("/v1/chat/completions",
           {{"messages", {{{"role", "user"}, {"content", std::string(limit + 1, 'a')}}}}}, &status);
  EXPECT_EQ(status, 400);
}

TEST_F(ServerFixture, SlowAndIdleConnectionsLeaveHealthAnswering) {
  std::vector<std::unique_ptr<RawConnection>> held;
  for (int i = 0; i < 80; ++i) {  // half a request line each, then silence
    held.push_back(std::make_unique<RawConnection>(port));
    ASSERT_TRUE(held.back()->send_text("POST /v1/comp"));
  }
  for (int i = 0; i < 150; ++i) held.push_back(std::make_unique<RawConnection>(port));  // idle
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  httplib::Client c("127.0.0.1", port);
  c.set_read_timeout(3, 0);
  auto health = c.Get("/health");
  ASSERT_TRUE(health) << httplib::to_string(health.error());
  EXPECT_EQ(health->status, 200);
  int status = 0;
  post("/v1/completions", {{"prompt", "Once"}, {"max_tokens", 3}}, &status);
  EXPECT_EQ(status, 200);
}

TEST_F(ServerFixture, SecondServerCannotBindTheSamePort) {
  serve::ServerOptions so;
  so.port = port;
  serve::HttpServer second(*engine, ChatTemplate::load(model_dir), so);
  EXPECT_THROW(second.bind(), Error);
}

struct OneAtATimeServer : ServerFixture {
  OneAtATimeServer() {
    engine_options.max_batch = 1;
    server_options.heartbeat_ms = 50;
  }
};

TEST_F(OneAtATimeServer, NonStreamedRequestIsCancelledWhenItsClientLeaves) {
  std::vector<std::future<int>> busy;
  for (int i = 0; i < 4; ++i) {  // they hold the only slot for a while, one after the other
    busy.push_back(std::async(std::launch::async, [this] {
      int status = 0;
      post("/v1/completions", {{"prompt", "Once upon a time"}, {"max_tokens", 240}}, &status);
      return status;
    }));
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  {
    RawConnection leaving(port);
    ASSERT_TRUE(leaving.send_text(
        raw_post("/v1/completions", json{{"prompt", "Lily"}, {"max_tokens", 240}}.dump())));
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }  // the client closes its connection while its request waits for the slot
  for (auto& f : busy) EXPECT_EQ(f.get(), 200);
  EXPECT_EQ(finished_count(*engine, "cancelled", 1), 1);
  EXPECT_EQ(finished_count(*engine, "length", 4), 4);
  EXPECT_EQ(engine->stats().generated_tokens_total, 4 * 240);  // none for the one that left
}

TEST_F(ServerFixture, RequestTheEngineCannotServeEndsWithAnErrorAndOthersComplete) {
  serve::RequestParams bad;
  bad.prompt = {1, 5, 9};
  bad.max_tokens = 4;
  bad.sampling.top_p = 0;  // the API refuses this; the engine must survive it
  serve::RequestParams good = bad;
  good.sampling.top_p = 1;
  auto failing = engine->submit(bad);
  auto fine = engine->submit(good);
  serve::RequestEvent event;
  while (!fine->finished()) fine->wait_event(event, std::chrono::milliseconds(100));
  EXPECT_EQ(fine->finish_reason(), "length");
  ASSERT_TRUE(failing->finished());
  EXPECT_EQ(failing->finish_reason(), "error");
  EXPECT_NE(failing->error().find("top_p"), std::string::npos) << failing->error();
  int status = 0;
  post("/v1/completions", {{"prompt", "Once"}, {"max_tokens", 2}}, &status);
  EXPECT_EQ(status, 200);
}

namespace {

/// stories260K with its vocabulary resized to `vocab` rows (zero rows added, or rows cut), the
/// tokenizer unchanged (512 ids).
fs::path resized_vocab_model(int64_t vocab) {
  fs::path src = dsla::testing::stories260k_dir();
  fs::path dir = dsla::testing::make_temp_dir("vocab") / std::to_string(vocab);
  fs::create_directories(dir);
  for (const auto& e : fs::directory_iterator(src)) {
    if (e.path().filename() != "model.safetensors" && e.path().filename() != "config.json")
      fs::copy_file(e.path(), dir / e.path().filename(), fs::copy_options::overwrite_existing);
  }
  json config = io::read_json_file(src / "config.json");
  config["vocab_size"] = vocab;
  write_text_atomically(dir / "config.json", config.dump(2));
  io::SafetensorsCollection weights(src);
  std::map<std::string, at::Tensor> tensors;
  for (const auto& name : weights.names()) tensors[name] = weights.tensor(name).clone();
  at::Tensor& embed = tensors.at("model.embed_tokens.weight");  // [512, hidden]
  embed = vocab > embed.size(0)
              ? at::cat({embed, at::zeros({vocab - embed.size(0), embed.size(1)})}, 0)
              : embed.narrow(0, 0, vocab).clone();
  io::save_safetensors(dir / "model.safetensors", tensors);
  return dir;
}

}  // namespace

struct PaddedVocabServer : ServerFixture {
  PaddedVocabServer() { model_dir = resized_vocab_model(520); }
};

TEST_F(PaddedVocabServer, SamplesOnlyTheTokenizersIdsAndRefusesOthersAtAdmission) {
  ASSERT_EQ(model->config().vocab_size, 520);
  serve::RequestParams p;
  p.prompt = {1, 515};
  EXPECT_THROW(engine->submit(p), Error);  // a model id the tokenizer does not have
  p.prompt = {1, 5, 9};
  p.max_tokens = 30;
  p.sampling.temperature = 2.0;
  auto r = engine->submit(p);
  EXPECT_EQ(r->params().sampling.vocab_limit, 512);
  serve::RequestEvent event;
  while (!r->finished()) r->wait_event(event, std::chrono::milliseconds(100));
  for (int64_t id : r->output()) EXPECT_LT(id, 512);
}

TEST(ServedModelLoad, RefusesATokenizerWithMoreIdsThanTheModel) {
  fs::path dir = resized_vocab_model(500);
  try {
    serve::ServedModel::load(dir);
    ADD_FAILURE() << "a 512-id tokenizer on a 500-row model was accepted";
  } catch (const Error& e) {
    std::string m = e.what();
    EXPECT_NE(m.find(dir.string()), std::string::npos) << m;
    EXPECT_NE(m.find("512 ids"), std::string::npos) << m;
  }
}
