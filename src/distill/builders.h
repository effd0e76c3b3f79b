// Recipe -> objects: the tokenized corpus, evaluation, the conversion order.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "config/recipe.h"
#include "data/mixture.h"
#include "distill/layer_fit.h"
#include "model/conversion.h"
#include "model/perplexity.h"
#include "tokenizer/tokenizer.h"

namespace dsla::distill {

/// The training mixture (each train file's trained part, weighted) and one token stream per
/// evaluation stream (the held-out tail of each train file, then each eval file).
struct Corpus {
  std::vector<data::MixtureSource> train;
  std::vector<std::pair<std::string, std::vector<int64_t>>> eval;  ///< (file stem, tokens)
  size_t heldout_streams = 0;  ///< the first eval streams are the train files' held-out tails
  double copy_fraction = 0;    ///< data.copy_fraction: the training sequences' share of copies

  /// Up to `count` sequences [n, seq_len] from the held-out tails, taken in turn from each tail
  /// (window 0 of every tail, then window 1, ...). Throws when no tail holds a full sequence.
  at::Tensor heldout_sequences(int64_t seq_len, int64_t count) const;

  /// The training sequences of `seq_len` tokens, in the order data::SequenceStream gives them;
  /// `copy_fraction` of them repeat their first half.
  data::SequenceStream training_stream(int64_t seq_len, uint64_t seed) const;
  /// The same sequences without copies (the profile's calibration).
  data::SequenceStream calibration_stream(int64_t seq_len, uint64_t seed) const;
  /// Training tokens available (all sources).
  int64_t train_tokens() const;
};

/// Reads the recipe's data files through the token cache (<cache_dir()>/tokens): the trained part
/// of the train files capped at max_train_tokens in file order, each evaluation stream at
/// max_eval_tokens. Prints one line per file (tokens, cache hit or miss).
Corpus load_corpus(const config::Recipe& recipe, const Tokenizer& tokenizer);

/// The next `count` sequences of `stream` as a tensor [count, seq_len] (int64).
at::Tensor next_sequences(data::SequenceStream& stream, int64_t count);

/// The recipe's optimizer settings for a fitting loop of `steps` steps.
FitOptions fit_options(const config::Recipe& recipe, int64_t steps, const std::string& label,
                       uint64_t seed);

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
