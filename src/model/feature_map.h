// The feature maps a DSLA layer applies to q and k before they meet the states (dsla.feature_map).
#pragma once

#include <torch/nn/module.h>
#include <torch/nn/pimpl.h>

#include "model/dsla_settings.h"

namespace dsla::model {

class QkFeatureMapImpl : public torch::nn::Module {
 public:
  /// The map `kind` for `heads` heads of `head_dim` channels; `feature_dim` is hedgehog's learned
  /// columns per head (0 = head_dim).
  QkFeatureMapImpl(FeatureMap kind, int64_t heads, int64_t head_dim, int64_t feature_dim);
  /// x [B, T, H, head_dim] -> [B, T, H, output_dim()], computed in fp32, returned in x's dtype.
  at::Tensor forward(const at::Tensor& x);
  /// Channels of the mapped feature (2 * feature_dim for hedgehog, head_dim otherwise).
  int64_t output_dim() const { return output_dim_; }
  /// True when every output channel is >= 0 (the maps a q.z normaliser can divide by).
  bool non_negative() const { return kind_ != FeatureMap::identity; }

  at::Tensor weight;  ///< hedgehog only: [H, head_dim, feature_dim], the identity at first

 private:
  FeatureMap kind_;
  int64_t output_dim_;
};
TORCH_MODULE(QkFeatureMap);

}  // namespace dsla::model
