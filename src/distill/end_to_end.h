// The optional end-to-end phase of a stage: logit distillation from the teacher (plus optional
// cross-entropy), training LoRA adapters and the new parameters of converted layers, or all of
// their attention parameters, with held-out checks that keep the best.
#pragma once

#include <optional>

#include "distill/layer_fit.h"
#include "distill/lora.h"
#include "model/hybrid_model.h"

namespace dsla::distill {

/// The teacher's logits [B, T, vocab] for ids [B, T]: the model at depth 0 (no grad).
at::Tensor teacher_logits(model::HybridModel& hybrid, const at::Tensor& ids);

/// The end-to-end loss per token: ce_weight * CE(next token) + kd_weight * KL(teacher || student).
struct EndToEndLoss {
  double ce_weight = 0;
  double kd_weight = 1;
};

/// What the end-to-end phase trains and checks against.
struct EndToEndOptions {
  EndToEndLoss loss;
  /// LoRA adapters on each trained layer's q/k/v/o (merged at the end) plus its new parameters;
  /// nullopt = every trainable attention parameter (FitOptions::freeze_projections applies).
  std::optional<LoraOptions> lora;
  /// Sequences [M, T] never trained on: with FitOptions::check_every, the mean KL(teacher ||
  /// student) on them is the held-out loss that keeps the best parameters. Undefined = no checks.
  at::Tensor held_out;
};

/// Mean KL(teacher || student) per token of the model at its current depth on ids [N, T], in
/// batches of `batch` (no grad).
double kl_to_teacher(model::HybridModel& hybrid, const at::Tensor& ids, int64_t batch);

/// Trains the attention of `layers` (converted layers of the student) on the loss; all other
/// parameters stay frozen. ids [N, T] are this rank's items (local_items) of `samples` sequences
/// over all ranks.
FitResult fit_end_to_end(model::HybridModel& student, const std::vector<int64_t>& layers,
                         const at::Tensor& ids, int64_t samples, const EndToEndOptions& e2e,
                         const FitOptions& options,
                         const std::function<void(const FitStep&)>& on_log = nullptr);

}  // namespace dsla::distill
