// Implementation of project(): the few-rows form of a linear layer.
#include "model/linear.h"

#include <ATen/ATen.h>

namespace dsla::model {

at::Tensor project(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias) {
  int64_t rows = x.numel() / x.size(-1);
  if (rows > kFewRows || x.device() != weight.device() || !weight.is_contiguous()) {
    return at::linear(x, weight, bias);
  }
  auto out_sizes = x.sizes().vec();
  out_sizes.back() = weight.size(0);
  at::Tensor flat = x.reshape({rows, x.size(-1)});             // [rows, in]
  at::Tensor out = at::mm(weight, flat.t()).t().contiguous();  // [out, rows] -> [rows, out]
  if (bias.defined()) out = out + bias;
  return out.reshape(out_sizes);
}

at::Tensor project(const torch::nn::Linear& layer, const at::Tensor& x) {
  return project(x, layer->weight, layer->bias);
}

}  // namespace dsla::model
