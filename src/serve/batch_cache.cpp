// Implementation of merging, padding and trimming a running batch's per-layer caches.
#include "serve/batch_cache.h"

#include <ATen/ATen.h>

#include <utility>

#include "core/error.h"

namespace dsla::serve {
namespace {

/// The first `columns` columns of a softmax layer's K or V [B, KVH, capacity, hd].
at::Tensor used(const at::Tensor& kv, int64_t columns) {
  return kv.narrow(2, 0, columns);
}

/// kv [B, KVH, T, hd] with `n` zero columns in front: [B, KVH, n + T, hd].
at::Tensor zeros_in_front(const at::Tensor& kv, int64_t n) {
  if (n == 0) return kv;
  auto sizes = kv.sizes().vec();
  sizes[2] = n;
  return at::cat({at::zeros(sizes, kv.options()), kv}, 2);
}

}  // namespace

void BatchCache::pad_left(int64_t n) {
  if (n == 0) return;
  for (int64_t i = 0; i < cache_.num_layers(); ++i) {
    model::LayerCache& l = cache_.layer(i);
    if (l.k.defined()) {
      l.k = zeros_in_front(used(l.k, columns_), n);
      l.v = zeros_in_front(used(l.v, columns_), n);
    }
    l.length = columns_ + n;
  }
  pad_ = pad_ + n;
  columns_ += n;
}

void BatchCache::append(model::InferenceCache&& other, int64_t other_rows, int64_t other_columns) {
  DSLA_CHECK(other.num_layers() == cache_.num_layers(), "cache of {} layers joins one of {}",
             other.num_layers(), cache_.num_layers());
  if (rows() == 0) {
    cache_ = std::move(other);
    pad_ = at::zeros({other_rows}, at::kLong);
    columns_ = other_columns;
    return;
  }
  if (other_columns > columns_) pad_left(other_columns - columns_);
  int64_t extra = columns_ - other_columns;  // the newcomer's padding
  for (int64_t i = 0; i < cache_.num_layers(); ++i) {
    model::LayerCache &l = cache_.layer(i), &o = other.layer(i);
    DSLA_CHECK(l.k.defined() == o.k.defined() && l.s1.defined() == o.s1.defined(),
               "layer {}: a row of another attention kind joins the batch", i);
    if (l.k.defined()) {
      l.k = at::cat({used(l.k, columns_), zeros_in_front(used(o.k, other_columns), extra)}, 0);
      l.v = at::cat({used(l.v, columns_), zeros_in_front(used(o.v, other_columns), extra)}, 0);
    }
    // States and window buffers are per row and aligned to the newest column: rows stack.
    for (auto [mine, theirs] : {std::pair{&l.s1, &o.s1},
                                {&l.s2, &o.s2},
                                {&l.window_k, &o.window_k},
                                {&l.window_v, &o.window_v},
                                {&l.sink_k, &o.sink_k},
                                {&l.sink_v, &o.sink_v}}) {
      if (mine->defined()) *mine = at::cat({*mine, *theirs}, 0);
    }
    l.length = columns_;
  }
  pad_ = at::cat({pad_, at::full({other_rows}, extra, at::kLong)});
}

void BatchCache::keep_rows(const at::Tensor& keep) {
  if (keep.numel() == 0) {
    cache_ = model::InferenceCache(cache_.num_layers());
    pad_ = at::Tensor();
    columns_ = 0;
    return;
  }
  cache_.keep_rows(keep);
  pad_ = pad_.index_select(0, keep);
  int64_t drop = pad_.min().item<int64_t>();
  if (drop == 0) return;
  for (int64_t i = 0; i < cache_.num_layers(); ++i) {
    model::LayerCache& l = cache_.layer(i);
    if (l.k.defined()) {
      l.k = l.k.narrow(2, drop, columns_ - drop).contiguous();
      l.v = l.v.narrow(2, drop, columns_ - drop).contiguous();
    }
    l.length = columns_ - drop;
  }
  pad_ = pad_ - drop;
  columns_ -= drop;
}

}  // namespace dsla::serve
