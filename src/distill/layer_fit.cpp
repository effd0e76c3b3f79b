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

FitResult run_fit_loop(const std::vector<at::Tensor>& params, int64_t samples,
                       int64_t tokens_per_sample, const FitOptions& o, const char* phase,
                       const std::function<StepLosses(const at::Tensor&)>& step_fn,
                       const std::function<void(const FitStep&)>& on_log) {
  DSLA_CHECK(samples > 0, "{}: no training sequences", phase);
  for (const auto& p : params) p.set_requires_grad(true);
  torch::optim::AdamW optimizer(params, torch::optim::AdamWOptions(o.lr).weight_decay(0.0));
  int64_t batch = std::min(o.batch_size, samples);
  data::BatchCursor cursor(samples, batch, o.seed);
  std::unique_ptr<ProgressBar> bar;
  if (!o.label.empty()) bar = std::make_unique<ProgressBar>(o.label, o.steps, "step");
  FitResult result;
  double tail_sum = 0;
  int64_t tail_count = 0, tail_from = o.steps - std::max<int64_t>(1, o.steps / 10);
  auto start = std::chrono::steady_clock::now();
  for (int64_t step = 0; step < o.steps; ++step) {
    double lr = scheduled_lr(o.lr, step, o.steps);
    for (auto& group : optimizer.param_groups()) group.options().set_lr(lr);
    optimizer.zero_grad();
    StepLosses losses = step_fn(at::tensor(cursor.next_batch(), at::kLong));
    losses.loss.backward();
    if (o.max_grad_norm > 0) torch::nn::utils::clip_grad_norm_(params, o.max_grad_norm);
    optimizer.step();
    FitStep s{step,
              losses.loss.item<double>(),
              losses.main.item<double>(),
              losses.aux.defined() ? losses.aux.item<double>() : 0.0,
              lr,
              0};
    DSLA_CHECK(std::isfinite(s.loss), "{} diverged at step {} (loss {}); lower distill.lr", phase,
               step, s.loss);
    if (step == 0) result.first_loss = s.loss;
    if (step >= tail_from) tail_sum += s.loss, ++tail_count;
    double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    s.tokens_per_s =
        static_cast<double>((step + 1) * batch * tokens_per_sample) / std::max(seconds, 1e-9);
    if (bar) bar->advance(1, fmt::format("loss {:.4f} {:.0f} tok/s", s.loss, s.tokens_per_s));
    if (on_log && ((step + 1) % o.log_every == 0 || step + 1 == o.steps)) on_log(s);
  }
  if (bar) bar->finish();
  for (const auto& p : params) p.set_requires_grad(false);
  result.final_loss = tail_count ? tail_sum / static_cast<double>(tail_count) : result.first_loss;
  result.tokens = o.steps * batch * tokens_per_sample;
  result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return result;
}

namespace {

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
  DSLA_CHECK(io.x.defined(), "attention transfer: no training sequences");
  student.train();
  auto step = [&](const at::Tensor& index) {
    at::Tensor x = io.x.index_select(0, index), y = io.y.index_select(0, index).to(at::kFloat);
    at::Tensor out = student.forward(x, ctx, nullptr).to(at::kFloat);
    // Relative MSE: 1.0 is what predicting zeros scores.
    at::Tensor main = (out - y).pow(2).mean() / y.pow(2).mean().clamp_min(1e-12);
    at::Tensor cos = o.gate_separation > 0 ? gate_cosine(student, x) : at::Tensor();
    return StepLosses{cos.defined() ? main + o.gate_separation * cos : main, main, cos};
  };
  FitResult r = run_fit_loop(student.parameters(true), io.x.size(0), io.x.size(1), o,
                             "attention transfer", step, on_log);
  student.eval();
  return r;
}

}  // namespace dsla::distill
