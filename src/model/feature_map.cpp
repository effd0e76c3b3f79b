// Implementation of the DSLA feature maps.
#include "model/feature_map.h"

#include <ATen/ATen.h>

namespace dsla::model {

QkFeatureMapImpl::QkFeatureMapImpl(FeatureMap kind, int64_t heads, int64_t head_dim,
                                   int64_t feature_dim)
    : kind_(kind), output_dim_(head_dim) {
  if (kind != FeatureMap::hedgehog) return;
  int64_t f = feature_dim > 0 ? feature_dim : head_dim;
  output_dim_ = 2 * f;
  // [d, f] identity (rectangular when f != d) per head: at first xW is x itself, as in LoLCATs.
  weight = register_parameter("weight", at::eye(head_dim, f).unsqueeze(0).repeat({heads, 1, 1}));
}

at::Tensor QkFeatureMapImpl::forward(const at::Tensor& x) {
  at::Tensor xf = x.to(at::kFloat);
  at::Tensor y;
  switch (kind_) {
    case FeatureMap::identity:
      return x;
    case FeatureMap::softmax:
      y = at::softmax(xf, -1);
      break;
    case FeatureMap::elu1:
      y = at::elu(xf) + 1;
      break;
    case FeatureMap::relu:
      y = at::relu(xf);
      break;
    case FeatureMap::hedgehog: {
      // [B, T, H, d] x [H, d, f] -> [B, T, H, f]; then both signs' softmax -> [B, T, H, 2f].
      at::Tensor p = at::einsum("bthd,hdf->bthf", {xf, weight.to(at::kFloat)});
      y = at::cat({at::softmax(p, -1), at::softmax(-p, -1)}, -1);
      break;
    }
  }
  return y.to(x.scalar_type());
}

}  // namespace dsla::model
