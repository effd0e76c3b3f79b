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
#include "data/sharded_batches.h"
#include "dist/group.h"
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

std::vector<int64_t> local_items(int64_t samples, const FitOptions& o) {
  int rank = o.group ? o.group->rank() : 0, world = o.group ? o.group->size() : 1;
  return data::ShardedBatches(samples, o.batch_size, o.seed, rank, world).local_items();
}

namespace {

/// Sums the parameters' gradients over the group (a missing gradient counts as zeros).
void sum_gradients(dist::Group& group, const std::vector<at::Tensor>& params) {
  std::vector<at::Tensor> grads;
  for (const auto& p : params) {
    if (!p.grad().defined()) p.mutable_grad() = at::zeros_like(p);
    grads.push_back(p.grad());
  }
  group.all_reduce_sum(grads, "the gradient all-reduce");
}

/// The step's logged values over all ranks: {loss, main, aux}.
FitStep global_step_values(dist::Group* group, int64_t step, const StepLosses& losses, double lr) {
  at::Tensor parts = losses.parts.defined() ? losses.parts.detach().to(at::kDouble).reshape({-1})
                                            : at::zeros({0}, at::kDouble);
  at::Tensor values =
      at::cat({losses.loss.detach().to(at::kDouble).reshape({1}),
               losses.main.detach().to(at::kDouble).reshape({1}),
               losses.aux.defined() ? losses.aux.detach().to(at::kDouble).reshape({1})
                                    : at::zeros({1}, at::kDouble),
               parts});
  if (group) {
    std::vector<at::Tensor> t{values};
    group->all_reduce_sum(t, "the loss all-reduce");
  }
  auto v = values.accessor<double, 1>();
  FitStep s;
  s.step = step, s.loss = v[0], s.main_loss = v[1], s.aux = v[2], s.lr = lr;
  for (int64_t i = 3; i < values.size(0); ++i) s.parts.push_back(v[i]);
  return s;
}

/// The first and final (tail-mean) losses of a finished loop.
void finish_result(const LossTally& t, FitResult& r) {
  r.first_loss = t.first_loss;
  r.first_parts = t.first_parts;
  r.final_loss = t.tail_count ? t.tail_sum / static_cast<double>(t.tail_count) : t.first_loss;
  r.final_parts = t.first_parts;
  if (t.tail_count == 0) return;
  r.final_parts = t.tail_parts;
  for (double& p : r.final_parts) p /= static_cast<double>(t.tail_count);
}

/// Adds `parts` into `sum` elementwise (sizing it on first use).
void accumulate(std::vector<double>& sum, const std::vector<double>& parts) {
  sum.resize(parts.size(), 0.0);
  for (size_t i = 0; i < parts.size(); ++i) sum[i] += parts[i];
}

/// Keep-best and spike rollback over FitOptions::held_out checks.
class HeldOutGuard {
 public:
  HeldOutGuard(const FitOptions& o, const std::vector<at::Tensor>& params)
      : o_(o), params_(params) {}
  bool active() const { return o_.held_out && o_.check_every > 0; }
  /// Whether a check follows step `step` (0-based) of `steps`.
  bool due(int64_t step) const {
    return active() && ((step + 1) % o_.check_every == 0 || step + 1 == o_.steps);
  }
  /// Scores the parameters after `steps` steps into `s`; true when they were rolled back to the
  /// best (the caller restarts its optimizer).
  bool check(int64_t steps, FitStep& s, FitResult& r) {
    double value = score();
    s.held_out = value;
    if (!r.held_out_first) r.held_out_first = value;
    if (!r.held_out_best || value < *r.held_out_best) {
      r.held_out_best = value;
      r.best_step = steps;
      best_.clear();
      for (const auto& p : params_) best_.push_back(p.detach().clone());
      return false;
    }
    if (o_.spike_factor > 0 && value > o_.spike_factor * *r.held_out_best) {
      restore();
      ++r.rollbacks;
      s.rolled_back = true;
      return true;
    }
    return false;
  }
  /// Ends on the best parameters when the last check scored worse.
  void finish(const FitStep& last, const FitResult& r) {
    if (active() && last.held_out && *last.held_out > *r.held_out_best) restore();
  }

 private:
  /// The held-out loss, the main rank's value on every rank (so all take the same decisions).
  double score() {
    torch::NoGradGuard no_grad;
    at::Tensor v = at::full({1}, o_.held_out(), at::kDouble);
    if (o_.group && o_.group->size() > 1) {
      std::vector<at::Tensor> t{v};
      o_.group->broadcast(t, 0, "the held-out loss");
    }
    return v.item<double>();
  }
  void restore() {
    torch::NoGradGuard no_grad;
    for (size_t i = 0; i < params_.size(); ++i) params_[i].copy_(best_[i]);
  }

  const FitOptions& o_;
  const std::vector<at::Tensor>& params_;
  std::vector<at::Tensor> best_;
};

}  // namespace

FitResult run_fit_loop(const std::vector<at::Tensor>& params, int64_t samples,
                       int64_t tokens_per_sample, const FitOptions& o, const char* phase,
                       const std::function<StepLosses(const FitBatch&)>& step_fn,
                       const std::function<void(const FitStep&)>& on_log) {
  return run_fit_loop(std::vector<std::vector<at::Tensor>>{params}, samples, tokens_per_sample, o,
                      phase, step_fn, on_log);
}

FitResult run_fit_loop(const std::vector<std::vector<at::Tensor>>& param_groups, int64_t samples,
                       int64_t tokens_per_sample, const FitOptions& o, const char* phase,
                       const std::function<StepLosses(const FitBatch&)>& step_fn,
                       const std::function<void(const FitStep&)>& on_log) {
  std::vector<at::Tensor> params;
  for (const auto& g : param_groups) params.insert(params.end(), g.begin(), g.end());
  DSLA_CHECK(samples > 0, "{}: no training sequences", phase);
  dist::Group* group = o.group && o.group->size() > 1 ? o.group : nullptr;
  bool main = !group || group->is_main();
  data::ShardedBatches batches(samples, o.batch_size, o.seed, group ? group->rank() : 0,
                               group ? group->size() : 1);
  if (group) {
    torch::NoGradGuard no_grad;
    std::vector<at::Tensor> values(params.begin(), params.end());
    group->broadcast(values, 0, "the parameter broadcast");
  }
  for (const auto& p : params) p.set_requires_grad(true);
  auto new_optimizer = [&] {
    return std::make_unique<torch::optim::AdamW>(
        params, torch::optim::AdamWOptions(o.lr).weight_decay(0.0));
  };
  std::unique_ptr<torch::optim::AdamW> optimizer = new_optimizer();
  double lr_scale = 1;  // halved by every rollback
  int64_t batch = batches.global_batch();
  double share = static_cast<double>(batches.local_batch()) / static_cast<double>(batch);
  std::unique_ptr<ProgressBar> bar;
  if (!o.label.empty() && main) bar = std::make_unique<ProgressBar>(o.label, o.steps, "step");
  FitResult result;
  LossTally tally;
  int64_t tail_from = o.steps - std::max<int64_t>(1, o.steps / 10);
  LoopCheckpoints* checkpoints = o.checkpoints;
  DSLA_CHECK(!checkpoints || o.check_every == 0,
             "{}: loop checkpoints and held-out checks do not combine", phase);
  int64_t first_step =
      checkpoints ? restore_loop_state(checkpoints->resume, group, params, *optimizer, tally) : 0;
  for (int64_t i = 0; i < first_step; ++i) batches.next_local_batch();  // the batches read before
  result.resumed_at = first_step;
  if (bar && first_step > 0)
    bar->advance(first_step, fmt::format("resumed at step {}", first_step));
  double allreduce_seconds = 0;
  HeldOutGuard guard(o, params);
  FitStep initial;
  if (guard.active()) guard.check(0, initial, result);
  FitStep s;
  auto start = std::chrono::steady_clock::now();
  for (int64_t step = first_step; step < o.steps; ++step) {
    double lr = lr_scale * scheduled_lr(o.lr, step, o.steps);
    for (auto& g : optimizer->param_groups()) g.options().set_lr(lr);
    optimizer->zero_grad();
    StepLosses losses =
        step_fn(FitBatch{at::tensor(batches.next_local_batch(), at::kLong), share, group});
    if (!losses.backward_done) losses.loss.backward();
    if (group) {
      auto before = std::chrono::steady_clock::now();
      sum_gradients(*group, params);
      allreduce_seconds +=
          std::chrono::duration<double>(std::chrono::steady_clock::now() - before).count();
    }
    if (o.max_grad_norm > 0) {
      for (const auto& g : param_groups) torch::nn::utils::clip_grad_norm_(g, o.max_grad_norm);
    }
    optimizer->step();
    s = global_step_values(group, step, losses, lr);
    DSLA_CHECK(std::isfinite(s.loss), "{} diverged at step {} (loss {}); lower distill.lr", phase,
               step, s.loss);
    if (step == 0) tally.first_loss = s.loss, tally.first_parts = s.parts;
    if (step >= tail_from) {
      tally.tail_sum += s.loss, ++tally.tail_count, accumulate(tally.tail_parts, s.parts);
    }
    double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    s.tokens_per_s = static_cast<double>((step + 1 - first_step) * batch * tokens_per_sample) /
                     std::max(seconds, 1e-9);
    s.allreduce_fraction = allreduce_seconds / std::max(seconds, 1e-9);
    if (guard.due(step) && guard.check(step + 1, s, result)) {
      optimizer = new_optimizer();
      lr_scale *= 0.5;
    }
    if (bar) bar->advance(1, fmt::format("loss {:.4f} {:.0f} tok/s", s.loss, s.tokens_per_s));
    bool log = (step + 1) % o.log_every == 0 || step + 1 == o.steps || s.held_out;
    if (main && on_log && log) on_log(s);
    if (checkpoints && checkpoints->every > 0 && (step + 1) % checkpoints->every == 0 &&
        step + 1 < o.steps) {
      if (main) checkpoints->save(capture_loop_state(step + 1, params, *optimizer, tally));
      if (main_rank_says(group, main && checkpoints->stop && checkpoints->stop())) {
        if (bar) bar->finish();
        for (const auto& p : params) p.set_requires_grad(false);
        throw RunStopped(
            fmt::format("{} stopped at its checkpoint after step {}", phase, step + 1));
      }
    }
  }
  if (bar) bar->finish();
  guard.finish(s, result);
  for (const auto& p : params) p.set_requires_grad(false);
  finish_result(tally, result);
  result.tokens = o.steps * batch * tokens_per_sample;
  result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return result;
}

std::vector<at::Tensor> trainable_parameters(model::AttentionModule& student, const FitOptions& o) {
  std::vector<at::Tensor> out;
  for (const auto& item : student.named_parameters(true)) {
    const std::string& name = item.key();
    bool projection = false;
    for (const char* prefix : {"q_proj.", "k_proj.", "v_proj.", "o_proj."}) {
      projection = projection || name.rfind(prefix, 0) == 0;
    }
    if (!(o.freeze_projections && projection)) out.push_back(item.value());
  }
  return out;
}

at::Tensor gate_cosine(model::AttentionModule& student, const at::Tensor& x) {
  auto* dsla = dynamic_cast<model::DslaAttention*>(&student);
  if (dsla == nullptr || dsla->options().single_state()) return {};
  auto [g1, g2] = dsla->log_gates(x);
  return at::cosine_similarity(g1, g2, -1).mean();
}

at::Tensor TransferLoss::total(double gate_separation) const {
  return cosine.defined() ? mse + gate_separation * cosine : mse;
}

TransferLoss transfer_loss(model::AttentionModule& student, const at::Tensor& x,
                           const at::Tensor& y, const model::AttentionContext& ctx,
                           const FitBatch& b, double gate_separation) {
  at::Tensor target = y.to(at::kFloat);
  at::Tensor out = student.forward(x, ctx, nullptr).to(at::kFloat);
  at::Tensor energy = target.pow(2).sum().detach();
  if (b.group) {
    std::vector<at::Tensor> t{energy};
    b.group->all_reduce_sum(t, "the target-energy all-reduce");
  }
  TransferLoss l{(out - target).pow(2).sum() / energy.clamp_min(1e-12), {}};
  if (gate_separation > 0) l.cosine = gate_cosine(student, x);
  if (l.cosine.defined()) l.cosine = l.cosine * b.share;
  return l;
}

FitResult fit_attention(model::AttentionModule& student, const LayerIO& io,
                        const model::AttentionContext& ctx, const FitOptions& o,
                        const std::function<void(const FitStep&)>& on_log) {
  DSLA_CHECK(io.x.defined(), "attention transfer: no training sequences");
  student.train();
  auto step = [&](const FitBatch& b) {
    at::Tensor x = io.x.index_select(0, b.rows), y = io.y.index_select(0, b.rows);
    TransferLoss l = transfer_loss(student, x, y, ctx, b, o.gate_separation);
    return StepLosses{l.total(o.gate_separation), l.mse, l.cosine, {}, false};
  };
  int64_t samples = io.samples > 0 ? io.samples : io.x.size(0);
  FitResult r = run_fit_loop(trainable_parameters(student, o), samples, io.x.size(1), o,
                             "attention transfer", step, on_log);
  student.eval();
  return r;
}

}  // namespace dsla::distill
