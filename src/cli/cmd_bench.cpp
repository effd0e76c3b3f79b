// dsla bench: a load generator against a running dsla server (Poisson ramp or trace), reporting
// throughput, TTFT, TPOT, latency percentiles and the server's depth over time.
#include <fmt/format.h>

#include <iostream>

#include "cli/commands.h"
#include "cli/model_loading.h"
#include "core/error.h"
#include "io/json_file.h"
#include "loadtest/bench_report.h"

namespace dsla::cli {

int run_bench(int argc, char** argv) {
  cxxopts::Options options("dsla bench",
                           "Send a planned load to a running `dsla serve` and report throughput, "
                           "time to first token, time per output token and the depth over time.");
  // clang-format off
  options.add_options()
      ("load", "load recipe (YAML), e.g. recipes/serve/ramp_smollm2.yaml", cxxopts::value<std::string>(), "FILE")
      ("host", "server address", cxxopts::value<std::string>()->default_value("127.0.0.1"))
      ("port", "server port", cxxopts::value<int>()->default_value("8000"))
      ("out", "directory for bench.json, bench.md, requests.jsonl, timeline.jsonl, depth.png", cxxopts::value<std::string>(), "DIR")
      ("label", "name of this configuration in the report", cxxopts::value<std::string>()->default_value("server"))
      ("set", "override a load recipe key: key=value", cxxopts::value<std::vector<std::string>>(), "KV")
      ("h,help", "show this help");
  // clang-format on
  auto parsed = parse_or_help(options, argc, argv);
  if (!parsed) return 0;
  DSLA_CHECK(parsed->count("load") && parsed->count("out"),
             "--load FILE and --out DIR are required");
  std::vector<std::string> overrides;
  if (parsed->count("set")) overrides = (*parsed)["set"].as<std::vector<std::string>>();
  loadtest::LoadRecipe config =
      loadtest::read_load_recipe((*parsed)["load"].as<std::string>(), overrides);
  auto plan = loadtest::plan_requests(config);
  DSLA_CHECK(!plan.empty(), "the load recipe plans no request");
  std::cerr << fmt::format("[bench] {} requests over {:.0f} s against {}:{}\n", plan.size(),
                           plan.back().at_s, (*parsed)["host"].as<std::string>(),
                           (*parsed)["port"].as<int>());
  loadtest::LoadRun run = loadtest::run_load((*parsed)["host"].as<std::string>(),
                                             (*parsed)["port"].as<int>(), plan, config);
  nlohmann::json s = loadtest::write_bench_report(run, config, (*parsed)["label"].as<std::string>(),
                                                  (*parsed)["out"].as<std::string>());
  std::cout << io::json_text(s, 2) << "\n";
  return s["failed"].get<int64_t>() == 0 ? 0 : 1;
}

}  // namespace dsla::cli
