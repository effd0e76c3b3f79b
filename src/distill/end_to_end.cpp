// Implementation of the end-to-end (CE + logit KD) phase and the teacher logits.
#include "distill/end_to_end.h"

#include <ATen/ATen.h>
#include <torch/autograd.h>

#include <algorithm>

#include "core/error.h"

namespace dsla::distill {

at::Tensor teacher_logits(model::HybridModel& hybrid, const at::Tensor& ids) {
  torch::NoGradGuard no_grad;
  model::DepthScope teacher = hybrid.at_depth(0);
  return teacher->forward(ids);
}

FitResult fit_end_to_end(model::HybridModel& hybrid, const std::vector<int64_t>& layers,
                         const at::Tensor& ids, int64_t samples, const EndToEndLoss& weights,
                         const FitOptions& o, const std::function<void(const FitStep&)>& on_log) {
  DSLA_CHECK(!layers.empty(), "end-to-end phase: no layers to train");
  model::LlamaForCausalLMImpl& student = hybrid.model();
  int64_t layer = *std::min_element(layers.begin(), layers.end());
  std::vector<std::vector<at::Tensor>> groups;
  for (int64_t l : layers) {
    student.layer(l).attention()->train();
    groups.push_back(trainable_parameters(*student.layer(l).attention(), o));
  }
  int64_t t = ids.size(1);
  auto step = [&](const FitBatch& b) {
    at::Tensor x = ids.index_select(0, b.rows);  // [B, T]
    at::Tensor teacher_logp = at::log_softmax(teacher_logits(hybrid, x), -1);
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
    return StepLosses{weights.ce_weight * ce + weights.kd_weight * kl, ce, kl, {}, false};
  };
  FitOptions shifted = o;
  shifted.seed = o.seed + 7919;  // other batches than the attention-transfer phase
  FitResult r = run_fit_loop(groups, samples, t, shifted, "end-to-end phase", step, on_log);
  for (int64_t l : layers) student.layer(l).attention()->eval();
  return r;
}

}  // namespace dsla::distill
