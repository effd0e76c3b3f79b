// Next-token selection: greedy, temperature, top-k and top-p (nucleus) sampling with a seeded
// generator.
#pragma once

#include <ATen/core/Generator.h>
#include <ATen/core/Tensor.h>

#include <cstdint>

#include "model/sampling_options.h"

namespace dsla::model {

class Sampler {
 public:
  explicit Sampler(const SamplingOptions& options);
  /// logits: [B, vocab] on any device -> token ids [B] int64 on the CPU (callers read them).
  at::Tensor next(const at::Tensor& logits);

 private:
  SamplingOptions options_;
  at::Generator generator_;
};

/// Keeps the k largest logits per row and the smallest prefix of sorted probabilities whose mass
/// reaches p; the rest become -inf. logits: [B, vocab] fp32.
at::Tensor filter_top_k_top_p(const at::Tensor& logits, int64_t top_k, double top_p);

}  // namespace dsla::model
