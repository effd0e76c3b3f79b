// Implementation of grouped-query softmax attention and its KV cache.
#include "model/softmax_attention.h"

#include <ATen/ATen.h>
#include <torch/autograd.h>

#include <cmath>
#include <limits>

#include "core/error.h"
#include "model/linear.h"
#include "model/rope.h"

namespace dsla::model {

SoftmaxAttention::SoftmaxAttention(const LlamaConfig& c)
    : num_heads_(c.num_attention_heads),
      num_kv_heads_(c.num_key_value_heads),
      head_dim_(c.head_dim),
      sliding_window_(c.sliding_window) {
  bool qkv_bias = c.attention_bias || c.qkv_bias;
  auto lin = [&](int64_t in, int64_t out, bool bias) {
    return torch::nn::Linear(torch::nn::LinearOptions(in, out).bias(bias));
  };
  q_proj = register_module("q_proj", lin(c.hidden_size, num_heads_ * head_dim_, qkv_bias));
  k_proj = register_module("k_proj", lin(c.hidden_size, num_kv_heads_ * head_dim_, qkv_bias));
  v_proj = register_module("v_proj", lin(c.hidden_size, num_kv_heads_ * head_dim_, qkv_bias));
  o_proj = register_module("o_proj", lin(num_heads_ * head_dim_, c.hidden_size, c.attention_bias));
}

int64_t SoftmaxAttention::cache_bytes_per_sequence(int64_t tokens) const {
  return 2 * num_kv_heads_ * head_dim_ * tokens * static_cast<int64_t>(sizeof(float));
}

std::pair<at::Tensor, at::Tensor> append_kv(LayerCache& cache, const at::Tensor& k,
                                            const at::Tensor& v) {
  int64_t t = k.size(2);
  int64_t need = cache.length + t;
  if (!cache.k.defined() || cache.k.size(2) < need) {
    int64_t old = cache.k.defined() ? cache.k.size(2) : 0;
    int64_t cap = std::max({need, 2 * old, int64_t{256}});
    at::Tensor nk = at::empty({k.size(0), k.size(1), cap, k.size(3)}, k.options());
    at::Tensor nv = at::empty({v.size(0), v.size(1), cap, v.size(3)}, v.options());
    if (cache.length > 0) {
      nk.narrow(2, 0, cache.length).copy_(cache.k.narrow(2, 0, cache.length));
      nv.narrow(2, 0, cache.length).copy_(cache.v.narrow(2, 0, cache.length));
    }
    cache.k = nk;
    cache.v = nv;
  }
  cache.k.narrow(2, cache.length, t).copy_(k);
  cache.v.narrow(2, cache.length, t).copy_(v);
  cache.length = need;
  return {cache.k.narrow(2, 0, need), cache.v.narrow(2, 0, need)};
}

at::Tensor causal_attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                            std::optional<int64_t> window, const at::Tensor& pad,
                            int64_t key_column) {
  int64_t tq = q.size(2), tk = k.size(2);
  bool gqa = q.size(1) != k.size(1);
  if (!pad.defined() && !window && tq == tk) {
    return at::scaled_dot_product_attention(q, k, v, {}, 0.0, /*is_causal=*/true, {}, gqa);
  }
  if (!pad.defined() && !window && tq == 1) {
    return at::scaled_dot_product_attention(q, k, v, {}, 0.0, false, {}, gqa);
  }
  // Query i (cache index tk - tq + i) sees keys j with j <= pos and, with a window, j > pos -
  // window.
  at::Tensor pos = at::arange(tk - tq, tk, at::kLong).unsqueeze(1);  // [Tq, 1]
  at::Tensor key = at::arange(tk, at::kLong).unsqueeze(0);           // [1, Tk]
  at::Tensor allowed = key <= pos;
  if (window) allowed = allowed & (key > pos - *window);
  if (pad.defined()) {
    // [B, 1, Tk]: keys of real tokens; [B, Tq, Tk] -> [B, 1, Tq, Tk] to broadcast over heads.
    at::Tensor real = (key + key_column).unsqueeze(0) >= pad.to(at::kLong).view({-1, 1, 1});
    allowed = ((allowed.unsqueeze(0) & real) | (key == pos).unsqueeze(0)).unsqueeze(1);
  }
  return at::scaled_dot_product_attention(q, k, v, allowed.to(q.device()), 0.0, false, {}, gqa);
}

at::Tensor SoftmaxAttention::forward(const at::Tensor& x, const AttentionContext& ctx,
                                     LayerCache* cache) {
  int64_t b = x.size(0), t = x.size(1);
  // [B, T, H*hd] -> [B, T, H, hd]
  at::Tensor q = project(q_proj, x).view({b, t, num_heads_, head_dim_});
  at::Tensor k = project(k_proj, x).view({b, t, num_kv_heads_, head_dim_});
  at::Tensor v = project(v_proj, x).view({b, t, num_kv_heads_, head_dim_});
  q = apply_rotary(q, ctx.cos, ctx.sin).transpose(1, 2);  // [B, H, T, hd]
  k = apply_rotary(k, ctx.cos, ctx.sin).transpose(1, 2);  // [B, KVH, T, hd]
  v = v.transpose(1, 2);
  if (cache != nullptr) {
    before_append(*cache);
    std::tie(k, v) = append_kv(*cache, k, v);
  }
  // Cache index 0 holds column start_pos + t - (cached keys): non-zero once a window trimmed it.
  int64_t key_column = ctx.start_pos + t - k.size(2);
  at::Tensor out = causal_attention(q, k, v, sliding_window_, ctx.pad, key_column);  // [B,H,T,hd]
  return project(o_proj, out.transpose(1, 2).reshape({b, t, num_heads_ * head_dim_}));
}

}  // namespace dsla::model

namespace dsla::model {

void copy_projections(const AttentionModule& teacher, const char* what, torch::nn::Linear& q,
                      torch::nn::Linear& k, torch::nn::Linear& v, torch::nn::Linear& o) {
  const auto* soft = dynamic_cast<const SoftmaxAttention*>(&teacher);
  DSLA_CHECK(soft != nullptr, "{}: can only convert a softmax attention layer, got '{}'", what,
             teacher.kind());
  torch::NoGradGuard no_grad;
  for (auto [dst, src] :
       {std::pair{q, soft->q_proj}, {k, soft->k_proj}, {v, soft->v_proj}, {o, soft->o_proj}}) {
    dst->weight.copy_(src->weight);
    if (src->bias.defined()) dst->bias.copy_(src->bias);
  }
}

at::Tensor SoftmaxAttention::attention_probabilities(const at::Tensor& x,
                                                     const AttentionContext& ctx) {
  int64_t b = x.size(0), t = x.size(1);
  // [B, T, H*hd] -> [B, H, T, hd]; k repeated from KV heads to all heads.
  at::Tensor q = project(q_proj, x).view({b, t, num_heads_, head_dim_});
  at::Tensor k = project(k_proj, x).view({b, t, num_kv_heads_, head_dim_});
  q = apply_rotary(q, ctx.cos, ctx.sin).transpose(1, 2).to(at::kFloat);
  k = apply_rotary(k, ctx.cos, ctx.sin).transpose(1, 2).to(at::kFloat);
  if (num_heads_ != num_kv_heads_) k = k.repeat_interleave(num_heads_ / num_kv_heads_, 1);
  at::Tensor scores = at::matmul(q, k.transpose(2, 3)) / std::sqrt(static_cast<double>(head_dim_));
  at::Tensor pos = at::arange(t, at::kLong).unsqueeze(1);  // [T, 1]
  at::Tensor key = at::arange(t, at::kLong).unsqueeze(0);  // [1, T]
  at::Tensor allowed = key <= pos;
  if (sliding_window_) allowed = allowed & (key > pos - *sliding_window_);
  scores = scores.masked_fill(allowed.logical_not().to(scores.device()),
                              -std::numeric_limits<float>::infinity());
  return at::softmax(scores, -1);  // [B, H, T, T]
}

}  // namespace dsla::model
