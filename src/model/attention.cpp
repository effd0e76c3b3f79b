// Implementation of the inference cache bookkeeping in attention.h.
#include "model/attention.h"

#include <ATen/ATen.h>

namespace dsla::model {

int64_t InferenceCache::bytes() const {
  int64_t total = 0;
  for (const auto& l : layers_) {
    for (const at::Tensor* t :
         {&l.k, &l.v, &l.s1, &l.s2, &l.window_k, &l.window_v, &l.sink_k, &l.sink_v}) {
      if (t->defined()) total += t->numel() * t->element_size();
    }
  }
  return total;
}

void InferenceCache::keep_rows(const at::Tensor& rows) {
  for (auto& l : layers_) {
    for (at::Tensor* t :
         {&l.k, &l.v, &l.s1, &l.s2, &l.window_k, &l.window_v, &l.sink_k, &l.sink_v}) {
      if (t->defined()) *t = t->index_select(0, rows.to(t->device()));
    }
  }
}

}  // namespace dsla::model
