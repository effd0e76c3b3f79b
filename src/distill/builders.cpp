// Implementation of the recipe builders.
#include "distill/builders.h"

#include <ATen/ATen.h>
#include <fmt/format.h>

#include <cmath>
#include <filesystem>
#include <iostream>

#include "core/error.h"
#include "core/paths.h"
#include "data/text_corpus.h"

namespace dsla::distill {

Corpus load_corpus(const config::Recipe& recipe, const Tokenizer& tokenizer) {
  Corpus c;
  c.copy_fraction = recipe.data.copy_fraction;
  const double holdout = recipe.data.holdout_fraction;
  auto eval_cap = static_cast<size_t>(recipe.data.max_eval_tokens);
  const std::string tokenizer_key = data::tokenizer_hash(recipe.model.path);
  const std::filesystem::path cache = cache_dir() / "tokens";
  auto train_cap = static_cast<size_t>(recipe.data.max_train_tokens);
  size_t trained = 0;
  for (size_t i = 0; i < recipe.data.train_files.size(); ++i) {
    const std::string& file = recipe.data.train_files[i];
    bool hit = false;
    auto tokens = data::cached_tokens(tokenizer, tokenizer_key, file, cache, &hit);
    // The last `holdout` of the file's tokens are never trained on; they are evaluated.
    auto split = static_cast<size_t>(static_cast<double>(tokens->size()) * (1.0 - holdout));
    std::string stem = std::filesystem::path(file).stem().string();
    if (holdout > 0) {
      size_t end = eval_cap > 0 ? std::min(tokens->size(), split + eval_cap) : tokens->size();
      c.eval.emplace_back(stem + "_heldout",
                          std::vector<int64_t>(tokens->data() + split, tokens->data() + end));
      ++c.heldout_streams;
    }
    if (train_cap > 0) split = std::min(split, train_cap > trained ? train_cap - trained : 0);
    trained += split;
    std::cerr << fmt::format("[data] {}: {} tokens ({} trained on), token cache {}\n", file,
                             tokens->size(), split, hit ? "hit" : "written");
    if (split == 0) continue;  // beyond max_train_tokens
    double weight = recipe.data.train_weights.empty() ? static_cast<double>(split)
                                                      : recipe.data.train_weights[i];
    c.train.push_back({stem, tokens, 0, split, weight});
  }
  for (const auto& file : recipe.data.eval_files) {
    auto tokens = data::tokenize_documents(tokenizer, data::read_documents(file),
                                           static_cast<size_t>(recipe.data.max_eval_tokens));
    c.eval.emplace_back(std::filesystem::path(file).stem().string(), std::move(tokens));
  }
  return c;
}

data::SequenceStream Corpus::training_stream(int64_t seq_len, uint64_t seed) const {
  return data::SequenceStream(train, seq_len, seed, copy_fraction);
}

data::SequenceStream Corpus::calibration_stream(int64_t seq_len, uint64_t seed) const {
  return data::SequenceStream(train, seq_len, seed);
}

at::Tensor Corpus::heldout_sequences(int64_t seq_len, int64_t count) const {
  std::vector<at::Tensor> rows;
  auto t = static_cast<size_t>(seq_len);
  for (size_t window = 0; static_cast<int64_t>(rows.size()) < count; ++window) {
    bool any = false;
    for (size_t s = 0; s < heldout_streams && static_cast<int64_t>(rows.size()) < count; ++s) {
      const std::vector<int64_t>& tokens = eval[s].second;
      if ((window + 1) * t > tokens.size()) continue;
      rows.push_back(at::tensor(
          std::vector<int64_t>(tokens.begin() + static_cast<std::ptrdiff_t>(window * t),
                               tokens.begin() + static_cast<std::ptrdiff_t>((window + 1) * t)),
          at::kLong));
      any = true;
    }
    if (!any) break;
  }
  DSLA_CHECK(!rows.empty(),
             "no held-out tail of the train files holds a sequence of {} tokens (raise "
             "data.holdout_fraction or data.max_eval_tokens)",
             seq_len);
  return at::stack(rows);  // [n, seq_len]
}

int64_t Corpus::train_tokens() const {
  int64_t n = 0;
  for (const auto& s : train) n += static_cast<int64_t>(s.end - s.begin);
  return n;
}

at::Tensor next_sequences(data::SequenceStream& stream, int64_t count) {
  std::vector<int64_t> ids = stream.next(count);
  return at::tensor(ids, at::kLong).reshape({count, stream.seq_len()});
}

FitOptions fit_options(const config::Recipe& r, int64_t steps, const std::string& label,
                       uint64_t seed) {
  FitOptions o;
  o.steps = steps;
  o.batch_size = r.distill.batch_size;
  o.lr = r.distill.lr;
  o.max_grad_norm = r.distill.max_grad_norm;
  o.gate_separation = r.distill.gate_separation;
  o.seed = seed;
  o.label = label;
  o.log_every = r.distill.log_every;
  o.freeze_projections = !r.distill.train_projections;
  return o;
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
