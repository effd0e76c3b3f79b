// Log-probabilities of chosen tokens and the most likely alternatives, from logits (the API's
// `logprobs` and `echo`).
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <vector>

#include "serve/request.h"

namespace dsla::serve {

/// Row i of `logits` [n, V] scores `tokens[i]`: its log-probability under the softmax over the
/// first `vocab` logits (fp64), and the `top` most likely ids there (none for top = 0).
std::vector<TokenLogprob> token_logprobs(const at::Tensor& logits,
                                         const std::vector<int64_t>& tokens, int64_t top,
                                         int64_t vocab);

}  // namespace dsla::serve
