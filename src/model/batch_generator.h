// Batched generation: left-padded prefill of several prompts, then decode steps that drop finished
// rows from the batch.
#pragma once

#include <functional>
#include <vector>

#include "model/generator.h"

namespace dsla::model {

struct BatchGenerateOptions {
  int64_t max_new_tokens = 128;
  SamplingOptions sampling;       ///< one sampler for the batch (greedy by default)
  std::vector<int64_t> stop_ids;  ///< a row ends after emitting any of these (e.g. EOS)
  int64_t pad_id = 0;             ///< id written into padding columns (never attended to)
};

/// Called after each new token of row `row` with the row's tokens so far; true ends the row (e.g.
/// a stop string appeared in its text).
using StopCheck = std::function<bool(size_t row, const std::vector<int64_t>& tokens)>;

/// Generates from every prompt at once; results are in prompt order. Rows are left-padded to the
/// longest prompt, so each row's tokens sit at the same positions as in an unbatched run.
std::vector<GenerateResult> generate_batch(LlamaForCausalLMImpl& model,
                                           const std::vector<std::vector<int64_t>>& prompts,
                                           const BatchGenerateOptions& options,
                                           const StopCheck& should_stop = nullptr);

}  // namespace dsla::model
