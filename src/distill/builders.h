// Recipe -> objects: the tokenized corpus, evaluation, the conversion order.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "config/recipe.h"
#include "data/packing.h"
#include "model/conversion.h"
#include "model/perplexity.h"
#include "tokenizer/tokenizer.h"

namespace dsla::distill {

/// Training tokens (one stream over all train files) and one token stream per eval file.
struct Corpus {
  std::vector<int64_t> train_stream;
  std::vector<std::pair<std::string, std::vector<int64_t>>> eval;  ///< (file stem, tokens)
};

/// Reads and tokenizes the recipe's data files (train capped at max_train_tokens, each eval file
/// at max_eval_tokens).
Corpus load_corpus(const config::Recipe& recipe, const Tokenizer& tokenizer);

/// Sequences [count, seq_len] (int64) taken from `packed`, starting at sequence `first` and
/// wrapping around.
at::Tensor sequence_batch(const data::PackedSequences& packed, int64_t first, int64_t count);

/// Perplexity on every eval stream: file stem -> perplexity.
std::map<std::string, double> evaluate_perplexity(model::LlamaForCausalLMImpl& model,
                                                  const Corpus& corpus,
                                                  const config::Recipe& recipe);

/// The conversion order for a recipe whose order is deepest_first or list (sensitivity orders
/// come from profiling).
std::vector<int64_t> fixed_order(const config::DistillSection& distill, int64_t num_layers);

/// Stages a run converts: round(fraction * order size), at least 1.
int64_t target_stages(const config::DistillSection& distill, int64_t order_size);

}  // namespace dsla::distill
