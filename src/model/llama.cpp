// Implementation of LlamaForCausalLM.
#include "model/llama.h"

#include <ATen/ATen.h>

#include "core/error.h"
#include "model/linear.h"
#include "model/softmax_attention.h"

namespace dsla::model {

LlamaBackboneImpl::LlamaBackboneImpl(const LlamaConfig& c) {
  embed_tokens = register_module("embed_tokens", torch::nn::Embedding(c.vocab_size, c.hidden_size));
  layers = register_module("layers", torch::nn::ModuleList());
  for (int64_t i = 0; i < c.num_hidden_layers; ++i) {
    layers->push_back(DecoderLayer(c, std::make_shared<SoftmaxAttention>(c)));
  }
  norm = register_module("norm", RMSNorm(c.hidden_size, c.rms_norm_eps));
}

LlamaForCausalLMImpl::LlamaForCausalLMImpl(LlamaConfig config)
    : config_(std::move(config)), rope_(config_) {
  model = register_module("model", LlamaBackbone(config_));
  if (!config_.tie_word_embeddings) {
    lm_head = register_module(
        "lm_head",
        torch::nn::Linear(
            torch::nn::LinearOptions(config_.hidden_size, config_.vocab_size).bias(false)));
  }
}

DecoderLayerImpl& LlamaForCausalLMImpl::layer(int64_t i) {
  DSLA_CHECK(i >= 0 && i < config_.num_hidden_layers, "layer {} out of range [0, {})", i,
             config_.num_hidden_layers);
  return *model->layers->ptr<DecoderLayerImpl>(static_cast<size_t>(i));
}

c10::Device LlamaForCausalLMImpl::device() const {
  return model->embed_tokens->weight.device();
}

at::Tensor LlamaForCausalLMImpl::hidden_states(const at::Tensor& ids, int64_t start_pos,
                                               InferenceCache* cache, const at::Tensor& pad) {
  DSLA_CHECK(ids.dim() == 2, "input ids must be [batch, tokens], got {} dims", ids.dim());
  DSLA_CHECK(cache == nullptr || cache->num_layers() == config_.num_hidden_layers,
             "cache has {} layers, model has {}", cache ? cache->num_layers() : 0,
             config_.num_hidden_layers);
  DSLA_CHECK(!pad.defined() || (pad.dim() == 1 && pad.size(0) == ids.size(0)),
             "pad must be [batch] = [{}]", ids.size(0));
  AttentionContext ctx = make_context(start_pos, ids.size(1), pad);
  at::Tensor h = model->embed_tokens->forward(ids.to(device()));
  return model->norm->forward(forward_layers(h, 0, num_layers(), own_attention(ctx, cache)));
}

at::Tensor LlamaForCausalLMImpl::forward_layers(at::Tensor h, int64_t from, int64_t to,
                                                const AttentionStep& attend) {
  DSLA_CHECK(from >= 0 && from <= to && to <= num_layers(), "layers [{}, {}) outside [0, {}]", from,
             to, num_layers());
  for (int64_t i = from; i < to; ++i) {
    DecoderLayerImpl& l = layer(i);
    h = l.feed_forward(h + attend(i, l.input_layernorm->forward(h)));
  }
  return h;
}

AttentionStep LlamaForCausalLMImpl::own_attention(const AttentionContext& ctx,
                                                  InferenceCache* cache) {
  return [this, &ctx, cache](int64_t i, const at::Tensor& x) {
    return layer(i).attention()->forward(x, ctx, cache ? &cache->layer(i) : nullptr);
  };
}

AttentionContext LlamaForCausalLMImpl::make_context(int64_t start_pos, int64_t tokens,
                                                    const at::Tensor& pad) {
  AttentionContext ctx;
  ctx.start_pos = start_pos;
  rope_.to(device());
  if (!pad.defined()) {
    std::tie(ctx.cos, ctx.sin) = rope_.table(start_pos, tokens);
    return ctx;
  }
  ctx.pad = pad.to(device(), at::kLong);
  // [1, T] columns - [B, 1] padding = [B, T] positions (negative on padding, clamped to 0).
  at::Tensor columns = at::arange(start_pos, start_pos + tokens, ctx.pad.options()).unsqueeze(0);
  std::tie(ctx.cos, ctx.sin) = rope_.table_at(columns - ctx.pad.unsqueeze(1));
  return ctx;
}

at::Tensor LlamaForCausalLMImpl::residual_before(const at::Tensor& ids, int64_t layer_index) {
  DSLA_CHECK(ids.dim() == 2, "input ids must be [batch, tokens], got {} dims", ids.dim());
  DSLA_CHECK(layer_index >= 0 && layer_index <= config_.num_hidden_layers,
             "layer {} out of range [0, {}]", layer_index, config_.num_hidden_layers);
  AttentionContext ctx = make_context(0, ids.size(1));
  at::Tensor h = model->embed_tokens->forward(ids.to(device()));
  return forward_layers(h, 0, layer_index, own_attention(ctx, nullptr));
}

at::Tensor LlamaForCausalLMImpl::logits_from(const at::Tensor& h_in, int64_t layer_index) {
  DSLA_CHECK(layer_index >= 0 && layer_index <= config_.num_hidden_layers,
             "layer {} out of range [0, {}]", layer_index, config_.num_hidden_layers);
  AttentionContext ctx = make_context(0, h_in.size(1));
  at::Tensor h = forward_layers(h_in, layer_index, num_layers(), own_attention(ctx, nullptr));
  return logits(model->norm->forward(h));
}

at::Tensor LlamaForCausalLMImpl::logits(const at::Tensor& hidden) {
  const at::Tensor& w = lm_head ? lm_head->weight : model->embed_tokens->weight;
  return project(hidden, w).to(at::kFloat);
}

at::Tensor LlamaForCausalLMImpl::forward(const at::Tensor& ids, int64_t start_pos,
                                         InferenceCache* cache, LogitsFor which,
                                         const at::Tensor& pad) {
  at::Tensor h = hidden_states(ids, start_pos, cache, pad);
  if (which == LogitsFor::kLast) h = h.narrow(1, h.size(1) - 1, 1);
  return logits(h);
}

}  // namespace dsla::model
