// Implementation of attention transfer for one converted layer.
#include "distill/layer_fit.h"

#include <ATen/ATen.h>
#include <fmt/format.h>
#include <torch/nn/utils/clip_grad.h>
#include <torch/optim/adamw.h>

#include <chrono>
#include <cmath>
#include <memory>

#include "core/error.h"
#include "core/progress.h"
#include "data/packing.h"
#include "model/dsla_attention.h"

namespace dsla::distill {

LayerIO collect_layer_io(model::LlamaForCausalLMImpl& student, int64_t layer,
                         model::AttentionModule& teacher_attention, const at::Tensor& ids,
                         int64_t batch) {
  torch::NoGradGuard no_grad;
  model::AttentionContext ctx = student.make_context(0, ids.size(1));
  std::vector<at::Tensor> xs, ys;
  for (int64_t begin = 0; begin < ids.size(0); begin += batch) {
    at::Tensor chunk = ids.narrow(0, begin, std::min(batch, ids.size(0) - begin));
    at::Tensor x =
        student.layer(layer).input_layernorm->forward(student.residual_before(chunk, layer));
    ys.push_back(teacher_attention.forward(x, ctx, nullptr));
    xs.push_back(x);
  }
  return {at::cat(xs), at::cat(ys)};
}

double scheduled_lr(double lr, int64_t step, int64_t steps) {
  int64_t warmup = std::max<int64_t>(1, steps / 10);
  if (step < warmup) return lr * static_cast<double>(step + 1) / static_cast<double>(warmup);
  double progress = static_cast<double>(step - warmup) /
                    static_cast<double>(std::max<int64_t>(1, steps - warmup));
  return lr * (0.1 + 0.9 * 0.5 * (1 + std::cos(M_PI * progress)));
}

namespace {

std::vector<at::Tensor> trainable_parameters(torch::nn::Module& module) {
  std::vector<at::Tensor> params;
  for (auto& p : module.parameters(true)) {
    p.set_requires_grad(true);
    params.push_back(p);
  }
  return params;
}

/// Mean cosine similarity of the two log-gates over the key channel, or undefined when the layer
/// has no second gate.
at::Tensor gate_cosine(model::AttentionModule& student, const at::Tensor& x) {
  auto* dsla = dynamic_cast<model::DslaAttention*>(&student);
  if (dsla == nullptr || dsla->options().single_state) return {};
  auto [g1, g2] = dsla->log_gates(x);
  return at::cosine_similarity(g1, g2, -1).mean();
}

}  // namespace

FitResult fit_attention(model::AttentionModule& student, const LayerIO& io,
                        const model::AttentionContext& ctx, const FitOptions& o,
                        const std::function<void(const FitStep&)>& on_log) {
  DSLA_CHECK(io.x.defined() && io.x.size(0) > 0, "attention transfer: no training sequences");
  student.train();
  std::vector<at::Tensor> params = trainable_parameters(student);
  torch::optim::AdamW optimizer(params, torch::optim::AdamWOptions(o.lr).weight_decay(0.0));
  int64_t n = io.x.size(0), batch = std::min(o.batch_size, n),
          tokens_per_step = batch * io.x.size(1);
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
      order = data::shuffled_order(n, o.seed + static_cast<uint64_t>(epoch++));
      cursor = 0;
    }
    at::Tensor index =
        at::tensor(std::vector<int64_t>(order.begin() + static_cast<long>(cursor),
                                        order.begin() + static_cast<long>(cursor) + batch),
                   at::kLong);
    cursor += static_cast<size_t>(batch);
    at::Tensor x = io.x.index_select(0, index), y = io.y.index_select(0, index);
    double lr = scheduled_lr(o.lr, step, o.steps);
    for (auto& group : optimizer.param_groups()) group.options().set_lr(lr);
    optimizer.zero_grad();
    at::Tensor out = student.forward(x, ctx, nullptr);
    at::Tensor main = (out.to(at::kFloat) - y.to(at::kFloat)).pow(2).mean() /
                      y.to(at::kFloat).pow(2).mean().clamp_min(1e-12);
    at::Tensor loss = main;
    at::Tensor cos = o.gate_separation > 0 ? gate_cosine(student, x) : at::Tensor();
    if (cos.defined()) loss = loss + o.gate_separation * cos;
    loss.backward();
    if (o.max_grad_norm > 0) torch::nn::utils::clip_grad_norm_(params, o.max_grad_norm);
    optimizer.step();
    FitStep s{step,
              loss.item<double>(),
              main.item<double>(),
              cos.defined() ? cos.item<double>() : 0.0,
              lr,
              0};
    DSLA_CHECK(std::isfinite(s.loss),
               "attention transfer diverged at step {} (loss {}); lower distill.lr", step, s.loss);
    if (step == 0) result.first_loss = s.loss;
    if (step >= tail_from) tail_sum += s.loss, ++tail_count;
    double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    s.tokens_per_s = static_cast<double>((step + 1) * tokens_per_step) / std::max(seconds, 1e-9);
    if (bar) bar->advance(1, fmt::format("loss {:.4f} {:.0f} tok/s", s.loss, s.tokens_per_s));
    if (on_log && ((step + 1) % o.log_every == 0 || step + 1 == o.steps)) on_log(s);
  }
  if (bar) bar->finish();
  for (auto& p : params) p.set_requires_grad(false);
  student.eval();
  result.final_loss = tail_count ? tail_sum / static_cast<double>(tail_count) : result.first_loss;
  result.tokens = o.steps * tokens_per_step;
  result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return result;
}

}  // namespace dsla::distill
