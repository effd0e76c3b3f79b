// Implementation of the SwiGLU MLP.
#include "model/mlp.h"

#include <ATen/ATen.h>

#include "model/linear.h"

namespace dsla::model {

MlpImpl::MlpImpl(const LlamaConfig& c) {
  auto opts = [&](int64_t in, int64_t out) {
    return torch::nn::LinearOptions(in, out).bias(c.mlp_bias);
  };
  gate_proj =
      register_module("gate_proj", torch::nn::Linear(opts(c.hidden_size, c.intermediate_size)));
  up_proj = register_module("up_proj", torch::nn::Linear(opts(c.hidden_size, c.intermediate_size)));
  down_proj =
      register_module("down_proj", torch::nn::Linear(opts(c.intermediate_size, c.hidden_size)));
}

at::Tensor MlpImpl::forward(const at::Tensor& x) {
  return project(down_proj, at::silu(project(gate_proj, x)) * project(up_proj, x));
}

}  // namespace dsla::model
