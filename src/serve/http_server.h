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
  int port = 8000;                  ///< 0 = any free port
  int64_t max_connections = 256;    ///< connections served at once (a thread each); later ones wait
  int64_t read_timeout_ms = 10000;  ///< a connection silent this long is closed (also keep-alive)
  size_t max_body_bytes = 8 << 20;
  /// A non-streamed request still running after this long is answered chunked, with a space every
  /// interval until its body, so that a client that has gone is noticed and its request cancelled.
  int64_t heartbeat_ms = 1000;
};

class HttpServer {
 public:
  HttpServer(Engine& engine, ChatTemplate chat, ServerOptions options);
  ~HttpServer();
  /// Binds the listening socket; returns the port. Throws dsla::Error when it cannot.
  int bind();
  /// Serves connections until stop() (blocks the calling thread); returns at once after stop().
  void serve();
  /// Waits (up to `max`) until every open completion has sent its last byte: call after the
  /// engine has ended all requests, before stop().
  void drain(std::chrono::milliseconds max);
  /// Stops serving, whether or not serve() has started yet; open connections are closed.
  void stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace dsla::serve
