// DslaAttention: a decoder layer's attention replaced by dual-state gated linear attention (two
// decays, mixed by gamma), or one gated state for the single variant.
#pragma once

#include <torch/nn/modules/linear.h>

#include <memory>
#include <vector>

#include "model/attention.h"
#include "model/dsla_settings.h"
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

  /// The two log-gates for x [B, T, hidden]: each [B, T, H, d], <= 0.
  std::pair<at::Tensor, at::Tensor> log_gates(const at::Tensor& x);
  /// The mixing weight per head [H] in (0, 1) (ones for a single-state layer).
  at::Tensor gamma();
  const DslaSettings& options() const { return options_; }

  torch::nn::Linear q_proj{nullptr}, k_proj{nullptr}, v_proj{nullptr}, o_proj{nullptr};
  torch::nn::Linear history_gate_down{nullptr}, history_gate_up{nullptr};
  torch::nn::Linear recency_gate_down{nullptr}, recency_gate_up{nullptr};
  at::Tensor gamma_logit;  ///< [1] or [H]; undefined for a single-state layer
  RMSNorm out_norm{nullptr};

 private:
  torch::nn::Linear gate_down(const char* name);
  torch::nn::Linear gate_up(const char* name, const std::vector<double>& decays);
  at::Tensor gate(torch::nn::Linear& down, torch::nn::Linear& up, const at::Tensor& x);

  LlamaConfig config_;
  DslaSettings options_;
  int64_t heads_, kv_heads_, head_dim_;
};

}  // namespace dsla::model
