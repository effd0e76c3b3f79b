// Implementation of the end-to-end (CE + logit KD) phase and the teacher view.
#include "distill/end_to_end.h"

#include <ATen/ATen.h>
#include <fmt/format.h>
#include <torch/nn/utils/clip_grad.h>
#include <torch/optim/adamw.h>

#include <chrono>

#include "core/error.h"
#include "core/progress.h"
#include "data/packing.h"

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
                         const at::Tensor& ids, double kd_weight, const FitOptions& o,
                         const std::function<void(const FitStep&)>& on_log) {
  auto attention = student.layer(layer).attention();
  attention->train();
  std::vector<at::Tensor> params;
  for (auto& p : attention->parameters(true)) {
    p.set_requires_grad(true);
    params.push_back(p);
  }
  torch::optim::AdamW optimizer(params, torch::optim::AdamWOptions(o.lr).weight_decay(0.0));
  int64_t n = ids.size(0), batch = std::min(o.batch_size, n), t = ids.size(1);
  std::unique_ptr<ProgressBar> bar;
  if (!o.label.empty()) bar = std::make_unique<ProgressBar>(o.label, o.steps, "step");
  std::vector<int64_t> order;
  size_t cursor = 0;
  int64_t epoch = 0;
  FitResult result;
  double tail_sum = 0;
  int64_t tail_count = 0, tail_from = o.steps - std::max<int64_t>(1, o.steps / 10);
  auto start = std::chrono::steady_clock::now();
  for (int64_t step = 0; step < o.steps; ++step) {
    if (cursor + static_cast<size_t>(batch) > order.size()) {
      order = data::shuffled_order(n, o.seed + 7919 + static_cast<uint64_t>(epoch++));
      cursor = 0;
    }
    std::vector<int64_t> rows(order.begin() + static_cast<long>(cursor),
                              order.begin() + static_cast<long>(cursor) + batch);
    cursor += static_cast<size_t>(batch);
    at::Tensor x = ids.index_select(0, at::tensor(rows, at::kLong));  // [B, T]
    at::Tensor teacher_logp = at::log_softmax(teacher.logits(x), -1);
    at::Tensor h;
    {
      torch::NoGradGuard no_grad;
      h = student.residual_before(x, layer);
    }
    double lr = scheduled_lr(o.lr, step, o.steps);
    for (auto& group : optimizer.param_groups()) group.options().set_lr(lr);
    optimizer.zero_grad();
    at::Tensor logp = at::log_softmax(student.logits_from(h, layer), -1);  // [B, T, V]
    // Next-token CE over positions 0..T-2; KL(teacher || student) over all positions.
    at::Tensor target = x.narrow(1, 1, t - 1).reshape({-1});
    at::Tensor ce = at::nll_loss(logp.narrow(1, 0, t - 1).reshape({-1, logp.size(2)}), target);
    at::Tensor kl = (teacher_logp.exp() * (teacher_logp - logp)).sum(-1).mean();
    at::Tensor loss = ce + kd_weight * kl;
    loss.backward();
    if (o.max_grad_norm > 0) torch::nn::utils::clip_grad_norm_(params, o.max_grad_norm);
    optimizer.step();
    FitStep s{step, loss.item<double>(), ce.item<double>(), kl.item<double>(), lr, 0};
    DSLA_CHECK(std::isfinite(s.loss), "end-to-end phase diverged at step {} (loss {})", step,
               s.loss);
    if (step == 0) result.first_loss = s.loss;
    if (step >= tail_from) tail_sum += s.loss, ++tail_count;
    double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    s.tokens_per_s = static_cast<double>((step + 1) * batch * t) / std::max(seconds, 1e-9);
    if (bar) bar->advance(1, fmt::format("loss {:.4f} {:.0f} tok/s", s.loss, s.tokens_per_s));
    if (on_log && ((step + 1) % o.log_every == 0 || step + 1 == o.steps)) on_log(s);
  }
  if (bar) bar->finish();
  for (auto& p : params) p.set_requires_grad(false);
  attention->eval();
  result.final_loss = tail_count ? tail_sum / static_cast<double>(tail_count) : result.first_loss;
  result.tokens = o.steps * batch * t;
  result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return result;
}

}  // namespace dsla::distill
