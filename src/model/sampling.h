// Next-token selection: greedy, temperature, top-k and top-p (nucleus) sampling with a seeded
// generator.
#pragma once

#include <ATen/core/Generator.h>
#include <ATen/core/Tensor.h>

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

class Sampler {
 public:
  explicit Sampler(const SamplingOptions& options);
  /// logits: [B, vocab] -> token ids [B] int64.
  at::Tensor next(const at::Tensor& logits);

 private:
  SamplingOptions options_;
  at::Generator generator_;
};

/// Keeps the k largest logits per row and the smallest prefix of sorted probabilities whose mass
/// reaches p; the rest become -inf. logits: [B, vocab] fp32.
at::Tensor filter_top_k_top_p(const at::Tensor& logits, int64_t top_k, double top_p);

}  // namespace dsla::model
