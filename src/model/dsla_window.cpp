// Implementation of the exact window and sinks of a DSLA layer.
#include "model/dsla_window.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <cmath>
#include <limits>

namespace dsla::model {
namespace {

/// [B, T, H, x] -> [B, H, T, x] in fp32.
at::Tensor heads_first(const at::Tensor& x) {
  return x.to(at::kFloat).transpose(1, 2);
}

}  // namespace

ExactPart exact_window_part(const at::Tensor& q, const WindowKeys& keys, int64_t start,
                            const at::Tensor& pad, int64_t window, int64_t chunk) {
  int64_t t = q.size(1), d = q.size(3), s = keys.sink_k.defined() ? keys.sink_k.size(1) : 0;
  double scale = 1.0 / std::sqrt(static_cast<double>(d));
  auto long_opts = at::TensorOptions().dtype(at::kLong).device(q.device());
  at::Tensor pad_b = pad.to(q.device()).view({-1, 1, 1});                      // [B, 1, 1]
  at::Tensor sink_cols = (pad_b + at::arange(s, long_opts).view({1, 1, -1}));  // [B, 1, S]
  at::Tensor sink_k = s > 0 ? heads_first(keys.sink_k) : at::Tensor();         // [B, H, S, d]
  at::Tensor sink_v = s > 0 ? heads_first(keys.sink_v) : at::Tensor();
  // Chunks of the queries and pieces of the keys by split, not by narrowing the whole tensors:
  // the backward of narrow writes a full-size gradient per chunk (quadratic in T).
  std::vector<at::Tensor> q_chunks = at::split(q, chunk, 1), k_pieces = at::split(keys.k, chunk, 1),
                          v_pieces = at::split(keys.v, chunk, 1);
  // Keys index i .. i + span - 1 of keys.k, from the pieces that hold them: [B, span, H, x].
  auto key_span = [&](const std::vector<at::Tensor>& pieces, int64_t i, int64_t span) {
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
    at::Tensor qc = heads_first(q_chunks[static_cast<size_t>(a / chunk)]);  // [B, H, c, d]
    at::Tensor kc = heads_first(key_span(k_pieces, a, span));               // [B, H, span, d]
    at::Tensor vc = heads_first(key_span(v_pieces, a, span));               // [B, H, span, dv]
    at::Tensor qcol = at::arange(start + a, start + a + c, long_opts).view({1, -1, 1});  // [1,c,1]
    at::Tensor kcol = at::arange(start - window + a, start - window + a + span, long_opts)
                          .view({1, 1, -1});                                         // [1,1,span]
    at::Tensor visible = (kcol >= pad_b) & (kcol <= qcol) & (kcol > qcol - window);  // [B, c, span]
    at::Tensor scores = at::matmul(qc, kc.transpose(2, 3)) * scale;                  // [B,H,c,span]
    at::Tensor values = vc;
    if (s > 0) {
      at::Tensor sink_visible = (sink_cols <= qcol) & (qcol - sink_cols >= window);  // [B, c, S]
      visible = at::cat({visible, sink_visible}, 2);
      scores = at::cat({scores, at::matmul(qc, sink_k.transpose(2, 3)) * scale}, 3);
      values = at::cat({vc, sink_v}, 2);
    }
    scores = scores.masked_fill(visible.logical_not().unsqueeze(1),
                                -std::numeric_limits<float>::infinity());
    // A query with no visible key (a padding column) gets m = -1e30 and all weights 0.
    at::Tensor m = std::get<0>(scores.max(-1, true)).clamp_min(-1e30);
    at::Tensor w = at::exp(scores - m);                     // [B, H, c, keys]
    nums.push_back(at::matmul(w, values).transpose(1, 2));  // [B, c, H, dv]
    dens.push_back(w.sum(-1, true).transpose(1, 2));        // [B, c, H, 1]
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
