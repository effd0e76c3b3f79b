// Implementation of the HTTP routes: request parsing, non-streamed and streamed (SSE) responses,
// client disconnects (the request is cancelled and frees its slot), JSON errors.
#include "serve/http_server.h"

#include <fmt/format.h>
#include <httplib.h>

#include <atomic>
#include <ctime>
#include <mutex>
#include <thread>

#include "core/error.h"
#include "serve/api.h"
#include "serve/connection_threads.h"

namespace dsla::serve {
namespace {

/// Waits until `state` has finished or `timeout` has passed (its text events are not needed: the
/// body is built from the finished state); true when finished.
bool wait_until_finished(RequestState& state, std::chrono::milliseconds timeout) {
  auto deadline = Clock::now() + timeout;
  RequestEvent event;
  while (!state.finished()) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) return false;
    state.wait_event(event, left);
  }
  return true;
}

}  // namespace

struct HttpServer::Impl {
  Engine& engine;
  ChatTemplate chat;
  ServerOptions options;
  ApiLimits limits;
  httplib::Server server;
  socket_t listen_socket = INVALID_SOCKET;  ///< the socket httplib last created for listening
  std::mutex lifecycle;                     ///< guards serving and stopped
  bool serving = false, stopped = false;
  std::atomic<int> open_completions{0};  ///< handlers and streams not yet done writing
  const int64_t started = static_cast<int64_t>(std::time(nullptr));  ///< /v1/models' "created"

  Impl(Engine& e, ChatTemplate c, ServerOptions o)
      : engine(e),
        chat(std::move(c)),
        options(std::move(o)),
        limits{e.model().name(), prompt_byte_limit(e.model().tokenizer(), e.max_context())} {}

  static void send_error(httplib::Response& res, const ApiError& e) {
    res.status = e.status;
    res.set_content(error_body(e), "application/json");
  }

  void completions(const httplib::Request& req, httplib::Response& res, bool is_chat);
  void stream(httplib::Response& res, const ApiRequest& api,
              const std::shared_ptr<RequestState>& state, const std::string& id, int64_t created);
  void respond_when_done(httplib::Response& res, const ApiRequest& api,
                         const std::shared_ptr<RequestState>& state, const std::string& id,
                         int64_t created);
  /// The response body of a finished request: the completion, or the error it ended with.
  std::string final_body(const ApiRequest& api, const RequestState& state, const std::string& id,
                         int64_t created) const;
  void routes();
  /// The served model in OpenAI's /v1/models layout.
  nlohmann::json model_card() const {
    return {{"id", engine.model().name()},
            {"object", "model"},
            {"created", started},
            {"owned_by", "dsla"}};
  }
};

void HttpServer::Impl::completions(const httplib::Request& req, httplib::Response& res,
                                   bool is_chat) {
  ApiRequest api;
  std::shared_ptr<RequestState> state;
  try {
    const Tokenizer& tok = engine.model().tokenizer();
    api =
        is_chat ? parse_chat(req.body, tok, chat, limits) : parse_completion(req.body, tok, limits);
    state = engine.submit(api.params);
  } catch (const ApiError& e) {
    return send_error(res, e);
  } catch (const Error& e) {
    return send_error(res, {engine.accepting() ? 400 : 503, e.what(), "", ""});
  }
  ++open_completions;
  std::string id = fmt::format("{}-{}", is_chat ? "chatcmpl" : "cmpl", state->id());
  auto created = static_cast<int64_t>(std::time(nullptr));
  if (api.stream) return stream(res, api, state, id, created);
  respond_when_done(res, api, state, id, created);
}

std::string HttpServer::Impl::final_body(const ApiRequest& api, const RequestState& state,
                                         const std::string& id, int64_t created) const {
  if (state.finish_reason() == "error") return error_body({500, state.error(), "", ""});
  return json_text(
      final_response(api, state, engine.model().name(), id, created, engine.model().tokenizer()));
}

void HttpServer::Impl::respond_when_done(httplib::Response& res, const ApiRequest& api,
                                         const std::shared_ptr<RequestState>& state,
                                         const std::string& id, int64_t created) {
  // A request done within a heartbeat gets a plain response with its own status.
  const std::chrono::milliseconds heartbeat(options.heartbeat_ms);
  if (wait_until_finished(*state, heartbeat)) {
    res.status = state->finish_reason() == "error" ? 500 : 200;
    res.set_content(final_body(api, *state, id, created), "application/json");
    --open_completions;
    return;
  }
  // A longer one is sent chunked: a space (JSON allows leading whitespace) every heartbeat until
  // the body, so a client that has gone is noticed (the write fails) and its request cancelled.
  res.set_chunked_content_provider(
      "application/json",
      [this, state, api, id, created, heartbeat](size_t, httplib::DataSink& sink) {
        try {
          bool finished = wait_until_finished(*state, heartbeat);
          std::string data = finished ? final_body(api, *state, id, created) : " ";
          if (!sink.write(data.data(), data.size())) {
            state->cancel();
            return false;
          }
          if (finished) sink.done();
          return true;
        } catch (const std::exception&) {
          state->cancel();
          return false;
        }
      },
      [this, state](bool success) {
        if (!success) state->cancel();
        --open_completions;
      });
}

namespace {

/// Waits briefly for the request's next event and writes it as one SSE chunk (plus [DONE] at the
/// end); false when the client is gone.
bool write_stream_event(RequestState& state, const ApiRequest& api, bool& first,
                        const std::string& model, const std::string& id, int64_t created,
                        httplib::DataSink& sink) {
  if (!sink.is_writable()) {
    state.cancel();
    return false;
  }
  RequestEvent event;
  if (!state.wait_event(event, std::chrono::milliseconds(200))) return true;
  if (!event.text.empty() || event.finished || first) {
    std::string reason = event.finished ? event.finish_reason : "";
    nlohmann::json chunk = stream_chunk(api, event.text, reason, first, model, id, created);
    if (event.finished) {
      chunk["dsla"] = {{"depth", state.depth},
                       {"completion_tokens", static_cast<int64_t>(state.output().size())}};
    }
    std::string data = "data: " + json_text(chunk) + "\n\n";
    first = false;
    if (!sink.write(data.data(), data.size())) {
      state.cancel();
      return false;
    }
  }
  if (event.finished && api.include_usage) {
    std::string usage = "data: " + json_text(usage_chunk(api, state, model, id, created)) + "\n\n";
    sink.write(usage.data(), usage.size());
  }
  if (event.finished) {
    static const std::string kDone = "data: [DONE]\n\n";
    sink.write(kDone.data(), kDone.size());
    sink.done();
  }
  return true;
}

}  // namespace

void HttpServer::Impl::stream(httplib::Response& res, const ApiRequest& api,
                              const std::shared_ptr<RequestState>& state, const std::string& id,
                              int64_t created) {
  res.set_header("Cache-Control", "no-cache");
  auto first = std::make_shared<bool>(true);
  std::string model = engine.model().name();
  res.set_chunked_content_provider(
      "text/event-stream",
      [state, api, first, model, id, created](size_t, httplib::DataSink& sink) {
        try {
          return write_stream_event(*state, api, *first, model, id, created, sink);
        } catch (const std::exception&) {
          state->cancel();  // never let an error escape into the connection thread
          return false;
        }
      },
      [this, state](bool success) {
        if (!success) state->cancel();  // the client went away: free the slot
        --open_completions;
      });
}

void HttpServer::Impl::routes() {
  server.Post("/v1/completions", [this](const httplib::Request& q, httplib::Response& r) {
    completions(q, r, false);
  });
  server.Post("/v1/chat/completions",
              [this](const httplib::Request& q, httplib::Response& r) { completions(q, r, true); });
  server.Get("/v1/models", [this](const httplib::Request&, httplib::Response& r) {
    r.set_content(json_text({{"object", "list"}, {"data", {model_card()}}}), "application/json");
  });
  server.Get(R"(/v1/models/(.+))", [this](const httplib::Request& q, httplib::Response& r) {
    if (q.matches[1] == engine.model().name()) {
      return r.set_content(json_text(model_card()), "application/json");
    }
    send_error(r, model_not_found(q.matches[1].str(), engine.model().name()));
  });
  server.Get("/health", [this](const httplib::Request&, httplib::Response& r) {
    EngineStats s = engine.stats();
    nlohmann::json j = {{"status", engine.accepting() ? "ok" : "shutting down"},
                        {"model", engine.model().name()},
                        {"depth", s.depth},
                        {"max_depth", s.max_depth},
                        {"vocab_size", engine.model().config().vocab_size},
                        {"running", s.running},
                        {"queued", s.queued}};
    r.status = engine.accepting() ? 200 : 503;
    r.set_content(json_text(j), "application/json");
  });
  server.Get("/metrics", [this](const httplib::Request&, httplib::Response& r) {
    r.set_content(prometheus_text(engine.stats()), "text/plain; version=0.0.4");
  });
  server.set_error_handler([](const httplib::Request& q, httplib::Response& r) {
    if (!r.body.empty()) return;
    std::string message = r.status == 404   ? fmt::format("no route {} {}", q.method, q.path)
                          : r.status == 413 ? "the request body is too large"
                                            : fmt::format("HTTP {}", r.status);
    r.set_content(error_body({r.status, message, "", ""}), "application/json");
  });
  server.set_exception_handler(
      [](const httplib::Request&, httplib::Response& r, std::exception_ptr e) {
        std::string message = "internal error";
        try {
          std::rethrow_exception(e);
        } catch (const std::exception& x) {
          message = x.what();
        } catch (...) {
        }
        r.status = 500;
        r.set_content(error_body({500, message, "", ""}), "application/json");
      });
}

HttpServer::HttpServer(Engine& engine, ChatTemplate chat, ServerOptions options)
    : impl_(std::make_unique<Impl>(engine, std::move(chat), std::move(options))) {
  const ServerOptions& o = impl_->options;
  int64_t cap = o.max_connections;
  impl_->server.new_task_queue = [cap] { return new ConnectionThreads(cap); };
  impl_->server.set_payload_max_length(o.max_body_bytes);
  impl_->server.set_read_timeout(std::chrono::milliseconds(o.read_timeout_ms));
  impl_->server.set_keep_alive_timeout(std::max<time_t>(1, o.read_timeout_ms / 1000));
  // SO_REUSEADDR only: httplib's default SO_REUSEPORT lets a second server bind the same port.
  impl_->server.set_socket_options([impl = impl_.get()](socket_t sock) {
    int yes = 1;
    setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
    impl->listen_socket = sock;
  });
  impl_->routes();
}

HttpServer::~HttpServer() = default;

int HttpServer::bind() {
  const auto& o = impl_->options;
  int port = o.port;
  if (o.port == 0) {
    port = impl_->server.bind_to_any_port(o.host);
    DSLA_CHECK(port > 0, "cannot listen on {} (any port)", o.host);
  } else {
    DSLA_CHECK(impl_->server.bind_to_port(o.host, o.port),
               "cannot listen on {}:{} (in use, or not an address of this machine)", o.host,
               o.port);
  }
  // httplib listens with a backlog of 5: a burst of connections overflows it and their SYNs wait
  // a second for the retry. Listening again on the bound socket raises the backlog.
  if (impl_->listen_socket != INVALID_SOCKET) ::listen(impl_->listen_socket, SOMAXCONN);
  return port;
}

void HttpServer::serve() {
  {
    std::lock_guard<std::mutex> lock(impl_->lifecycle);
    if (impl_->stopped) return;  // stop() came first
    impl_->serving = true;
  }
  impl_->server.listen_after_bind();
}

void HttpServer::drain(std::chrono::milliseconds max) {
  auto deadline = std::chrono::steady_clock::now() + max;
  while (impl_->open_completions > 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

void HttpServer::stop() {
  {
    std::lock_guard<std::mutex> lock(impl_->lifecycle);
    impl_->stopped = true;
    if (!impl_->serving) return;  // serve() will not start listening
  }
  // httplib's stop() does nothing until its listen loop has started: wait for it (briefly; a
  // listen that failed at once never starts).
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (!impl_->server.is_running() && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  impl_->server.stop();
}

}  // namespace dsla::serve
