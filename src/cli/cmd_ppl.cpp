// dsla ppl: perplexity of a text file with the sliding-window protocol, stated in the output.
#include <fmt/format.h>

#include <filesystem>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "cli/commands.h"
#include "cli/model_loading.h"
#include "core/error.h"
#include "model/perplexity.h"

namespace dsla::cli {

int run_ppl(int argc, char** argv) {
  cxxopts::Options options("dsla ppl", "Perplexity of a text file (sliding window).");
  add_model_options(options);
  // clang-format off
  options.add_options("perplexity")
      ("f,file", "text file to score", cxxopts::value<std::string>())
      ("context", "text tokens per window (0 = the model's max positions - 1)",
       cxxopts::value<int64_t>()->default_value("0"))
      ("stride", "new tokens scored per window (0 = context, i.e. no overlap)",
       cxxopts::value<int64_t>()->default_value("0"))
      ("no-bos", "do not prepend BOS to each window")
      ("max-tokens", "score at most this many tokens (0 = all)", cxxopts::value<int64_t>()->default_value("0"))
      ("json", "print the result as JSON");
  // clang-format on
  auto parsed = parse_or_help(options, argc, argv);
  if (!parsed) return 0;
  const auto& args = *parsed;
  DSLA_CHECK(args.count("file") != 0, "--file is required");
  std::string path = args["file"].as<std::string>();
  DSLA_CHECK(std::filesystem::is_regular_file(path), "--file {}: cannot open (not a file)", path);
  std::ifstream in(path, std::ios::binary);
  DSLA_CHECK(in.good(), "--file {}: cannot open", path);
  std::ostringstream ss;
  ss << in.rdbuf();

  for (const char* flag : {"context", "stride", "max-tokens"}) {
    DSLA_CHECK(args[flag].as<int64_t>() >= 0, "--{} must be >= 0, got {}", flag,
               args[flag].as<int64_t>());
  }
  LoadedModel m = load_model_from_options(args);
  std::vector<int64_t> tokens = m.tokenizer->encode(ss.str(), /*add_bos=*/false);
  model::PerplexityOptions o;
  bool bos = args.count("no-bos") == 0 && m.tokenizer->bos_id().has_value();
  int64_t max_ctx = m.model->config().max_position_embeddings - (bos ? 1 : 0);
  o.context = args["context"].as<int64_t>() > 0 ? args["context"].as<int64_t>() : max_ctx;
  DSLA_CHECK(o.context <= max_ctx, "--context {} exceeds the model's {} positions", o.context,
             max_ctx);
  o.stride = args["stride"].as<int64_t>() > 0 ? args["stride"].as<int64_t>() : o.context;
  if (bos) o.bos_id = m.tokenizer->bos_id();
  o.max_tokens = args["max-tokens"].as<int64_t>();
  model::PerplexityResult r = model::compute_perplexity(*m.model, tokens, o);
  std::string protocol = model::describe_protocol(o);
  nlohmann::json j = {{"file", path},
                      {"model_dir", m.dir.string()},
                      {"text_tokens", tokens.size()},
                      {"scored_tokens", r.scored_tokens},
                      {"windows", r.windows},
                      {"mean_nll_nats", r.mean_nll()},
                      {"perplexity", r.perplexity()},
                      {"protocol", protocol}};
  if (args.count("json") != 0) {
    std::cout << j.dump(2) << std::endl;
  } else {
    std::cout << fmt::format(
        "perplexity {:.4f} (mean NLL {:.4f} nats/token) over {} tokens in {} windows\n"
        "protocol: {}\n",
        r.perplexity(), r.mean_nll(), r.scored_tokens, r.windows, protocol);
  }
  return 0;
}

}  // namespace dsla::cli
