// DslaAttention: a decoder layer's attention replaced by dual-state gated linear attention (two
// decays, mixed by gamma), or one gated state for the single variant; optionally with feature maps,
// a q.z normaliser and an exact window plus sinks sharing its denominator.
#pragma once

#include <torch/nn/modules/linear.h>

#include <memory>
#include <vector>

#include "model/attention.h"
#include "model/dsla_settings.h"
#include "model/dsla_window.h"
#include "model/feature_map.h"
#include "model/llama_config.h"
#include "model/rmsnorm.h"

namespace dsla::model {

/// The initial per-token decay of each of a head's `head_dim` channels for one state (the history
/// state, or the recency state when `recency`) of layer `layer` of `num_layers`. gate_init
/// constant: the state's configured decay on every channel. spread (RADLADS): exp(-exp(lo + (hi -
/// lo) * (n / (d - 1))^(0.7 + 1.3 layer / (L - 1)))) for channel n, with [lo, hi] = [-6, -1] for a
/// single state, and [-6, -3.5] (history) and [-3.5, -1] (recency) for two, so each history channel
/// decays slower than the recency channel beside it.
std::vector<double> initial_decays(const DslaSettings& options, bool recency, int64_t layer,
                                   int64_t num_layers, int64_t head_dim);

class DslaAttention : public AttentionModule {
 public:
  /// Layer `layer` of the model (the spread gate initialisation depends on the depth).
  DslaAttention(const LlamaConfig& config, const DslaSettings& options, int64_t layer = 0);
  /// A DSLA layer whose q, k, v, o projections are copies of the teacher's (GQA k/v kept at KV-head
  /// size and repeated to all heads in forward).
  static std::shared_ptr<DslaAttention> from_softmax(const AttentionModule& teacher,
                                                     const LlamaConfig& config,
                                                     const DslaSettings& options,
                                                     int64_t layer = 0);

  at::Tensor forward(const at::Tensor& x, const AttentionContext& ctx, LayerCache* cache) override;
  std::string kind() const override { return "dsla"; }
  int64_t cache_bytes_per_sequence(int64_t tokens) const override;

  /// The two log-gates for x [B, T, hidden]: each [B, T, H, f], <= 0 (f: the feature size).
  std::pair<at::Tensor, at::Tensor> log_gates(const at::Tensor& x);
  /// The mixing weight per head [H] in (0, 1) (ones for a single-state layer).
  at::Tensor gamma();
  const DslaSettings& options() const { return options_; }

  torch::nn::Linear q_proj{nullptr}, k_proj{nullptr}, v_proj{nullptr}, o_proj{nullptr};
  torch::nn::Linear history_gate_down{nullptr}, history_gate_up{nullptr};
  torch::nn::Linear recency_gate_down{nullptr}, recency_gate_up{nullptr};
  at::Tensor gamma_logit;  ///< [1] or [H]; undefined for a single-state layer
  RMSNorm out_norm{nullptr};
  QkFeatureMap q_map{nullptr}, k_map{nullptr};
  at::Tensor temperature_log;    ///< [H], log of q's scale before q_map; only with dsla.temperature
  at::Tensor window_log_weight;  ///< [H], log of the exact part's weight; only with a window

 private:
  /// The states' part for this call: o [B, T, H, dv (+1)] from the kernels, updating the cache.
  at::Tensor linear_part(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                         const at::Tensor& x, LayerCache* cache);
  /// The window and sinks' part for queries q [B, T, H, d]: all_k/all_v are the buffered and new
  /// tokens, k/v the new ones, all at KV heads (sinks are buffered at KV heads too).
  ExactPart exact_part(const at::Tensor& q, const at::Tensor& all_k, const at::Tensor& all_v,
                       const at::Tensor& k, const at::Tensor& v, int64_t start,
                       const at::Tensor& pad, LayerCache* cache);
  /// Heads [B, T, KVH, d] -> [B, T, H, d] (GQA).
  at::Tensor all_heads(const at::Tensor& kv) const;
  torch::nn::Linear gate_down(const char* name);
  torch::nn::Linear gate_up(const char* name, const std::vector<double>& decays);
  at::Tensor gate(torch::nn::Linear& down, torch::nn::Linear& up, const at::Tensor& x);

  LlamaConfig config_;
  DslaSettings options_;
  int64_t heads_, kv_heads_, head_dim_, feature_dim_;
};

}  // namespace dsla::model
