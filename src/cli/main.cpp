// dsla CLI entry point: dispatches to a subcommand and turns errors into messages and exit codes.
#include <c10/util/Exception.h>

#include <cstdio>
#include <cstring>
#include <cxxopts.hpp>
#include <string>

#include "cli/commands.h"
#include "core/error.h"

namespace {

struct Command {
  const char* name;
  int (*run)(int, char**);
  const char* help;
};

constexpr Command kCommands[] = {
    {"info", dsla::cli::run_info, "model summary: parameters, layers, memory"},
    {"generate", dsla::cli::run_generate, "generate text from a prompt (tokens/s reported)"},
    {"ppl", dsla::cli::run_ppl, "perplexity of a text file with a sliding window"},
    {"validate", dsla::cli::run_validate, "check a recipe and print it resolved"},
    {"profile", dsla::cli::run_profile, "rank the layers by sensitivity (the conversion order)"},
    {"fit-report", dsla::cli::run_fit_report, "how closely each DSLA layer form fits the teacher"},
    {"distill", dsla::cli::run_distill, "convert layers one at a time as a recipe says"},
    {"export", dsla::cli::run_export, "write a distilled model as an HF-style directory"},
    {"eval", dsla::cli::run_eval, "evaluate QA, summarization, multiple choice, perplexity tasks"},
    {"serve", dsla::cli::run_serve, "serve a run or model over HTTP, deeper conversion under load"},
    {"bench", dsla::cli::run_bench, "load-test a running server: throughput, TTFT, TPOT, depth"},
};

void print_usage() {
  std::printf("dsla: convert a Transformer LLM to Dual-State Linear Attention and run it\n\n");
  std::printf(
      "usage: dsla <command> [options]   (dsla <command> --help for its options)\n\ncommands:\n");
  for (const auto& c : kCommands) std::printf("  %-10s %s\n", c.name, c.help);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2 || std::strcmp(argv[1], "--help") == 0 || std::strcmp(argv[1], "-h") == 0) {
    print_usage();
    return argc < 2 ? 2 : 0;
  }
  for (const auto& c : kCommands) {
    if (std::strcmp(argv[1], c.name) != 0) continue;
    try {
      return c.run(argc - 1, argv + 1);
    } catch (const dsla::Error& e) {
      std::fprintf(stderr, "dsla %s: error: %s\n", c.name, e.what());
      return 1;
    } catch (const cxxopts::exceptions::exception& e) {
      std::fprintf(stderr, "dsla %s: %s (see dsla %s --help)\n", c.name, e.what(), c.name);
      return 2;
    } catch (const c10::Error& e) {
      std::fprintf(stderr, "dsla %s: internal error: %s\n", c.name, e.what_without_backtrace());
      return 3;
    } catch (const std::exception& e) {
      std::fprintf(stderr, "dsla %s: error: %s\n", c.name, e.what());
      return 1;
    }
  }
  std::fprintf(stderr, "dsla: unknown command '%s'\n\n", argv[1]);
  print_usage();
  return 2;
}
