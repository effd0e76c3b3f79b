// Implementation of the load generator: one client thread per request, SSE parsing, the monitor.
#include "loadtest/load_generator.h"

#include <fmt/format.h>
#include <httplib.h>

#include <atomic>
#include <mutex>
#include <nlohmann/json.hpp>
#include <random>
#include <thread>

#include "core/error.h"
#include "core/progress.h"
#include "core/seconds.h"

namespace dsla::loadtest {
namespace {

using Clock = std::chrono::steady_clock;

/// Reads the SSE stream of one request into `out`.
void send(const std::string& host, int port, const std::vector<int64_t>& prompt,
          const LoadRecipe& config, Clock::time_point start, RequestOutcome& out) {
  httplib::Client client(host, port);
  client.set_read_timeout(static_cast<time_t>(config.timeout_s), 0);
  client.set_connection_timeout(30, 0);
  httplib::Request req;
  req.method = "POST";
  req.path = "/v1/completions";
  req.set_header("Content-Type", "application/json");
  req.body = nlohmann::json{
      {"prompt", prompt},
      {"max_tokens", out.plan.max_tokens},
      {"stream", true},
      {"seed",
       0}}.dump();
  std::string buffer;
  req.content_receiver = [&](const char* data, size_t n, uint64_t, uint64_t) {
    buffer.append(data, n);
    for (size_t end; (end = buffer.find("\n\n")) != std::string::npos; buffer.erase(0, end + 2)) {
      std::string event = buffer.substr(0, end);
      if (event.rfind("data: ", 0) != 0 || event == "data: [DONE]") continue;
      auto j = nlohmann::json::parse(event.substr(6), nullptr, false);
      if (j.is_discarded()) continue;
      if (out.first_token_s < 0) out.first_token_s = seconds_since(start);
      const auto& choice = j["choices"][0];
      if (!choice["finish_reason"].is_null()) {
        out.done_s = seconds_since(start);
        out.finish_reason = choice["finish_reason"];
        out.depth = j["dsla"].value("depth", -1);
        out.output_tokens = j["dsla"].value("completion_tokens", 0);
      }
    }
    return true;
  };
  httplib::Response res;
  httplib::Error error = httplib::Error::Success;
  out.sent_s = seconds_since(start);
  if (!client.send(req, res, error)) {
    out.error = httplib::to_string(error);
    return;
  }
  out.status = res.status;
  if (res.status != 200) out.error = res.body.substr(0, 300);
}

TimelinePoint sample(httplib::Client& client, double t) {
  TimelinePoint p{t, -1, -1, -1};
  if (auto res = client.Get("/health"); res && res->status == 200) {
    auto j = nlohmann::json::parse(res->body, nullptr, false);
    if (!j.is_discarded()) {
      p.depth = j.value("depth", -1);
      p.running = j.value("running", -1);
      p.queued = j.value("queued", -1);
    }
  }
  return p;
}

}  // namespace

LoadRun run_load(const std::string& host, int port, const std::vector<PlannedRequest>& plan,
                 const LoadRecipe& config) {
  httplib::Client probe(host, port);
  probe.set_connection_timeout(10, 0);
  auto health = probe.Get("/health");
  DSLA_CHECK(health && health->status == 200, "no dsla server answers at http://{}:{}/health", host,
             port);
  int64_t vocab = nlohmann::json::parse(health->body).value("vocab_size", 0);
  DSLA_CHECK(vocab > 3, "http://{}:{}/health gives no vocab_size", host, port);

  LoadRun run;
  run.requests.resize(plan.size());
  auto start = Clock::now();
  std::atomic<int64_t> remaining{static_cast<int64_t>(plan.size())};
  ProgressBar bar("bench", static_cast<int64_t>(plan.size()), "req");
  std::mutex bar_mutex;
  std::vector<std::thread> clients;
  for (size_t i = 0; i < plan.size(); ++i) {
    run.requests[i].plan = plan[i];
    clients.emplace_back([&, i] {
      std::this_thread::sleep_until(start + std::chrono::duration_cast<Clock::duration>(
                                                std::chrono::duration<double>(plan[i].at_s)));
      std::mt19937_64 rng(config.seed * 1000003 + i);
      std::uniform_int_distribution<int64_t> id(3, vocab - 1);
      std::vector<int64_t> prompt(static_cast<size_t>(plan[i].prompt_tokens));
      for (auto& t : prompt) t = id(rng);
      send(host, port, prompt, config, start, run.requests[i]);
      --remaining;
      std::lock_guard<std::mutex> lock(bar_mutex);
      bar.advance(1, run.requests[i].ok() ? "" : "failed: " + run.requests[i].error.substr(0, 60));
    });
  }
  httplib::Client monitor(host, port);
  while (remaining > 0) {
    run.timeline.push_back(sample(monitor, seconds_since(start)));
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
  }
  for (auto& t : clients) t.join();
  bar.finish();
  run.duration_s = seconds_since(start);
  return run;
}

}  // namespace dsla::loadtest
