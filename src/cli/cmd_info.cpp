// dsla info: a summary of a model directory (architecture, parameters, memory, cache cost,
// attention kinds).
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <iostream>
#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "cli/model_loading.h"

namespace dsla::cli {
namespace {

/// "softmax x3, dsla x2": runs of equal consecutive kinds, in layer order.
std::string summarize_kinds(const std::vector<std::string>& kinds) {
  std::vector<std::string> runs;
  for (size_t i = 0; i < kinds.size();) {
    size_t j = i;
    while (j < kinds.size() && kinds[j] == kinds[i]) ++j;
    runs.push_back(fmt::format("layers {}-{} {}", i, j - 1, kinds[i]));
    i = j;
  }
  return fmt::format("{}", fmt::join(runs, ", "));
}

}  // namespace

int run_info(int argc, char** argv) {
  cxxopts::Options options("dsla info", "Print a summary of a model directory.");
  add_model_options(options);
  options.add_options()("json", "print JSON instead of text");
  auto parsed = parse_or_help(options, argc, argv);
  if (!parsed) return 0;
  LoadedModel m = load_model_from_options(*parsed);
  const model::LlamaConfig& c = m.model->config();
  int64_t params = 0, bytes = 0;
  for (const auto& p : m.model->parameters()) {
    params += p.numel();
    bytes += p.numel() * p.element_size();
  }
  // A sequence's cache: a fixed part (DSLA states, window and sink buffers) plus a part that grows
  // with its length (softmax KV, up to a window for sliding-window layers), at the full context.
  int64_t context = c.max_position_embeddings, cache_fixed = 0, cache_at_context = 0;
  std::vector<std::string> kinds;
  for (int64_t i = 0; i < c.num_hidden_layers; ++i) {
    const auto& attn = m.model->layer(i).attention();
    kinds.push_back(attn->kind());
    cache_fixed += attn->cache_bytes_per_sequence(0);
    cache_at_context += attn->cache_bytes_per_sequence(context);
  }
  int64_t cache_per_token = (cache_at_context - cache_fixed) / std::max<int64_t>(context, 1);
  nlohmann::json j = {{"model_dir", m.dir.string()},
                      {"model_type", c.model_type},
                      {"layers", c.num_hidden_layers},
                      {"hidden_size", c.hidden_size},
                      {"intermediate_size", c.intermediate_size},
                      {"heads", c.num_attention_heads},
                      {"kv_heads", c.num_key_value_heads},
                      {"head_dim", c.head_dim},
                      {"vocab_size", c.vocab_size},
                      {"max_position_embeddings", c.max_position_embeddings},
                      {"rope_theta", c.rope_theta},
                      {"tied_embeddings", c.tie_word_embeddings},
                      {"parameters", params},
                      {"weight_bytes", bytes},
                      {"kv_cache_bytes_per_token", cache_per_token},
                      {"cache_bytes_fixed", cache_fixed},
                      {"cache_bytes_at_context", cache_at_context},
                      {"attention", kinds},
                      {"tokenizer", m.tokenizer->kind()},
                      {"tokenizer_vocab", m.tokenizer->vocab_size()},
                      {"threads", m.threads}};
  if (parsed->count("json") != 0) {
    std::cout << j.dump(2) << std::endl;
    return 0;
  }
  std::cout << fmt::format(
      "model        {}\n"
      "type         {} ({} layers, hidden {}, MLP {}, heads {} / KV heads {}, head_dim {})\n"
      "vocab        {} (tokenizer: {}, {} ids)\n"
      "context      {} positions, RoPE theta {}{}\n"
      "parameters   {} ({:.2f} M), weights {:.1f} MiB\n"
      "cache        {} bytes per sequence + {} bytes per token ({:.1f} MiB at {} tokens)\n"
      "attention    {}\n",
      m.dir.string(), c.model_type, c.num_hidden_layers, c.hidden_size, c.intermediate_size,
      c.num_attention_heads, c.num_key_value_heads, c.head_dim, c.vocab_size, m.tokenizer->kind(),
      m.tokenizer->vocab_size(), c.max_position_embeddings, c.rope_theta,
      c.rope_scaling.type.empty() ? "" : " (" + c.rope_scaling.type + " scaling)", params,
      static_cast<double>(params) / 1e6, static_cast<double>(bytes) / (1 << 20), cache_fixed,
      cache_per_token, static_cast<double>(cache_at_context) / (1 << 20), context,
      summarize_kinds(kinds));
  return 0;
}

}  // namespace dsla::cli
