// dsla generate: prompt -> text with greedy or sampled decoding; reports prefill and decode
// tokens/s.
#include <fmt/format.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "cli/commands.h"
#include "cli/model_loading.h"
#include "core/error.h"
#include "model/generator.h"
#include "tokenizer/incremental_decoder.h"

namespace dsla::cli {
namespace {

std::string prompt_text(const cxxopts::ParseResult& args) {
  if (args.count("prompt-file") != 0) {
    std::string path = args["prompt-file"].as<std::string>();
    DSLA_CHECK(std::filesystem::is_regular_file(path), "--prompt-file {}: cannot open (not a file)",
               path);
    std::ifstream in(path, std::ios::binary);
    DSLA_CHECK(in.good(), "--prompt-file {}: cannot open", path);
    std::ostringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }
  return args["prompt"].as<std::string>();
}

/// The first n ids of `prompt`, repeating it when it is shorter.
std::vector<int64_t> resize_prompt(const std::vector<int64_t>& prompt, int64_t n) {
  std::vector<int64_t> out;
  out.reserve(static_cast<size_t>(n));
  while (static_cast<int64_t>(out.size()) < n) {
    size_t take = std::min(prompt.size(), static_cast<size_t>(n) - out.size());
    out.insert(out.end(), prompt.begin(), prompt.begin() + static_cast<std::ptrdiff_t>(take));
  }
  return out;
}

}  // namespace

int run_generate(int argc, char** argv) {
  cxxopts::Options options("dsla generate", "Generate text from a prompt.");
  add_model_options(options);
  // clang-format off
  options.add_options("generation")
      ("p,prompt", "prompt text (empty: start from BOS)", cxxopts::value<std::string>()->default_value(""))
      ("prompt-file", "read the prompt from this file", cxxopts::value<std::string>())
      ("prompt-tokens", "use exactly N prompt tokens: the prompt's first N, repeated if shorter (benchmarks)",
       cxxopts::value<int64_t>()->default_value("0"))
      ("n,max-new-tokens", "tokens to generate", cxxopts::value<int64_t>()->default_value("128"))
      ("temperature", "0 = greedy", cxxopts::value<double>()->default_value("0"))
      ("top-k", "keep the k most likely tokens (0 = off)", cxxopts::value<int64_t>()->default_value("0"))
      ("top-p", "nucleus mass (1 = off)", cxxopts::value<double>()->default_value("1"))
      ("seed", "sampling seed", cxxopts::value<uint64_t>()->default_value("0"))
      ("no-bos", "do not prepend BOS")
      ("ignore-eos", "keep generating after EOS")
      ("prefill-chunk", "prefill in chunks of this many tokens (0 = whole prompt)",
       cxxopts::value<int64_t>()->default_value("0"))
      ("stats-json", "print the timing statistics as one JSON line on stderr");
  // clang-format on
  auto parsed = parse_or_help(options, argc, argv);
  if (!parsed) return 0;
  const auto& args = *parsed;
  for (const char* flag : {"prompt-tokens", "prefill-chunk", "max-new-tokens"}) {
    DSLA_CHECK(args[flag].as<int64_t>() >= 0, "--{} must be >= 0, got {}", flag,
               args[flag].as<int64_t>());
  }
  LoadedModel m = load_model_from_options(args);
  std::vector<int64_t> prompt = m.tokenizer->encode(prompt_text(args), args.count("no-bos") == 0);
  DSLA_CHECK(!prompt.empty(), "the prompt is empty and the tokenizer has no BOS; give --prompt");
  if (int64_t n = args["prompt-tokens"].as<int64_t>(); n > 0) prompt = resize_prompt(prompt, n);
  int64_t limit = m.model->config().max_position_embeddings;
  DSLA_CHECK(static_cast<int64_t>(prompt.size()) < limit,
             "the prompt has {} tokens; the model allows {} positions", prompt.size(), limit);

  model::GenerateOptions go;
  go.max_new_tokens = args["max-new-tokens"].as<int64_t>();
  int64_t room = limit - static_cast<int64_t>(prompt.size());
  if (go.max_new_tokens > room) {
    std::fprintf(stderr, "[dsla] generating at most %lld tokens: the model has %lld positions\n",
                 static_cast<long long>(room), static_cast<long long>(limit));
    go.max_new_tokens = room;
  }
  go.sampling = {args["temperature"].as<double>(), args["top-k"].as<int64_t>(),
                 args["top-p"].as<double>(), args["seed"].as<uint64_t>(),
                 m.tokenizer->vocab_size()};
  go.prefill_chunk = args["prefill-chunk"].as<int64_t>();
  if (args.count("ignore-eos") == 0) {
    go.stop_ids = m.model->config().eos_token_ids;
    if (auto eos = m.tokenizer->eos_id(); eos && go.stop_ids.empty()) go.stop_ids.push_back(*eos);
  }
  // Echo the prompt (unless it is long), then stream the newly decoded suffix of the continuation.
  std::string echoed = m.tokenizer->decode(prompt);
  if (echoed.size() <= 2000) std::fwrite(echoed.data(), 1, echoed.size(), stdout);
  IncrementalDecoder decoder(*m.tokenizer);
  auto result = model::generate(*m.model, prompt, go, [&](int64_t id) {
    std::string text = decoder.push(id);
    if (text.empty()) return;
    std::fwrite(text.data(), 1, text.size(), stdout);
    std::fflush(stdout);
  });
  std::printf("\n");
  std::fflush(stdout);
  nlohmann::json stats = {{"prompt_tokens", result.prompt_tokens},
                          {"new_tokens", result.tokens.size()},
                          {"prefill_seconds", result.prefill_seconds},
                          {"decode_seconds", result.decode_seconds},
                          {"prefill_tokens_per_second", result.prefill_tokens_per_second()},
                          {"decode_tokens_per_second", result.decode_tokens_per_second()},
                          {"threads", m.threads}};
  if (args.count("stats-json") != 0) {
    std::fprintf(stderr, "%s\n", stats.dump().c_str());
  } else {
    std::fprintf(stderr,
                 "[dsla] prompt %lld tok, prefill %.1f tok/s | %zu new tok, decode %.1f tok/s\n",
                 static_cast<long long>(result.prompt_tokens), result.prefill_tokens_per_second(),
                 result.tokens.size(), result.decode_tokens_per_second());
  }
  return 0;
}

}  // namespace dsla::cli
