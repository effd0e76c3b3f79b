// Implementation of the end-to-end (CE + logit KD) phase and the teacher logits.
#include "distill/end_to_end.h"

#include <ATen/ATen.h>
#include <torch/autograd.h>

#include <algorithm>
#include <memory>

#include "core/error.h"

namespace dsla::distill {

at::Tensor teacher_logits(model::HybridModel& hybrid, const at::Tensor& ids) {
  torch::NoGradGuard no_grad;
  model::DepthScope teacher = hybrid.at_depth(0);
  return teacher->forward(ids);
}

namespace {

/// KL(teacher || student) per position [B, T] from both log-probabilities [B, T, V].
at::Tensor token_kl(const at::Tensor& teacher_logp, const at::Tensor& logp) {
  return (teacher_logp.exp() * (teacher_logp - logp)).sum(-1);
}

}  // namespace

double kl_to_teacher(model::HybridModel& hybrid, const at::Tensor& ids, int64_t batch) {
  torch::NoGradGuard no_grad;
  double sum = 0;
  for (int64_t i = 0; i < ids.size(0); i += batch) {
    at::Tensor x = ids.narrow(0, i, std::min(batch, ids.size(0) - i));  // [b, T]
    at::Tensor teacher_logp = at::log_softmax(teacher_logits(hybrid, x), -1);
    at::Tensor logp = at::log_softmax(hybrid.model().forward(x), -1);
    sum += token_kl(teacher_logp, logp).sum().item<double>();
  }
  return sum / static_cast<double>(ids.numel());
}

FitResult fit_end_to_end(model::HybridModel& hybrid, const std::vector<int64_t>& layers,
                         const at::Tensor& ids, int64_t samples, const EndToEndOptions& e2e,
                         const FitOptions& o, const std::function<void(const FitStep&)>& on_log) {
  DSLA_CHECK(!layers.empty(), "end-to-end phase: no layers to train");
  model::LlamaForCausalLMImpl& student = hybrid.model();
  int64_t layer = *std::min_element(layers.begin(), layers.end());
  FitOptions own = o;  // the parameters besides the adapters: the new ones with LoRA
  own.freeze_projections = o.freeze_projections || e2e.lora.has_value();
  std::vector<std::vector<at::Tensor>> groups;
  std::vector<std::unique_ptr<LoraScope>> adapters;
  for (int64_t l : layers) {
    model::AttentionModule& attention = *student.layer(l).attention();
    attention.train();
    groups.push_back(trainable_parameters(attention, own));
    if (e2e.lora) {
      adapters.push_back(std::make_unique<LoraScope>(attention_projections(attention), *e2e.lora,
                                                     o.seed + static_cast<uint64_t>(l)));
      auto lora = adapters.back()->parameters();
      groups.back().insert(groups.back().end(), lora.begin(), lora.end());
    }
  }
  auto apply_adapters = [&] {
    for (auto& a : adapters) a->apply();
  };
  int64_t t = ids.size(1);
  auto step = [&](const FitBatch& b) {
    apply_adapters();
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
    at::Tensor kl = token_kl(teacher_logp, logp).mean();
    // Means over this rank's rows, weighted by its share of the global batch.
    ce = ce * b.share;
    kl = kl * b.share;
    return StepLosses{e2e.loss.ce_weight * ce + e2e.loss.kd_weight * kl, ce, kl, {}, false};
  };
  FitOptions shifted = o;
  shifted.seed = o.seed + 7919;  // other batches than the attention-transfer phase
  if (e2e.held_out.defined()) {
    shifted.held_out = [&] {
      apply_adapters();
      return kl_to_teacher(hybrid, e2e.held_out, o.batch_size);
    };
  }
  FitResult r = run_fit_loop(groups, samples, t, shifted, "end-to-end phase", step, on_log);
  for (auto& a : adapters) a->merge();
  for (int64_t l : layers) student.layer(l).attention()->eval();
  return r;
}

}  // namespace dsla::distill
