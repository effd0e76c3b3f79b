// Implementation of the sliding-window softmax attention baseline and its bounded KV cache.
#include "model/sliding_window_attention.h"

#include <ATen/ATen.h>
#include <torch/autograd.h>

#include "core/error.h"
#include "model/rope.h"
#include "model/softmax_attention.h"

namespace dsla::model {

SlidingWindowAttention::SlidingWindowAttention(const LlamaConfig& c, int64_t window)
    : num_heads_(c.num_attention_heads),
      num_kv_heads_(c.num_key_value_heads),
      head_dim_(c.head_dim),
      window_(window) {
  DSLA_CHECK(window >= 1, "sliding_window: window must be >= 1, got {}", window);
  bool qkv_bias = c.attention_bias || c.qkv_bias;
  auto lin = [&](int64_t in, int64_t out, bool bias) {
    return torch::nn::Linear(torch::nn::LinearOptions(in, out).bias(bias));
  };
  q_proj = register_module("q_proj", lin(c.hidden_size, num_heads_ * head_dim_, qkv_bias));
  k_proj = register_module("k_proj", lin(c.hidden_size, num_kv_heads_ * head_dim_, qkv_bias));
  v_proj = register_module("v_proj", lin(c.hidden_size, num_kv_heads_ * head_dim_, qkv_bias));
  o_proj = register_module("o_proj", lin(num_heads_ * head_dim_, c.hidden_size, c.attention_bias));
}

std::shared_ptr<SlidingWindowAttention> SlidingWindowAttention::from_softmax(
    const AttentionModule& teacher, const LlamaConfig& config, int64_t window) {
  const auto* soft = dynamic_cast<const SoftmaxAttention*>(&teacher);
  DSLA_CHECK(soft != nullptr,
             "sliding_window: can only convert a softmax attention layer, got '{}'",
             teacher.kind());
  auto layer = std::make_shared<SlidingWindowAttention>(config, window);
  torch::NoGradGuard no_grad;
  for (auto [dst, src] : {std::pair{layer->q_proj, soft->q_proj},
                          {layer->k_proj, soft->k_proj},
                          {layer->v_proj, soft->v_proj},
                          {layer->o_proj, soft->o_proj}}) {
    dst->weight.copy_(src->weight);
    if (src->bias.defined()) dst->bias.copy_(src->bias);
  }
  layer->to(soft->q_proj->weight.scalar_type());
  return layer;
}

int64_t SlidingWindowAttention::cache_bytes_per_sequence(int64_t tokens) const {
  return 2 * num_kv_heads_ * head_dim_ * std::min(tokens, window_) *
         static_cast<int64_t>(sizeof(float));
}

namespace {

/// Drops the oldest cached keys so that at most `keep` remain (positions stay implicit: the cache
/// holds the most recent tokens in order).
void trim_cache(LayerCache& cache, int64_t keep) {
  if (!cache.k.defined() || cache.length <= keep) return;
  int64_t drop = cache.length - keep;
  cache.k = cache.k.narrow(2, drop, keep).clone();
  cache.v = cache.v.narrow(2, drop, keep).clone();
  cache.length = keep;
}

}  // namespace

at::Tensor SlidingWindowAttention::forward(const at::Tensor& x, const AttentionContext& ctx,
                                           LayerCache* cache) {
  int64_t b = x.size(0), t = x.size(1);
  // [B, T, H*hd] -> [B, T, H, hd] -> [B, H, T, hd]
  at::Tensor q = q_proj->forward(x).view({b, t, num_heads_, head_dim_});
  at::Tensor k = k_proj->forward(x).view({b, t, num_kv_heads_, head_dim_});
  at::Tensor v = v_proj->forward(x).view({b, t, num_kv_heads_, head_dim_});
  q = apply_rotary(q, ctx.cos, ctx.sin).transpose(1, 2);
  k = apply_rotary(k, ctx.cos, ctx.sin).transpose(1, 2);
  v = v.transpose(1, 2);
  if (cache != nullptr) {
    // `length` counts cached tokens here, not positions: older ones are dropped.
    trim_cache(*cache, window_ - 1);
    std::tie(k, v) = append_kv(*cache, k, v);
  }
  at::Tensor out = causal_attention(q, k, v, window_);  // [B, H, T, hd]
  return o_proj->forward(out.transpose(1, 2).reshape({b, t, num_heads_ * head_dim_}));
}

int64_t state_matched_window(const LlamaConfig& c) {
  return c.num_attention_heads * c.head_dim / c.num_key_value_heads;
}

}  // namespace dsla::model
