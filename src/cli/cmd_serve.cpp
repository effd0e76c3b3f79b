// dsla serve: the hybrid model behind an OpenAI-style HTTP API, converting more layers (for new
// requests) as load grows and fewer as it falls.
#include <fmt/format.h>
#include <pthread.h>

#include <algorithm>
#include <csignal>
#include <iostream>
#include <thread>

#include "cli/commands.h"
#include "cli/model_loading.h"
#include "core/atomic_file.h"
#include "core/error.h"
#include "core/threads.h"
#include "model/device.h"
#include "serve/http_server.h"
#include "serve/serve_config.h"
#include "serve/served_model.h"

namespace dsla::cli {
namespace {

std::string flag_name(std::string key) {
  std::replace(key.begin(), key.end(), '_', '-');
  return key;
}

/// One flag per serve setting (the table's name, help and default) plus --config.
void add_serve_options(cxxopts::Options& options) {
  auto adder = options.add_options();
  adder("config", "a serve config file (schema: serve); flags override it",
        cxxopts::value<std::string>(), "FILE");
  for (const auto& s : serve::serve_settings_table()) {
    std::string shown = s.default_value().is_string() ? s.default_value().get<std::string>()
                                                      : s.default_value().dump();
    adder(flag_name(s.name),
          fmt::format("{} (default: {})", s.help, shown.empty() ? "none" : shown),
          cxxopts::value<std::string>());
  }
  adder("h,help", "show this help");
}

/// The config file (if any) with every flag given applied over it.
serve::ServeConfig serve_config(const cxxopts::ParseResult& args) {
  std::vector<std::string> overrides;
  for (const auto& s : serve::serve_settings_table()) {
    std::string flag = flag_name(s.name);
    if (args.count(flag) != 0) overrides.push_back(s.name + "=" + args[flag].as<std::string>());
  }
  std::optional<std::filesystem::path> file;
  if (args.count("config") != 0) file = args["config"].as<std::string>();
  return serve::load_serve_config(file, overrides);
}

}  // namespace

int run_serve(int argc, char** argv) {
  cxxopts::Options options("dsla serve",
                           "Serve a distill run (every depth from the teacher to its last stage) "
                           "or an exported model over an OpenAI-style HTTP API.");
  add_serve_options(options);
  auto parsed = parse_or_help(options, argc, argv);
  if (!parsed) return 0;
  serve::ServeConfig cfg = serve_config(*parsed);
  init_threads(cfg.threads);
  c10::Device device = model::resolve_device(cfg.device, "--device");
  auto model = serve::ServedModel::load(cfg.model, device);
  serve::EngineOptions eo = serve::engine_options(cfg);
  serve::ControllerConfig cc = serve::controller_config(cfg, *model);
  if (cc.quality_max_depth) {
    std::cerr << fmt::format(
        "[serve] quality guard: depth at most {} ({} {} within {:.0f}% of the teacher)\n",
        *cc.quality_max_depth, cfg.quality_task, cfg.quality_metric, 100 * cfg.quality_tolerance);
  }
  serve::ServerOptions so;
  so.host = cfg.host;
  so.port = static_cast<int>(cfg.port);
  so.max_connections = cfg.max_connections;
  so.read_timeout_ms = static_cast<int64_t>(cfg.read_timeout * 1000);
  // SIGINT/SIGTERM are blocked in every thread and awaited here: a graceful shutdown.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  serve::Engine engine(*model, eo, cc);
  if (auto depth = cfg.fixed_depth()) engine.set_depth(*depth);
  serve::HttpServer server(engine, ChatTemplate::load(model->tokenizer_dir()), so);
  int port = server.bind();
  if (!cfg.port_file.empty()) write_text_atomically(cfg.port_file, std::to_string(port) + "\n");
  std::cerr << fmt::format("[serve] {} on http://{}:{} (depths {}..{}, {}; batch {})\n",
                           model->name(), so.host, port, model->min_depth(), model->max_depth(),
                           cfg.depth == "auto" ? "adaptive" : "fixed at " + cfg.depth,
                           eo.max_batch);
  std::thread http([&] { server.serve(); });
  int sig = 0;
  sigwait(&signals, &sig);
  std::cerr << fmt::format("[serve] {}: no new requests; draining the running ones\n",
                           sig == SIGINT ? "SIGINT" : "SIGTERM");
  engine.shutdown(std::chrono::milliseconds(static_cast<int64_t>(cfg.drain_seconds * 1000)));
  engine.join();
  server.drain(std::chrono::seconds(5));  // the last chunks of streams the shutdown ended
  server.stop();
  http.join();
  std::cerr << "[serve] stopped\n";
  return 0;
}

}  // namespace dsla::cli
