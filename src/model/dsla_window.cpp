// Implementation of the exact window and sinks of a DSLA layer.
#include "model/dsla_window.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <cmath>
#include <limits>

namespace dsla::model {
namespace {

/// [B, T, KVH, x] -> [B, KVH, T, x] in fp32.
at::Tensor heads_first(const at::Tensor& x) {
  return x.to(at::kFloat).transpose(1, 2);
}

/// Queries [B, c, H, d] grouped by the KV head they share: [B, KVH, G * c, d], row g * c + i
/// holding head kvh * G + g of query i (the order repeat_interleave gives the heads).
at::Tensor grouped_queries(const at::Tensor& q, int64_t kv_heads) {
  int64_t b = q.size(0), c = q.size(1), g = q.size(2) / kv_heads, d = q.size(3);
  return q.to(at::kFloat)
      .view({b, c, kv_heads, g, d})
      .permute({0, 2, 3, 1, 4})
      .reshape({b, kv_heads, g * c, d});
}

/// [B, KVH, G * c, x] -> [B, c, KVH * G, x], the inverse arrangement of grouped_queries.
at::Tensor ungrouped(const at::Tensor& x, int64_t c) {
  int64_t b = x.size(0), kvh = x.size(1), g = x.size(2) / c, n = x.size(3);
  return x.view({b, kvh, g, c, n}).permute({0, 3, 1, 2, 4}).reshape({b, c, kvh * g, n});
}

/// Scores [B, KVH, G * c, keys] with the keys not visible to query i (visible [B, c, keys]) at
/// -inf, viewed as [B, KVH, G, c, keys] so the mask broadcasts over heads.
at::Tensor masked_scores(const at::Tensor& qg, const at::Tensor& keys, const at::Tensor& visible,
                         double scale) {
  constexpr float kInf = std::numeric_limits<float>::infinity();
  at::Tensor scores = at::matmul(qg, keys.transpose(2, 3)) * scale;  // [B, KVH, G*c, keys]
  int64_t b = scores.size(0), kvh = scores.size(1), c = visible.size(1);
  return scores.view({b, kvh, -1, c, scores.size(3)})
      .masked_fill(visible.logical_not().view({b, 1, 1, c, visible.size(2)}), -kInf);
}

}  // namespace

ExactPart exact_window_part(const at::Tensor& q, const WindowKeys& keys, int64_t start,
                            const at::Tensor& pad, int64_t window, int64_t chunk) {
  int64_t t = q.size(1), d = q.size(3), s = keys.sink_k.defined() ? keys.sink_k.size(1) : 0;
  int64_t kv_heads = keys.k.size(2);
  double scale = 1.0 / std::sqrt(static_cast<double>(d));
  auto long_opts = at::TensorOptions().dtype(at::kLong).device(q.device());
  at::Tensor pad_b = pad.to(q.device()).view({-1, 1, 1});                      // [B, 1, 1]
  at::Tensor sink_cols = (pad_b + at::arange(s, long_opts).view({1, 1, -1}));  // [B, 1, S]
  at::Tensor sink_k = s > 0 ? heads_first(keys.sink_k) : at::Tensor();         // [B, KVH, S, d]
  at::Tensor sink_v = s > 0 ? heads_first(keys.sink_v) : at::Tensor();
  // Chunks of the queries and pieces of the keys by split, not by narrowing the whole tensors:
  // the backward of narrow writes a full-size gradient per chunk (quadratic in T).
  std::vector<at::Tensor> q_chunks = at::split(q, chunk, 1), k_pieces = at::split(keys.k, chunk, 1),
                          v_pieces = at::split(keys.v, chunk, 1);
  // Keys index i .. i + span - 1 of keys.k, from the pieces that hold them: [B, span, KVH, x].
  // With one query chunk (decode, short prefill) the keys are narrowed in place: no copy.
  bool one_chunk = q_chunks.size() == 1;
  auto key_span = [&](const at::Tensor& whole, const std::vector<at::Tensor>& pieces, int64_t i,
                      int64_t span) {
    if (one_chunk) return whole.narrow(1, i, span);
    auto first = static_cast<size_t>(i / chunk), last = static_cast<size_t>((i + span - 1) / chunk);
    std::vector<at::Tensor> parts(pieces.begin() + first, pieces.begin() + last + 1);
    at::Tensor joined = parts.size() == 1 ? parts[0] : at::cat(parts, 1);
    return joined.narrow(1, i - static_cast<int64_t>(first) * chunk, span);
  };
  std::vector<at::Tensor> nums, dens;
  for (int64_t a = 0; a < t; a += chunk) {
    int64_t c = std::min(chunk, t - a);
    // Queries a .. a+c-1 see sequence keys a+1 .. a+window+c-1 of keys.k (index i = column
    // start - window + i).
    int64_t span = std::min(window + c, keys.k.size(1) - a);
    at::Tensor qg = grouped_queries(q_chunks[static_cast<size_t>(a / chunk)], kv_heads);
    at::Tensor kc = heads_first(key_span(keys.k, k_pieces, a, span));  // [B, KVH, span, d]
    at::Tensor vc = heads_first(key_span(keys.v, v_pieces, a, span));  // [B, KVH, span, dv]
    at::Tensor qcol = at::arange(start + a, start + a + c, long_opts).view({1, -1, 1});  // [1,c,1]
    at::Tensor kcol = at::arange(start - window + a, start - window + a + span, long_opts)
                          .view({1, 1, -1});                                         // [1,1,span]
    at::Tensor visible = (kcol >= pad_b) & (kcol <= qcol) & (kcol > qcol - window);  // [B, c, span]
    at::Tensor scores = masked_scores(qg, kc, visible, scale);  // [B, KVH, G, c, span]
    // A query with no visible key (a padding column) gets m = -1e30 and all weights 0.
    at::Tensor m = std::get<0>(scores.max(-1, true));  // [B, KVH, G, c, 1]
    at::Tensor sink_scores;  // [B, KVH, G, c, S]: scored apart, the window's keys never copied
    if (s > 0) {
      at::Tensor sink_visible = (sink_cols <= qcol) & (qcol - sink_cols >= window);  // [B, c, S]
      sink_scores = masked_scores(qg, sink_k, sink_visible, scale);
      m = at::maximum(m, std::get<0>(sink_scores.max(-1, true)));
    }
    m = m.clamp_min(-1e30);
    at::Tensor w = at::exp(scores - m);  // [B, KVH, G, c, span]
    int64_t rows = w.size(2) * c;        // G * c
    at::Tensor num =
        at::matmul(w.reshape({w.size(0), kv_heads, rows, span}), vc);  // [B,KVH,G*c,dv]
    at::Tensor den = w.sum(-1, true).reshape({w.size(0), kv_heads, rows, 1});
    if (s > 0) {
      at::Tensor ws = at::exp(sink_scores - m);  // [B, KVH, G, c, S]
      num = num + at::matmul(ws.reshape({ws.size(0), kv_heads, rows, s}), sink_v);
      den = den + ws.sum(-1, true).reshape({ws.size(0), kv_heads, rows, 1});
    }
    nums.push_back(ungrouped(num, c));  // [B, c, H, dv]
    dens.push_back(ungrouped(den, c));  // [B, c, H, 1]
  }
  return {at::cat(nums, 1), at::cat(dens, 1)};
}

at::Tensor entering_mask(int64_t start, int64_t t, int64_t window, int64_t sinks,
                         const at::Tensor& pad) {
  at::Tensor cols = at::arange(start - window, start - window + t, pad.options()).unsqueeze(0);
  return cols >= (pad.unsqueeze(1) + sinks);  // [B, T]
}

at::Tensor updated_sinks(const at::Tensor& sinks, const at::Tensor& new_, int64_t start,
                         const at::Tensor& pad) {
  int64_t s = sinks.size(1), t = new_.size(1);
  at::Tensor index = pad.to(new_.device()).unsqueeze(1) - start +
                     at::arange(s, pad.options().device(new_.device())).unsqueeze(0);  // [B, S]
  at::Tensor here = (index >= 0) & (index < t);
  std::vector<int64_t> view = {index.size(0), s};
  for (int64_t i = 2; i < new_.dim(); ++i) view.push_back(1);
  at::Tensor gathered = new_.gather(1, index.clamp(0, t - 1).view(view).expand_as(sinks));
  return at::where(here.view(view), gathered, sinks);
}

}  // namespace dsla::model
