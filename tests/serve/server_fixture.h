// The loopback server of the serve tests: stories260K behind an engine (fixed depth, batch 4,
// 256-token context) and an HttpServer on a free port, with a client and a JSON POST helper.
#pragma once

#include <gtest/gtest.h>
#include <httplib.h>

#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "serve/http_server.h"
#include "support/test_paths.h"

namespace dsla::testing {

/// The SSE events of a streamed response body: each "data:" payload, "[DONE]" last.
inline std::vector<std::string> sse_payloads(const std::string& body) {
  std::vector<std::string> out;
  for (size_t at = 0; (at = body.find("data: ", at)) != std::string::npos;) {
    size_t end = body.find("\n\n", at);
    out.push_back(body.substr(at + 6, end - at - 6));
    at = end;
  }
  return out;
}

struct ServerFixture : ::testing::Test {
  /// Engine and server options; a derived fixture changes them before SetUp().
  serve::EngineOptions engine_options = [] {
    serve::EngineOptions o;
    o.max_batch = 4;
    o.max_context = 256;
    return o;
  }();
  serve::ServerOptions server_options;
  std::filesystem::path model_dir = stories260k_dir();

  void SetUp() override {
    model = serve::ServedModel::load(model_dir);
    serve::ControllerConfig c;
    c.fixed = true;
    engine = std::make_unique<serve::Engine>(*model, engine_options, c);
    server_options.port = 0;
    server =
        std::make_unique<serve::HttpServer>(*engine, ChatTemplate::load(model_dir), server_options);
    port = server->bind();
    thread = std::thread([this] { server->serve(); });
  }
  void TearDown() override {
    engine->shutdown(std::chrono::milliseconds(0));
    engine->join();
    server->drain(std::chrono::seconds(5));
    server->stop();
    thread.join();
  }
  httplib::Client client() const {
    httplib::Client c("127.0.0.1", port);
    c.set_read_timeout(60, 0);
    return c;
  }
  nlohmann::json post(const std::string& path, const nlohmann::json& body,
                      int* status = nullptr) const {
    auto res = client().Post(path.c_str(), body.dump(), "application/json");
    if (!res) return nlohmann::json{{"transport_error", httplib::to_string(res.error())}};
    if (status) *status = res->status;
    return nlohmann::json::parse(res->body);
  }

  std::unique_ptr<serve::ServedModel> model;
  std::unique_ptr<serve::Engine> engine;
  std::unique_ptr<serve::HttpServer> server;
  std::thread thread;
  int port = 0;
};

}  // namespace dsla::testing
