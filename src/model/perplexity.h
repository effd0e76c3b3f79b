// Perplexity of a token stream with a sliding window (the HF "strided perplexity" protocol).
#pragma once

#include <string>
#include <vector>

#include "model/llama.h"

namespace dsla::model {

struct PerplexityOptions {
  int64_t context = 512;  ///< tokens of text per window (BOS excluded)
  int64_t stride =
      512;  ///< new tokens scored per window; < context gives each window overlap as context
  std::optional<int64_t>
      bos_id;  ///< prepended to every window when set (the first text token is scored too)
  int64_t max_tokens = 0;  ///< score at most this many tokens (0 = all)
  bool progress = true;
};

struct PerplexityResult {
  double nll_sum = 0;
  int64_t scored_tokens = 0;
  int64_t windows = 0;
  double mean_nll() const {
    return scored_tokens ? nll_sum / static_cast<double>(scored_tokens) : 0;
  }
  double perplexity() const;
};

/// Window w covers text tokens [begin, end) with begin = max(0, end - context) and end advancing by
/// `stride`; only tokens not scored by an earlier window count. Without BOS the very first token is
/// not scored.
/// One sentence saying how the windows were made (for reports next to the numbers).
std::string describe_protocol(const PerplexityOptions& options);

PerplexityResult compute_perplexity(LlamaForCausalLMImpl& model, const std::vector<int64_t>& tokens,
                                    const PerplexityOptions& options);

}  // namespace dsla::model
