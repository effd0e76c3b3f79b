// The HTTP front end of the engine (cpp-httplib): OpenAI-style completions and chat completions
// with server-sent-event streaming, /health and /metrics.
#pragma once

#include <memory>
#include <string>

#include "serve/engine.h"
#include "tokenizer/chat_template.h"

namespace dsla::serve {

struct ServerOptions {
  std::string host = "127.0.0.1";
  int port = 8000;   ///< 0 = any free port
  int threads = 64;  ///< connections served at once (a streaming request holds one)
  size_t max_body_bytes = 8 << 20;
};

class HttpServer {
 public:
  HttpServer(Engine& engine, ChatTemplate chat, ServerOptions options);
  ~HttpServer();
  /// Binds the listening socket; returns the port. Throws dsla::Error when it cannot.
  int bind();
  /// Serves connections until stop() (blocks the calling thread).
  void serve();
  /// Waits (up to `max`) until every open completion has sent its last byte: call after the
  /// engine has ended all requests, before stop().
  void drain(std::chrono::milliseconds max);
  /// Stops serving; open connections are closed.
  void stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace dsla::serve
