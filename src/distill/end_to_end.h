// The optional end-to-end phase of a stage: cross-entropy plus logit distillation from the teacher,
// training only the newly converted layer.
#pragma once

#include "distill/layer_fit.h"
#include "model/hybrid_model.h"

namespace dsla::distill {

/// The teacher's logits [B, T, vocab] for ids [B, T]: the model at depth 0 (no grad).
at::Tensor teacher_logits(model::HybridModel& hybrid, const at::Tensor& ids);

/// Trains layer `layer`'s attention with CE(next token) + kd_weight * KL(teacher || student) per
/// token; all other parameters stay frozen. ids [N, T] are this rank's items (local_items) of
/// `samples` sequences over all ranks.
FitResult fit_end_to_end(model::HybridModel& student, int64_t layer, const at::Tensor& ids,
                         int64_t samples, double kd_weight, const FitOptions& options,
                         const std::function<void(const FitStep&)>& on_log = nullptr);

}  // namespace dsla::distill
