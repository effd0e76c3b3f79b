// Attention transfer: fitting one converted layer to the teacher layer's attention output on the
// current student's hidden states, plus the gate-separation term.
#pragma once

#include <functional>
#include <string>

#include "distill/fit_loop.h"
#include "model/llama.h"

namespace dsla::distill {

/// A converted layer's training data: its normalized inputs and the teacher's attention outputs.
struct LayerIO {
  at::Tensor x;  ///< [N, T, hidden]: input_layernorm of the residual entering the layer
  at::Tensor y;  ///< [N, T, hidden]: the teacher attention's output for x
  /// Training sequences over all ranks (x and y hold this rank's items); 0 = N.
  int64_t samples = 0;
};

/// Runs `student` up to layer `layer` on ids [N, T] (batches of `batch`, no grad) and the teacher's
/// attention on the normalized layer inputs.
LayerIO collect_layer_io(model::LlamaForCausalLMImpl& student, int64_t layer,
                         model::AttentionModule& teacher_attention, const at::Tensor& ids,
                         int64_t batch);

/// The parameters of a student attention layer a fitting loop trains: all of them, or all but the
/// q/k/v/o projections (o.freeze_projections).
std::vector<at::Tensor> trainable_parameters(model::AttentionModule& student, const FitOptions& o);

/// Mean cosine similarity of a dual-state DSLA layer's two log-gates on x over the key channel, or
/// undefined when the layer has no second gate.
at::Tensor gate_cosine(model::AttentionModule& student, const at::Tensor& x);

/// One converted layer's transfer loss on this rank's rows x [b, T, hidden] against the teacher's
/// y: relative MSE over the global batch, sum (s - y)^2 / sum y^2 (1.0 is what predicting zeros
/// scores; this rank's squared errors over the global energy of y), plus the gate-cosine term
/// (weighted by the batch share; undefined without gate_separation or a second gate).
struct TransferLoss {
  at::Tensor mse, cosine;
  at::Tensor total(double gate_separation) const;
};
TransferLoss transfer_loss(model::AttentionModule& student, const at::Tensor& x,
                           const at::Tensor& y, const model::AttentionContext& ctx,
                           const FitBatch& batch, double gate_separation);

/// Trains `student`'s parameters so student(x) matches y (relative MSE: mean (s - y)^2 / mean y^2)
/// plus gate_separation * mean cos(g1, g2) for dual-state DSLA layers. `on_log` gets every
/// log_every-th step and the last.
FitResult fit_attention(model::AttentionModule& student, const LayerIO& io,
                        const model::AttentionContext& ctx, const FitOptions& options,
                        const std::function<void(const FitStep&)>& on_log = nullptr);

}  // namespace dsla::distill
