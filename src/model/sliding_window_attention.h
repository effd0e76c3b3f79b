// SlidingWindowAttention: the teacher's softmax attention restricted to the last `window` tokens,
// the fixed-memory baseline a converted layer is compared against.
#pragma once

#include <torch/nn/modules/linear.h>

#include <memory>

#include "model/attention.h"
#include "model/llama_config.h"

namespace dsla::model {

class SlidingWindowAttention : public AttentionModule {
 public:
  SlidingWindowAttention(const LlamaConfig& config, int64_t window);
  /// A copy of the teacher's q, k, v, o projections, attending over a window.
  static std::shared_ptr<SlidingWindowAttention> from_softmax(const AttentionModule& teacher,
                                                              const LlamaConfig& config,
                                                              int64_t window);

  /// Like softmax attention, but query t sees keys t-window+1 .. t; the cache keeps only the keys
  /// a later query can still see (window - 1 before each call).
  at::Tensor forward(const at::Tensor& x, const AttentionContext& ctx, LayerCache* cache) override;
  std::string kind() const override { return "sliding_window"; }
  int64_t cache_bytes_per_sequence(int64_t tokens) const override;
  int64_t window() const { return window_; }

  torch::nn::Linear q_proj{nullptr}, k_proj{nullptr}, v_proj{nullptr}, o_proj{nullptr};

 private:
  int64_t num_heads_, num_kv_heads_, head_dim_, window_;
};

/// The window whose KV cache holds as many numbers as a dual-state DSLA layer's two d x d states
/// per head: 2 * H * d * d = 2 * window * KVH * d, i.e. window = H * d / KVH.
int64_t state_matched_window(const LlamaConfig& config);

}  // namespace dsla::model
