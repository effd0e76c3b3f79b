// Implementation of token_logprobs.h.
#include "serve/token_logprobs.h"

#include <ATen/ATen.h>

#include "core/error.h"

namespace dsla::serve {

std::vector<TokenLogprob> token_logprobs(const at::Tensor& logits,
                                         const std::vector<int64_t>& tokens, int64_t top,
                                         int64_t vocab) {
  const auto n = static_cast<int64_t>(tokens.size());
  DSLA_CHECK(logits.dim() == 2 && logits.size(0) == n && vocab <= logits.size(1),
             "token_logprobs: {}-d logits for {} tokens over {} ids", logits.dim(), n, vocab);
  at::Tensor lp = logits.narrow(1, 0, vocab).to(at::kDouble).log_softmax(1).cpu();  // [n, vocab]
  at::Tensor chosen = lp.gather(1, at::tensor(tokens, at::kLong).view({n, 1})).view({n});  // [n]
  at::Tensor best_values, best_ids;
  if (top > 0) std::tie(best_values, best_ids) = lp.topk(std::min(top, vocab), 1);  // [n, top]
  auto chosen_at = chosen.accessor<double, 1>();
  std::vector<TokenLogprob> out(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    TokenLogprob& t = out[static_cast<size_t>(i)];
    t.token = tokens[static_cast<size_t>(i)];
    t.logprob = chosen_at[i];
  }
  if (top <= 0) return out;
  auto values = best_values.accessor<double, 2>();
  auto ids = best_ids.accessor<int64_t, 2>();
  for (int64_t i = 0; i < n; ++i) {
    for (int64_t k = 0; k < ids.size(1); ++k) {
      out[static_cast<size_t>(i)].top.emplace_back(ids[i][k], values[i][k]);
    }
  }
  return out;
}

}  // namespace dsla::serve
