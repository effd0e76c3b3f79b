// The teacher's grouped-query softmax attention with RoPE and a KV cache, through
// scaled_dot_product_attention.
#pragma once

#include <torch/nn/modules/linear.h>

#include "model/attention.h"
#include "model/llama_config.h"

namespace dsla::model {

class SoftmaxAttention : public AttentionModule {
 public:
  explicit SoftmaxAttention(const LlamaConfig& config);
  at::Tensor forward(const at::Tensor& x, const AttentionContext& ctx, LayerCache* cache) override;
  std::string kind() const override { return "softmax"; }
  int64_t cache_bytes_per_sequence(int64_t tokens) const override;
  /// The causal attention weights of x [B, T, hidden] (no cache): [B, H, T, T] fp32, rows sum to 1.
  at::Tensor attention_probabilities(const at::Tensor& x, const AttentionContext& ctx);

  torch::nn::Linear q_proj{nullptr}, k_proj{nullptr}, v_proj{nullptr}, o_proj{nullptr};

 protected:
  /// Called with the cache before this call's keys are appended (a windowed variant trims it).
  virtual void before_append(LayerCache& /*cache*/) {}

  int64_t num_heads_, num_kv_heads_, head_dim_;
  std::optional<int64_t> sliding_window_;
};

/// Copies the q, k, v, o projections (weights and biases) of the softmax attention `teacher` into
/// a converted layer's; throws dsla::Error naming `what` when `teacher` is not softmax attention.
void copy_projections(const AttentionModule& teacher, const char* what, torch::nn::Linear& q,
                      torch::nn::Linear& k, torch::nn::Linear& v, torch::nn::Linear& o);

/// Appends k, v [B, KVH, T, hd] to the cache (growing its buffers) and returns all cached k, v so
/// far.
std::pair<at::Tensor, at::Tensor> append_kv(LayerCache& cache, const at::Tensor& k,
                                            const at::Tensor& v);

/// Causal (optionally windowed) attention of q [B, H, Tq, hd] over k, v [B, KVH, Tk, hd], where
/// query i sits at column Tk - Tq + i. With `pad` (int64 [B]), keys at columns < pad[b] -
/// key_column are hidden from row b (a padding query still sees itself, so no row is empty);
/// key_column is the column of key 0 (non-zero when a windowed cache dropped old keys). Returns [B,
/// H, Tq, hd].
at::Tensor causal_attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                            std::optional<int64_t> window, const at::Tensor& pad = {},
                            int64_t key_column = 0);

}  // namespace dsla::model
