// Implementation of the sampler.
#include "model/sampling.h"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>

#include <limits>

#include "core/error.h"

namespace dsla::model {

Sampler::Sampler(const SamplingOptions& options)
    : options_(options), generator_(at::make_generator<at::CPUGeneratorImpl>(options.seed)) {
  DSLA_CHECK(options.temperature >= 0, "temperature must be >= 0, got {}", options.temperature);
  DSLA_CHECK(options.top_k >= 0, "top_k must be >= 0, got {}", options.top_k);
  DSLA_CHECK(options.top_p > 0 && options.top_p <= 1, "top_p must be in (0, 1], got {}",
             options.top_p);
  DSLA_CHECK(options.vocab_limit >= 0, "vocab_limit must be >= 0, got {}", options.vocab_limit);
}

at::Tensor filter_top_k_top_p(const at::Tensor& logits, int64_t top_k, double top_p) {
  at::Tensor out = logits.clone();
  const float neg_inf = -std::numeric_limits<float>::infinity();
  if (top_k > 0 && top_k < logits.size(-1)) {
    at::Tensor kth = std::get<0>(at::topk(logits, top_k, -1)).narrow(-1, top_k - 1, 1);
    out.masked_fill_(logits < kth, neg_inf);
  }
  if (top_p < 1.0) {
    auto [sorted, idx] = at::sort(out, -1, /*descending=*/true);
    at::Tensor cum = at::softmax(sorted, -1).cumsum(-1);
    // Drop a token when the mass before it already reaches top_p (so the first token always stays).
    at::Tensor drop_sorted = (cum - at::softmax(sorted, -1)) >= top_p;
    // Also when top_p is below float precision (it then compares as 0 and would drop every token).
    drop_sorted.select(-1, 0).fill_(false);
    at::Tensor drop = at::zeros_like(drop_sorted).scatter(-1, idx, drop_sorted);
    out.masked_fill_(drop, neg_inf);
  }
  return out;
}

at::Tensor Sampler::next(const at::Tensor& logits) {
  at::Tensor l = logits.to(at::kFloat);
  if (options_.vocab_limit > 0 && options_.vocab_limit < l.size(-1))
    l = l.narrow(-1, 0, options_.vocab_limit);  // [B, vocab_limit]: ids past it are never chosen
  // Below 1e-30 a temperature is not a float's worth of difference from greedy (and 1/T overflows).
  if (options_.temperature < 1e-30) return l.argmax(-1).cpu();
  // Each row's largest logit is shifted to 0 before scaling, so any temperature >= 1e-30 gives a
  // row that keeps a 0 and is finite or -inf elsewhere: its softmax is never NaN.
  at::Tensor scaled = (l - std::get<0>(l.max(-1, /*keepdim=*/true))) / options_.temperature;
  at::Tensor filtered = filter_top_k_top_p(scaled, options_.top_k, options_.top_p);
  at::Tensor probs = at::softmax(filtered, -1);
  // Drawn on the CPU (the seeded generator is a CPU one): the same seed gives the same text on
  // every device; [B, vocab] probabilities per step is a small copy.
  return at::multinomial(probs.cpu(), 1, false, generator_).squeeze(-1);
}

}  // namespace dsla::model
