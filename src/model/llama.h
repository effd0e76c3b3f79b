// LlamaForCausalLM: embeddings, decoder layers, final norm and LM head, with HF parameter names.
#pragma once

#include <torch/nn/modules/container/modulelist.h>
#include <torch/nn/modules/embedding.h>
#include <torch/nn/modules/linear.h>

#include <functional>

#include "model/decoder_layer.h"
#include "model/rope.h"

namespace dsla::model {

/// The "model." part of LlamaForCausalLM.
class LlamaBackboneImpl : public torch::nn::Module {
 public:
  explicit LlamaBackboneImpl(const LlamaConfig& config);
  torch::nn::Embedding embed_tokens{nullptr};
  torch::nn::ModuleList layers{nullptr};
  RMSNorm norm{nullptr};
};
TORCH_MODULE(LlamaBackbone);

/// Which positions get logits: every position (perplexity, training) or the last only (generation).
enum class LogitsFor { kAll, kLast };

/// The attention half of decoder layer `layer` for its normalised input x [B, T, hidden]; returns
/// the attention output [B, T, hidden] that is added to the residual stream.
using AttentionStep = std::function<at::Tensor(int64_t layer, const at::Tensor& x)>;

class LlamaForCausalLMImpl : public torch::nn::Module {
 public:
  explicit LlamaForCausalLMImpl(LlamaConfig config);

  /// ids: [B, T] int64 at positions start_pos.. -> logits [B, T, vocab] (or [B, 1, vocab] for
  /// kLast), fp32. With a cache, layers read earlier positions from it and append these.
  /// `pad` (int64 [B]) marks a left-padded batch: row b's first pad[b] columns are padding, so
  /// start_pos counts columns and row b's tokens sit at positions column - pad[b].
  at::Tensor forward(const at::Tensor& ids, int64_t start_pos = 0, InferenceCache* cache = nullptr,
                     LogitsFor which = LogitsFor::kAll, const at::Tensor& pad = {});
  /// The one walk of the decoder stack: runs layers [from, to) on the residual stream h
  /// [B, T, hidden], each as h + attend(i, input_norm(h)) followed by its feed-forward half.
  at::Tensor forward_layers(at::Tensor h, int64_t from, int64_t to, const AttentionStep& attend);
  /// The usual attention step: each layer's own module with `ctx` and, when given, its cache.
  AttentionStep own_attention(const AttentionContext& ctx, InferenceCache* cache);
  /// Hidden states after the final norm: [B, T, hidden].
  at::Tensor hidden_states(const at::Tensor& ids, int64_t start_pos, InferenceCache* cache,
                           const at::Tensor& pad = {});
  /// The residual stream entering layer `layer` (embeddings for layer 0): [B, T, hidden]. No cache.
  at::Tensor residual_before(const at::Tensor& ids, int64_t layer);
  /// Logits [B, T, vocab] of a residual stream h entering layer `layer` (layers layer.., final
  /// norm, head). No cache.
  at::Tensor logits_from(const at::Tensor& h, int64_t layer);
  /// Positions start_pos .. start_pos + tokens - 1 and their rotary tables.
  /// With `pad` [B], per-row positions column - pad[b] (see forward).
  AttentionContext make_context(int64_t start_pos, int64_t tokens, const at::Tensor& pad = {});
  /// Projects final hidden states [B, T, hidden] to logits [B, T, vocab].
  at::Tensor logits(const at::Tensor& hidden);

  const LlamaConfig& config() const { return config_; }
  int64_t num_layers() const { return config_.num_hidden_layers; }
  /// Where the weights are (inputs on another device are moved there on entry).
  c10::Device device() const;
  DecoderLayerImpl& layer(int64_t i);
  RotaryEmbedding& rope() { return rope_; }
  InferenceCache make_cache() const { return InferenceCache(config_.num_hidden_layers); }

  LlamaBackbone model{nullptr};
  torch::nn::Linear lm_head{nullptr};  ///< null when tied to the embeddings

 private:
  LlamaConfig config_;
  RotaryEmbedding rope_;
};
TORCH_MODULE(LlamaForCausalLM);

}  // namespace dsla::model
