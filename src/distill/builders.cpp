// Implementation of the recipe builders.
#include "distill/builders.h"

#include <ATen/ATen.h>

#include <cmath>
#include <filesystem>

#include "core/error.h"
#include "data/text_corpus.h"

namespace dsla::distill {

Corpus load_corpus(const config::Recipe& recipe, const Tokenizer& tokenizer) {
  Corpus c;
  const double holdout = recipe.data.holdout_fraction;
  auto eval_cap = static_cast<size_t>(recipe.data.max_eval_tokens);
  for (const auto& file : recipe.data.train_files) {
    auto tokens = data::tokenize_documents(tokenizer, data::read_documents(file), 0);
    // The last `holdout` of the file's tokens are never trained on; they are evaluated.
    auto split = static_cast<size_t>(static_cast<double>(tokens.size()) * (1.0 - holdout));
    if (holdout > 0) {
      size_t end = eval_cap > 0 ? std::min(tokens.size(), split + eval_cap) : tokens.size();
      c.eval.emplace_back(std::filesystem::path(file).stem().string() + "_heldout",
                          std::vector<int64_t>(tokens.begin() + static_cast<long>(split),
                                               tokens.begin() + static_cast<long>(end)));
    }
    if (recipe.data.max_train_tokens > 0) {
      auto cap = static_cast<size_t>(recipe.data.max_train_tokens);
      split = std::min(split, cap > c.train_stream.size() ? cap - c.train_stream.size() : 0);
    }
    c.train_stream.insert(c.train_stream.end(), tokens.begin(),
                          tokens.begin() + static_cast<long>(split));
  }
  for (const auto& file : recipe.data.eval_files) {
    auto tokens = data::tokenize_documents(tokenizer, data::read_documents(file),
                                           static_cast<size_t>(recipe.data.max_eval_tokens));
    c.eval.emplace_back(std::filesystem::path(file).stem().string(), std::move(tokens));
  }
  return c;
}

at::Tensor sequence_batch(const data::PackedSequences& packed, int64_t first, int64_t count) {
  DSLA_CHECK(packed.count() > 0, "no packed training sequences");
  at::Tensor out = at::empty({count, packed.seq_len}, at::kLong);
  auto* dst = out.data_ptr<int64_t>();
  for (int64_t i = 0; i < count; ++i) {
    int64_t row = (first + i) % packed.count();
    std::copy_n(packed.tokens.begin() + row * packed.seq_len, packed.seq_len,
                dst + i * packed.seq_len);
  }
  return out;
}

std::map<std::string, double> evaluate_perplexity(model::LlamaForCausalLMImpl& model,
                                                  const Corpus& corpus,
                                                  const config::Recipe& recipe) {
  std::map<std::string, double> out;
  model::PerplexityOptions o;
  o.context = recipe.data.eval_context > 0 ? recipe.data.eval_context : recipe.data.seq_len;
  o.stride = o.context;
  o.progress = false;
  for (const auto& [name, tokens] : corpus.eval) {
    out[name] = model::compute_perplexity(model, tokens, o).perplexity();
  }
  return out;
}

std::vector<int64_t> fixed_order(const config::DistillSection& d, int64_t num_layers) {
  if (d.order == config::OrderKind::list) {
    for (int64_t layer : d.layers) {
      DSLA_CHECK(layer >= 0 && layer < num_layers,
                 "distill.layers: layer {} is outside the model's [0, {})", layer, num_layers);
    }
    return d.layers;
  }
  DSLA_CHECK(d.order == config::OrderKind::deepest_first, "distill.order '{}' has no fixed order",
             enum_name(d.order));
  std::vector<int64_t> order;
  for (int64_t i = num_layers - 1; i >= 0; --i) order.push_back(i);
  return order;
}

int64_t target_stages(const config::DistillSection& d, int64_t order_size) {
  auto n = static_cast<int64_t>(std::lround(d.fraction * static_cast<double>(order_size)));
  return std::clamp<int64_t>(n, 1, order_size);
}

}  // namespace dsla::distill
