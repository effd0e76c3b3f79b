// Implementation of the decoder layer.
#include "model/decoder_layer.h"

namespace dsla::model {

DecoderLayerImpl::DecoderLayerImpl(const LlamaConfig& c, std::shared_ptr<AttentionModule> attention)
    : self_attn_(std::move(attention)) {
  input_layernorm = register_module("input_layernorm", RMSNorm(c.hidden_size, c.rms_norm_eps));
  register_module("self_attn", self_attn_);
  post_attention_layernorm =
      register_module("post_attention_layernorm", RMSNorm(c.hidden_size, c.rms_norm_eps));
  mlp = register_module("mlp", Mlp(c));
}

at::Tensor DecoderLayerImpl::attention_output(const at::Tensor& x, const AttentionContext& ctx,
                                              LayerCache* cache) {
  return self_attn_->forward(input_layernorm->forward(x), ctx, cache);
}

at::Tensor DecoderLayerImpl::forward(const at::Tensor& x, const AttentionContext& ctx,
                                     LayerCache* cache) {
  return feed_forward(x + attention_output(x, ctx, cache));
}

at::Tensor DecoderLayerImpl::feed_forward(const at::Tensor& h) {
  return h + mlp->forward(post_attention_layernorm->forward(h));
}

std::shared_ptr<AttentionModule> DecoderLayerImpl::set_attention(
    std::shared_ptr<AttentionModule> attention) {
  auto previous = self_attn_;
  self_attn_ = std::move(attention);
  replace_module("self_attn", self_attn_);
  return previous;
}

}  // namespace dsla::model
