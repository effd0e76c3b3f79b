// Implementation of the sliding-window softmax attention baseline and its bounded KV cache.
#include "model/sliding_window_attention.h"

#include <ATen/ATen.h>

#include "core/error.h"

namespace dsla::model {

SlidingWindowAttention::SlidingWindowAttention(const LlamaConfig& c, int64_t window)
    : SoftmaxAttention(c) {
  DSLA_CHECK(window >= 1, "sliding_window: window must be >= 1, got {}", window);
  sliding_window_ = window;
}

std::shared_ptr<SlidingWindowAttention> SlidingWindowAttention::from_softmax(
    const AttentionModule& teacher, const LlamaConfig& config, int64_t window) {
  auto layer = std::make_shared<SlidingWindowAttention>(config, window);
  copy_projections(teacher, "sliding_window", layer->q_proj, layer->k_proj, layer->v_proj,
                   layer->o_proj);
  layer->to(teacher.parameters().front().scalar_type());
  return layer;
}

int64_t SlidingWindowAttention::cache_bytes_per_sequence(int64_t tokens) const {
  return SoftmaxAttention::cache_bytes_per_sequence(std::min(tokens, window()));
}

void SlidingWindowAttention::before_append(LayerCache& cache) {
  // Drop the oldest cached keys so that window - 1 remain for this call's first query.
  int64_t keep = window() - 1;
  if (!cache.k.defined() || cache.length <= keep) return;
  int64_t drop = cache.length - keep;
  cache.k = cache.k.narrow(2, drop, keep).clone();
  cache.v = cache.v.narrow(2, drop, keep).clone();
  cache.length = keep;
}

}  // namespace dsla::model
