// Implementation of the end-to-end (CE + logit KD) phase and the teacher view.
#include "distill/end_to_end.h"

#include <ATen/ATen.h>
#include <torch/autograd.h>

#include "core/error.h"

namespace dsla::distill {

TeacherView::TeacherView(
    model::LlamaForCausalLMImpl& model,
    const std::vector<std::shared_ptr<model::AttentionModule>>& teacher_attention)
    : model_(model), teacher_(teacher_attention) {
  DSLA_CHECK(static_cast<int64_t>(teacher_.size()) == model.num_layers(),
             "teacher view: {} teacher layers for a {}-layer model", teacher_.size(),
             model.num_layers());
}

at::Tensor TeacherView::logits(const at::Tensor& ids) {
  torch::NoGradGuard no_grad;
  std::vector<std::shared_ptr<model::AttentionModule>> student(teacher_.size());
  for (int64_t i = 0; i < model_.num_layers(); ++i) {
    if (model_.layer(i).attention() != teacher_[static_cast<size_t>(i)]) {
      student[static_cast<size_t>(i)] =
          model_.layer(i).set_attention(teacher_[static_cast<size_t>(i)]);
    }
  }
  at::Tensor out;
  try {
    out = model_.forward(ids);
  } catch (...) {
    for (int64_t i = 0; i < model_.num_layers(); ++i)
      if (student[static_cast<size_t>(i)])
        model_.layer(i).set_attention(student[static_cast<size_t>(i)]);
    throw;
  }
  for (int64_t i = 0; i < model_.num_layers(); ++i)
    if (student[static_cast<size_t>(i)])
      model_.layer(i).set_attention(student[static_cast<size_t>(i)]);
  return out;
}

FitResult fit_end_to_end(model::LlamaForCausalLMImpl& student, int64_t layer, TeacherView& teacher,
                         const at::Tensor& ids, int64_t samples, double kd_weight,
                         const FitOptions& o, const std::function<void(const FitStep&)>& on_log) {
  auto attention = student.layer(layer).attention();
  attention->train();
  int64_t t = ids.size(1);
  auto step = [&](const FitBatch& b) {
    at::Tensor x = ids.index_select(0, b.rows);  // [B, T]
    at::Tensor teacher_logp = at::log_softmax(teacher.logits(x), -1);
    at::Tensor h;
    {
      torch::NoGradGuard no_grad;
      h = student.residual_before(x, layer);
    }
    at::Tensor logp = at::log_softmax(student.logits_from(h, layer), -1);  // [B, T, V]
    // Next-token CE over positions 0..T-2; KL(teacher || student) over all positions.
    at::Tensor target = x.narrow(1, 1, t - 1).reshape({-1});
    at::Tensor ce = at::nll_loss(logp.narrow(1, 0, t - 1).reshape({-1, logp.size(2)}), target);
    at::Tensor kl = (teacher_logp.exp() * (teacher_logp - logp)).sum(-1).mean();
    // Means over this rank's rows, weighted by its share of the global batch.
    ce = ce * b.share;
    kl = kl * b.share;
    return StepLosses{ce + kd_weight * kl, ce, kl};
  };
  FitOptions shifted = o;
  shifted.seed = o.seed + 7919;  // other batches than the attention-transfer phase
  FitResult r = run_fit_loop(attention->parameters(true), samples, t, shifted, "end-to-end phase",
                             step, on_log);
  attention->eval();
  return r;
}

}  // namespace dsla::distill
