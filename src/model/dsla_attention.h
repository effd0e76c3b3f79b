// DslaAttention: a decoder layer's attention replaced by dual-state gated linear attention (two
// decays, mixed by gamma), or one gated state for the single variant.
#pragma once

#include <torch/nn/modules/linear.h>

#include <memory>

#include "model/attention.h"
#include "model/dsla_settings.h"
#include "model/llama_config.h"
#include "model/rmsnorm.h"

namespace dsla::model {

class DslaAttention : public AttentionModule {
 public:
  DslaAttention(const LlamaConfig& config, const DslaSettings& options);
  /// A DSLA layer whose q, k, v, o projections are copies of the teacher's (GQA k/v kept at KV-head
  /// size and repeated to all heads in forward).
  static std::shared_ptr<DslaAttention> from_softmax(const AttentionModule& teacher,
                                                     const LlamaConfig& config,
                                                     const DslaSettings& options);

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
  torch::nn::Linear gate_up(const char* name, double decay);
  at::Tensor gate(torch::nn::Linear& down, torch::nn::Linear& up, const at::Tensor& x);

  LlamaConfig config_;
  DslaSettings options_;
  int64_t heads_, kv_heads_, head_dim_;
};

}  // namespace dsla::model
