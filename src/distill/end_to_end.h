// The optional end-to-end phase of a stage: cross-entropy plus logit distillation from the teacher,
// training only the newly converted layer.
#pragma once

#include <memory>
#include <vector>

#include "distill/layer_fit.h"

namespace dsla::distill {

/// Swaps the teacher's attention back into every converted layer for a teacher forward pass and
/// restores the student's afterwards. `teacher_attention[i]` is layer i's original module.
class TeacherView {
 public:
  TeacherView(model::LlamaForCausalLMImpl& model,
              const std::vector<std::shared_ptr<model::AttentionModule>>& teacher_attention);
  /// Teacher logits [B, T, vocab] for ids [B, T] (no grad).
  at::Tensor logits(const at::Tensor& ids);

 private:
  model::LlamaForCausalLMImpl& model_;
  const std::vector<std::shared_ptr<model::AttentionModule>>& teacher_;
};

/// Trains layer `layer`'s attention with CE(next token) + kd_weight * KL(teacher || student) per
/// token; all other parameters stay frozen. ids [N, T] are this rank's items (local_items) of
/// `samples` sequences over all ranks.
FitResult fit_end_to_end(model::LlamaForCausalLMImpl& student, int64_t layer, TeacherView& teacher,
                         const at::Tensor& ids, int64_t samples, double kd_weight,
                         const FitOptions& options,
                         const std::function<void(const FitStep&)>& on_log = nullptr);

}  // namespace dsla::distill
