// The SwiGLU feed-forward block: down(silu(gate(x)) * up(x)).
#pragma once

#include <torch/nn/module.h>
#include <torch/nn/modules/linear.h>

#include "model/llama_config.h"

namespace dsla::model {

class MlpImpl : public torch::nn::Module {
 public:
  explicit MlpImpl(const LlamaConfig& config);
  /// x: [B, T, hidden] -> [B, T, hidden].
  at::Tensor forward(const at::Tensor& x);

  torch::nn::Linear gate_proj{nullptr}, up_proj{nullptr}, down_proj{nullptr};
};
TORCH_MODULE(Mlp);

}  // namespace dsla::model
