// Options shared by the commands that load a model (--model, --threads, --dtype) and the loading
// itself.
#pragma once

#include <cxxopts.hpp>
#include <filesystem>
#include <memory>

#include "model/llama.h"
#include "tokenizer/tokenizer.h"

namespace dsla::cli {

/// Adds --model, --threads, --dtype and --device to `options`.
void add_model_options(cxxopts::Options& options);

struct LoadedModel {
  std::filesystem::path dir;
  model::LlamaForCausalLM model{nullptr};
  std::unique_ptr<Tokenizer> tokenizer;
  double load_seconds = 0;
  int threads = 0;
  c10::Device device{c10::kCPU};  ///< where the model's weights are
};

/// Sets threads, then loads the model and tokenizer named by the parsed options; logs a one-line
/// summary.
LoadedModel load_model_from_options(const cxxopts::ParseResult& args, bool with_tokenizer = true);

/// Parses `argc/argv` with `options`; prints help and returns nullopt when --help was given.
std::optional<cxxopts::ParseResult> parse_or_help(cxxopts::Options& options, int argc, char** argv);

}  // namespace dsla::cli
