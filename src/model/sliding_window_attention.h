// SlidingWindowAttention: the teacher's softmax attention restricted to the last `window` tokens,
// the fixed-memory baseline a converted layer is compared against.
#pragma once

#include <memory>

#include "model/softmax_attention.h"

namespace dsla::model {

/// Softmax attention where query t sees keys t-window+1 .. t; the cache keeps only the keys a
/// later query can still see (window - 1 before each call), so its `length` counts cached tokens,
/// not positions.
class SlidingWindowAttention : public SoftmaxAttention {
 public:
  SlidingWindowAttention(const LlamaConfig& config, int64_t window);
  /// A copy of the teacher's q, k, v, o projections, attending over a window.
  static std::shared_ptr<SlidingWindowAttention> from_softmax(const AttentionModule& teacher,
                                                              const LlamaConfig& config,
                                                              int64_t window);

  std::string kind() const override { return "sliding_window"; }
  int64_t cache_bytes_per_sequence(int64_t tokens) const override;
  int64_t window() const { return *sliding_window_; }

 protected:
  void before_append(LayerCache& cache) override;
};

}  // namespace dsla::model
