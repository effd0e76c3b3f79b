// Implementation of the HTTP routes: request parsing, non-streamed and streamed (SSE) responses,
// client disconnects (the request is cancelled and frees its slot), JSON errors.
#include "serve/http_server.h"

#include <fmt/format.h>
#include <httplib.h>

#include <atomic>
#include <ctime>
#include <thread>

#include "core/error.h"
#include "serve/api.h"

namespace dsla::serve {

struct HttpServer::Impl {
  Engine& engine;
  ChatTemplate chat;
  ServerOptions options;
  httplib::Server server;
  std::atomic<int> open_completions{0};  ///< handlers and streams not yet done writing

  Impl(Engine& e, ChatTemplate c, ServerOptions o)
      : engine(e), chat(std::move(c)), options(std::move(o)) {}

  static void send_error(httplib::Response& res, const ApiError& e) {
    res.status = e.status;
    res.set_content(error_body(e), "application/json");
  }

  void completions(const httplib::Request& req, httplib::Response& res, bool is_chat);
  void stream(httplib::Response& res, const ApiRequest& api,
              const std::shared_ptr<RequestState>& state, const std::string& id, int64_t created);
  void routes();
};

void HttpServer::Impl::completions(const httplib::Request& req, httplib::Response& res,
                                   bool is_chat) {
  ApiRequest api;
  std::shared_ptr<RequestState> state;
  try {
    const Tokenizer& tok = engine.model().tokenizer();
    api = is_chat ? parse_chat(req.body, tok, chat) : parse_completion(req.body, tok);
    state = engine.submit(api.params);
  } catch (const ApiError& e) {
    return send_error(res, e);
  } catch (const Error& e) {
    return send_error(res, {engine.accepting() ? 400 : 503, e.what(), ""});
  }
  ++open_completions;
  std::string id = fmt::format("{}-{}", is_chat ? "chatcmpl" : "cmpl", state->id());
  auto created = static_cast<int64_t>(std::time(nullptr));
  if (api.stream) return stream(res, api, state, id, created);
  RequestEvent event;
  while (!(state->wait_event(event, std::chrono::seconds(1)) && event.finished)) {
  }
  res.set_content(json_text(final_response(api, *state, engine.model().name(), id, created)),
                  "application/json");
  --open_completions;
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
    r.set_content(error_body({r.status, message, ""}), "application/json");
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
        r.set_content(error_body({500, message, ""}), "application/json");
      });
}

HttpServer::HttpServer(Engine& engine, ChatTemplate chat, ServerOptions options)
    : impl_(std::make_unique<Impl>(engine, std::move(chat), std::move(options))) {
  int threads = impl_->options.threads;
  impl_->server.new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
  impl_->server.set_payload_max_length(impl_->options.max_body_bytes);
  impl_->routes();
}

HttpServer::~HttpServer() = default;

int HttpServer::bind() {
  const auto& o = impl_->options;
  if (o.port == 0) {
    int port = impl_->server.bind_to_any_port(o.host);
    DSLA_CHECK(port > 0, "cannot listen on {} (any port)", o.host);
    return port;
  }
  DSLA_CHECK(impl_->server.bind_to_port(o.host, o.port),
             "cannot listen on {}:{} (in use, or not an address of this machine)", o.host, o.port);
  return o.port;
}

void HttpServer::serve() {
  impl_->server.listen_after_bind();
}

void HttpServer::drain(std::chrono::milliseconds max) {
  auto deadline = std::chrono::steady_clock::now() + max;
  while (impl_->open_completions > 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

void HttpServer::stop() {
  impl_->server.stop();
}

}  // namespace dsla::serve
