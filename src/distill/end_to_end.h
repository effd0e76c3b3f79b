// The optional end-to-end phase of a stage: logit distillation from the teacher (plus optional
// cross-entropy), training the newly converted layer or every converted one.
#pragma once

#include "distill/layer_fit.h"
#include "model/hybrid_model.h"

namespace dsla::distill {

/// The teacher's logits [B, T, vocab] for ids [B, T]: the model at depth 0 (no grad).
at::Tensor teacher_logits(model::HybridModel& hybrid, const at::Tensor& ids);

/// The end-to-end loss per token: ce_weight * CE(next token) + kd_weight * KL(teacher || student).
struct EndToEndLoss {
  double ce_weight = 0;
  double kd_weight = 1;
};

/// Trains the attention of `layers` (converted layers of the student) on the loss; all other
/// parameters stay frozen. ids [N, T] are this rank's items (local_items) of `samples` sequences
/// over all ranks.
FitResult fit_end_to_end(model::HybridModel& student, const std::vector<int64_t>& layers,
                         const at::Tensor& ids, int64_t samples, const EndToEndLoss& loss,
                         const FitOptions& options,
                         const std::function<void(const FitStep&)>& on_log = nullptr);

}  // namespace dsla::distill
