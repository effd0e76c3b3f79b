// Low-rank adapters on a layer's q/k/v/o projections for the end-to-end phase: each weight reads
// W0 + (alpha / rank) B A while training and is merged back into W0 when training succeeds.
#pragma once

#include <torch/nn/modules/linear.h>

#include <memory>
#include <vector>

#include "model/attention.h"

namespace dsla::distill {

struct LoraOptions {
  int64_t rank = 8;
  double alpha = 16;  ///< the update is scaled by alpha / rank
};

/// The adapters of a set of linear layers. While the scope lives, each adapted layer's `weight`
/// member is W0 + s B A (recomputed by apply(), inside the autograd graph) and W0 — the registered
/// parameter, what checkpoints read — stays unchanged and needs no gradient. merge() writes
/// W0 + s B A into W0; a scope ended without merge() restores W0 as it was (a failed phase leaves
/// the model untouched). A starts as a seeded Kaiming-uniform draw, B as zeros, so a fresh adapter
/// changes nothing.
class LoraScope {
 public:
  LoraScope(const std::vector<std::shared_ptr<torch::nn::LinearImpl>>& linears,
            const LoraOptions& options, uint64_t seed);
  ~LoraScope();
  LoraScope(const LoraScope&) = delete;
  LoraScope& operator=(const LoraScope&) = delete;

  /// A [rank, in] and B [out, rank] of every adapter: what the optimizer trains.
  std::vector<at::Tensor> parameters() const;
  /// Points every adapted layer's weight at W0 + s B A for the next forward.
  void apply();
  /// W0 <- W0 + s B A for every adapter; the layers read W0 again and the scope is done.
  void merge();

 private:
  struct Adapter {
    std::shared_ptr<torch::nn::LinearImpl> linear;
    at::Tensor base, a, b;  ///< base: the registered weight W0 [out, in]
  };
  at::Tensor delta(const Adapter& adapter) const;  ///< s B A [out, in]
  void restore();

  std::vector<Adapter> adapters_;
  double scale_;
  bool done_ = false;
};

/// The q/k/v/o projections of an attention module (those it has, by child name).
std::vector<std::shared_ptr<torch::nn::LinearImpl>> attention_projections(
    model::AttentionModule& attention);

}  // namespace dsla::distill
