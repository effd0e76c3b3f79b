// Rotary position embeddings (HF rotate_half layout), with Llama-3 frequency scaling.
#pragma once

#include <ATen/core/Tensor.h>

#include "model/llama_config.h"

namespace dsla::model {

/// Precomputed cos/sin tables; grows on demand for longer sequences.
class RotaryEmbedding {
 public:
  explicit RotaryEmbedding(const LlamaConfig& config);
  /// cos and sin for positions [start, start + length): each [length, head_dim] fp32.
  std::pair<at::Tensor, at::Tensor> table(int64_t start, int64_t length);
  /// cos and sin [B, T, head_dim] for integer positions [B, T] (clamped at 0).
  std::pair<at::Tensor, at::Tensor> table_at(const at::Tensor& positions);
  /// Keeps the tables on `device` (the model's), so no call copies them there.
  void to(const c10::Device& device);
  /// The inverse frequencies [head_dim / 2], after scaling.
  const at::Tensor& inv_freq() const { return inv_freq_; }

 private:
  void grow(int64_t positions);
  at::Tensor inv_freq_, cos_, sin_;
  int64_t head_dim_;
};

/// Rotates x [B, T, H, head_dim] by cos/sin [T, head_dim] (or per row [B, T, head_dim]):
/// x * cos + rotate_half(x) * sin (in x's dtype).
at::Tensor apply_rotary(const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin);

}  // namespace dsla::model
