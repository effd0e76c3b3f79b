// How the next token is chosen (greedy, temperature, top-k, top-p, seed): plain settings, no
// LibTorch (requests and the API parse them; model/sampling.h applies them).
#pragma once

#include <cstdint>

namespace dsla::model {

struct SamplingOptions {
  double temperature = 0.0;  ///< 0 (and anything below 1e-30) = greedy
  int64_t top_k = 0;         ///< 0 = off
  double top_p = 1.0;        ///< 1 = off
  uint64_t seed = 0;
  /// Only ids below this are ever chosen (a tokenizer with fewer ids than the model has logits, a
  /// padded vocabulary); 0 = every logit.
  int64_t vocab_limit = 0;
};

}  // namespace dsla::model
