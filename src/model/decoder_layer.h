// One pre-norm decoder layer: x + attn(norm(x)), then + mlp(norm(.)), with a swappable attention
// module.
#pragma once

#include <memory>

#include "model/attention.h"
#include "model/mlp.h"
#include "model/rmsnorm.h"

namespace dsla::model {

class DecoderLayerImpl : public torch::nn::Module {
 public:
  DecoderLayerImpl(const LlamaConfig& config, std::shared_ptr<AttentionModule> attention);
  /// x: [B, T, hidden] -> [B, T, hidden].
  at::Tensor forward(const at::Tensor& x, const AttentionContext& ctx, LayerCache* cache);
  /// The attention output alone for a layer input x (what attention transfer trains against).
  at::Tensor attention_output(const at::Tensor& x, const AttentionContext& ctx, LayerCache* cache);
  /// The second half of the layer: h + mlp(norm(h)), for h = x + attention output.
  at::Tensor feed_forward(const at::Tensor& h);

  /// Replaces the attention module (keeps the parameter name "self_attn"); returns the previous
  /// one.
  std::shared_ptr<AttentionModule> set_attention(std::shared_ptr<AttentionModule> attention);
  const std::shared_ptr<AttentionModule>& attention() const { return self_attn_; }

  RMSNorm input_layernorm{nullptr}, post_attention_layernorm{nullptr};
  Mlp mlp{nullptr};

 private:
  std::shared_ptr<AttentionModule> self_attn_;
};
TORCH_MODULE(DecoderLayer);

}  // namespace dsla::model
