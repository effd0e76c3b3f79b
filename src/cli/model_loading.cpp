// Implementation of the shared model-loading options.
#include "cli/model_loading.h"

#include <chrono>
#include <cstdio>
#include <iostream>

#include "core/dtype.h"
#include "core/error.h"
#include "core/paths.h"
#include "core/seconds.h"
#include "core/threads.h"
#include "model/device.h"
#include "model/weight_loader.h"

namespace dsla::cli {
namespace {

Dtype parse_dtype(const std::string& s) {
  auto dtype = parse_enum<Dtype>(s);
  DSLA_CHECK(dtype.has_value(), "--dtype '{}' is not one of: {}", s, enum_choices<Dtype>());
  return *dtype;
}

}  // namespace

void add_model_options(cxxopts::Options& options) {
  // clang-format off
  options.add_options("model")
      ("model", "HF model directory (config.json, *.safetensors, tokenizer)",
       cxxopts::value<std::string>()->default_value(default_model_dir().string()))
      ("threads", "intra-op threads (0 = number of cores)", cxxopts::value<int>()->default_value("0"))
      ("dtype", "weight dtype: float32 or bfloat16", cxxopts::value<std::string>()->default_value("float32"))
      ("device", "cpu, cuda or cuda:N", cxxopts::value<std::string>()->default_value("cpu"))
      ("h,help", "show this help");
  // clang-format on
}

std::optional<cxxopts::ParseResult> parse_or_help(cxxopts::Options& options, int argc,
                                                  char** argv) {
  auto args = options.parse(argc, argv);
  if (args.count("help") != 0) {
    std::cout << options.help() << std::endl;
    return std::nullopt;
  }
  return args;
}

LoadedModel load_model_from_options(const cxxopts::ParseResult& args, bool with_tokenizer) {
  LoadedModel m;
  m.threads = init_threads(args["threads"].as<int>());
  m.device = model::resolve_device(args["device"].as<std::string>(), "--device");
  m.dir = args["model"].as<std::string>();
  DSLA_CHECK(std::filesystem::is_directory(m.dir), "--model {}: not a directory", m.dir.string());
  auto t0 = std::chrono::steady_clock::now();
  m.model = model::load_llama(m.dir, parse_dtype(args["dtype"].as<std::string>()));
  m.model->to(m.device);
  if (with_tokenizer) m.tokenizer = load_tokenizer(m.dir, m.model->config().vocab_size);
  m.load_seconds = seconds_since(t0);
  std::fprintf(stderr, "[dsla] loaded %s in %.2f s (%s, %d threads)\n", m.dir.c_str(),
               m.load_seconds, m.device.str().c_str(), m.threads);
  return m;
}

}  // namespace dsla::cli
