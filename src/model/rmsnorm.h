// RMSNorm: y = x / sqrt(mean(x^2) + eps) * weight, computed in fp32 as HF Llama does.
#pragma once

#include <torch/nn/module.h>

namespace dsla::model {

class RMSNormImpl : public torch::nn::Module {
 public:
  RMSNormImpl(int64_t dim, double eps);
  /// x: [..., dim] -> [..., dim] in x's dtype.
  at::Tensor forward(const at::Tensor& x);

  at::Tensor weight;  // [dim]

 private:
  double eps_;
};
TORCH_MODULE(RMSNorm);

}  // namespace dsla::model
