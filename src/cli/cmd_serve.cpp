// dsla serve: the hybrid model behind an OpenAI-style HTTP API, converting more layers (for new
// requests) as load grows and fewer as it falls.
#include <fmt/format.h>
#include <pthread.h>

#include <csignal>
#include <iostream>
#include <thread>

#include "cli/commands.h"
#include "cli/model_loading.h"
#include "core/atomic_file.h"
#include "core/error.h"
#include "core/threads.h"
#include "serve/http_server.h"

namespace dsla::cli {
namespace {

serve::ControllerConfig controller_config(const cxxopts::ParseResult& p,
                                          const serve::HybridModel& model) {
  serve::ControllerConfig c;
  c.min_depth = model.min_depth();
  c.max_depth = model.max_depth();
  if (p.count("max-depth")) {
    c.max_depth = p["max-depth"].as<int64_t>();
    DSLA_CHECK(c.max_depth >= c.min_depth && c.max_depth <= model.max_depth(),
               "--max-depth {} is outside the model's depths {}..{}", c.max_depth, c.min_depth,
               model.max_depth());
  }
  c.prompt_high = p["prompt-high"].as<int64_t>();
  c.prompt_low = p["prompt-low"].as<int64_t>();
  c.queue_high = p["queue-high"].as<int64_t>();
  c.queue_low = p["queue-low"].as<int64_t>();
  c.cooldown_s = p["cooldown"].as<double>();
  c.step = p["depth-step"].as<int64_t>();
  DSLA_CHECK(c.step >= 1, "--depth-step {} must be at least 1", c.step);
  c.queued_tokens_high = p["queued-tokens-high"].as<int64_t>();
  c.cache_pressure_high = p["cache-pressure-high"].as<double>();
  c.tpot_slo_ms = p["tpot-slo-ms"].as<double>();
  DSLA_CHECK(c.prompt_low <= c.prompt_high && c.queue_low <= c.queue_high,
             "the low thresholds must not exceed the high ones");
  if (p.count("quality-eval")) {
    c.quality_max_depth = serve::quality_max_depth(
        p["quality-eval"].as<std::string>(), p["quality-task"].as<std::string>(),
        p["quality-metric"].as<std::string>(), p["quality-tolerance"].as<double>());
    std::cerr << fmt::format(
        "[serve] quality guard: depth at most {} ({} {} within {:.0f}% of the "
        "teacher)\n",
        *c.quality_max_depth, p["quality-task"].as<std::string>(),
        p["quality-metric"].as<std::string>(), 100 * p["quality-tolerance"].as<double>());
  }
  return c;
}

}  // namespace

int run_serve(int argc, char** argv) {
  cxxopts::Options options("dsla serve",
                           "Serve a distill run (every depth from the teacher to its last stage) "
                           "or an exported model over an OpenAI-style HTTP API.");
  // clang-format off
  options.add_options()
      ("model", "a dsla distill run directory, or an HF/exported model directory", cxxopts::value<std::string>(), "DIR")
      ("host", "address to listen on", cxxopts::value<std::string>()->default_value("127.0.0.1"))
      ("port", "port (0 = any free one)", cxxopts::value<int>()->default_value("8000"))
      ("port-file", "write the bound port into this file", cxxopts::value<std::string>(), "FILE")
      ("max-batch", "requests running at once", cxxopts::value<int64_t>()->default_value("8"))
      ("max-context", "prompt + max_tokens limit (0 = the model's positions)", cxxopts::value<int64_t>()->default_value("0"))
      ("cache-budget-mb", "cache memory for admitted requests (0 = no limit)", cxxopts::value<double>()->default_value("0"))
      ("prefill-chunk", "prompt tokens prefilled between decode steps", cxxopts::value<int64_t>()->default_value("512"))
      ("depth", "'auto' (the controller) or a fixed depth", cxxopts::value<std::string>()->default_value("auto"))
      ("max-depth", "deepest depth the controller may choose", cxxopts::value<int64_t>())
      ("prompt-high", "deeper when the longest queued prompt exceeds this", cxxopts::value<int64_t>()->default_value("1024"))
      ("prompt-low", "shallower only when it is below this", cxxopts::value<int64_t>()->default_value("256"))
      ("queue-high", "deeper when more requests than this wait", cxxopts::value<int64_t>()->default_value("8"))
      ("queue-low", "shallower only when fewer than this wait", cxxopts::value<int64_t>()->default_value("2"))
      ("cooldown", "seconds between depth changes", cxxopts::value<double>()->default_value("5"))
      ("depth-step", "layers converted or restored per depth change", cxxopts::value<int64_t>()->default_value("1"))
      ("queued-tokens-high", "deeper above this many queued prompt tokens (0 = off)", cxxopts::value<int64_t>()->default_value("0"))
      ("cache-pressure-high", "deeper above this reserved/budget fraction (0 = off)", cxxopts::value<double>()->default_value("0"))
      ("tpot-slo-ms", "deeper when p99 time per output token exceeds this (0 = off)", cxxopts::value<double>()->default_value("0"))
      ("quality-eval", "dsla eval's eval.json for the quality guard", cxxopts::value<std::string>(), "FILE")
      ("quality-task", "task of the quality guard", cxxopts::value<std::string>()->default_value("squad"))
      ("quality-metric", "metric of the quality guard", cxxopts::value<std::string>()->default_value("f1"))
      ("quality-tolerance", "relative drop from the teacher allowed", cxxopts::value<double>()->default_value("0.1"))
      ("decisions", "append depth decisions (JSONL) to this file", cxxopts::value<std::string>(), "FILE")
      ("drain-seconds", "on SIGINT/SIGTERM, let running requests finish this long", cxxopts::value<double>()->default_value("30"))
      ("threads", "intra-op threads (0 = cores)", cxxopts::value<int>()->default_value("0"))
      ("h,help", "show this help");
  // clang-format on
  auto parsed = parse_or_help(options, argc, argv);
  if (!parsed) return 0;
  DSLA_CHECK(parsed->count("model"), "--model DIR is required");
  init_threads((*parsed)["threads"].as<int>());
  auto model = serve::HybridModel::load((*parsed)["model"].as<std::string>());
  serve::EngineOptions eo;
  eo.max_batch = (*parsed)["max-batch"].as<int64_t>();
  eo.max_context = (*parsed)["max-context"].as<int64_t>();
  eo.cache_budget_bytes = static_cast<int64_t>((*parsed)["cache-budget-mb"].as<double>() * 1e6);
  eo.prefill_chunk = (*parsed)["prefill-chunk"].as<int64_t>();
  if (parsed->count("decisions")) eo.decisions_file = (*parsed)["decisions"].as<std::string>();
  serve::ControllerConfig cc = controller_config(*parsed, *model);
  serve::ServerOptions so;
  so.host = (*parsed)["host"].as<std::string>();
  so.port = (*parsed)["port"].as<int>();
  // SIGINT/SIGTERM are blocked in every thread and awaited here: a graceful shutdown.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  serve::Engine engine(*model, eo, cc);
  std::string depth = (*parsed)["depth"].as<std::string>();
  if (depth != "auto") engine.set_depth(std::stoll(depth));
  serve::HttpServer server(engine, serve::ChatTemplate::load(model->tokenizer_dir()), so);
  int port = server.bind();
  if (parsed->count("port-file")) {
    write_text_atomically((*parsed)["port-file"].as<std::string>(), std::to_string(port) + "\n");
  }
  std::cerr << fmt::format("[serve] {} on http://{}:{} (depths {}..{}, {}; batch {})\n",
                           model->name(), so.host, port, model->min_depth(), model->max_depth(),
                           depth == "auto" ? "adaptive" : "fixed at " + depth, eo.max_batch);
  std::thread http([&] { server.serve(); });
  int sig = 0;
  sigwait(&signals, &sig);
  std::cerr << fmt::format("[serve] {}: no new requests; draining the running ones\n",
                           sig == SIGINT ? "SIGINT" : "SIGTERM");
  engine.shutdown(std::chrono::milliseconds(
      static_cast<int64_t>((*parsed)["drain-seconds"].as<double>() * 1000)));
  engine.join();
  server.drain(std::chrono::seconds(5));  // the last chunks of streams the shutdown ended
  server.stop();
  http.join();
  std::cerr << "[serve] stopped\n";
  return 0;
}

}  // namespace dsla::cli
