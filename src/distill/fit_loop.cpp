// Implementation of the shared fitting loop.
#include "distill/fit_loop.h"

#include <ATen/ATen.h>
#include <fmt/format.h>
#include <torch/autograd.h>
#include <torch/nn/utils/clip_grad.h>
#include <torch/optim/adamw.h>

#include <chrono>
#include <cmath>
#include <memory>

#include "core/error.h"
#include "core/progress.h"
#include "core/seconds.h"
#include "data/sharded_batches.h"
#include "dist/group.h"

namespace dsla::distill {

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

namespace {

using StepFn = std::function<StepLosses(const FitBatch&)>;

int64_t checked_samples(int64_t samples, const char* phase) {
  DSLA_CHECK(samples > 0, "{}: no training sequences", phase);
  return samples;
}
using LogFn = std::function<void(const FitStep&)>;

/// One run of the loop: the parameters, their optimizer, this rank's batches and the bookkeeping.
class FitLoop {
 public:
  FitLoop(const std::vector<std::vector<at::Tensor>>& groups, int64_t samples,
          int64_t tokens_per_sample, const FitOptions& o, const char* phase)
      : groups_(groups),
        o_(o),
        phase_(phase),
        group_(o.group && o.group->size() > 1 ? o.group : nullptr),
        main_(!group_ || group_->is_main()),
        batches_(checked_samples(samples, phase), o.batch_size, o.seed, group_ ? group_->rank() : 0,
                 group_ ? group_->size() : 1),
        tokens_per_step_(batches_.global_batch() * tokens_per_sample),
        guard_(o, params_) {
    for (const auto& g : groups) params_.insert(params_.end(), g.begin(), g.end());
    DSLA_CHECK(!o.checkpoints || o.check_every == 0,
               "{}: loop checkpoints and held-out checks do not combine", phase);
    if (group_) {
      torch::NoGradGuard no_grad;
      std::vector<at::Tensor> values(params_.begin(), params_.end());
      group_->broadcast(values, 0, "the parameter broadcast");
    }
    for (const auto& p : params_) p.set_requires_grad(true);
    optimizer_ = new_optimizer();
  }

  FitResult run(const StepFn& step_fn, const LogFn& on_log) {
    if (!o_.label.empty() && main_)
      bar_ = std::make_unique<ProgressBar>(o_.label, o_.steps, "step");
    int64_t first = resume();
    FitStep initial;
    if (guard_.active()) guard_.check(0, initial, result_);
    FitStep s;
    start_ = std::chrono::steady_clock::now();
    for (int64_t step = first; step < o_.steps; ++step) {
      s = train_step(step, step_fn);
      double seconds = seconds_since_start();
      s.tokens_per_s =
          static_cast<double>((step + 1 - first) * tokens_per_step_) / std::max(seconds, 1e-9);
      s.allreduce_fraction = allreduce_seconds_ / std::max(seconds, 1e-9);
      if (guard_.due(step) && guard_.check(step + 1, s, result_)) {
        optimizer_ = new_optimizer();
        lr_scale_ *= 0.5;
      }
      if (bar_) bar_->advance(1, fmt::format("loss {:.4f} {:.0f} tok/s", s.loss, s.tokens_per_s));
      bool log = (step + 1) % o_.log_every == 0 || step + 1 == o_.steps || s.held_out;
      if (main_ && on_log && log) on_log(s);
      checkpoint(step + 1);
    }
    guard_.finish(s, result_);
    end();
    finish_result(tally_, result_);
    result_.tokens = o_.steps * tokens_per_step_;
    result_.seconds = seconds_since_start();
    return result_;
  }

 private:
  std::unique_ptr<torch::optim::AdamW> new_optimizer() const {
    return std::make_unique<torch::optim::AdamW>(
        params_, torch::optim::AdamWOptions(o_.lr).weight_decay(0.0));
  }
  double seconds_since_start() const { return seconds_since(start_); }

  /// Continues from the loop checkpoint when there is one: returns the steps it holds.
  int64_t resume() {
    if (!o_.checkpoints) return 0;
    int64_t done = restore_loop_state(o_.checkpoints->resume, group_, params_, *optimizer_, tally_);
    for (int64_t i = 0; i < done; ++i) batches_.next_local_batch();  // the batches read before
    result_.resumed_at = done;
    if (bar_ && done > 0) bar_->advance(done, fmt::format("resumed at step {}", done));
    return done;
  }

  /// One optimizer step on this rank's share of the next global batch; the global losses.
  FitStep train_step(int64_t step, const StepFn& step_fn) {
    double lr = lr_scale_ * scheduled_lr(o_.lr, step, o_.steps);
    for (auto& g : optimizer_->param_groups()) g.options().set_lr(lr);
    optimizer_->zero_grad();
    double share =
        static_cast<double>(batches_.local_batch()) / static_cast<double>(batches_.global_batch());
    StepLosses losses =
        step_fn(FitBatch{at::tensor(batches_.next_local_batch(), at::kLong), share, group_});
    if (!losses.backward_done) losses.loss.backward();
    if (group_) {
      auto before = std::chrono::steady_clock::now();
      sum_gradients(*group_, params_);
      allreduce_seconds_ += seconds_since(before);
    }
    if (o_.max_grad_norm > 0) {
      for (const auto& g : groups_) torch::nn::utils::clip_grad_norm_(g, o_.max_grad_norm);
    }
    optimizer_->step();
    FitStep s = global_step_values(group_, step, losses, lr);
    DSLA_CHECK(std::isfinite(s.loss), "{} diverged at step {} (loss {}); lower distill.lr", phase_,
               step, s.loss);
    if (step == 0) tally_.first_loss = s.loss, tally_.first_parts = s.parts;
    if (step >= o_.steps - std::max<int64_t>(1, o_.steps / 10)) {
      tally_.tail_sum += s.loss, ++tally_.tail_count, accumulate(tally_.tail_parts, s.parts);
    }
    return s;
  }

  /// Saves the loop's state every checkpoints->every steps (not after the last) and stops there
  /// when asked to.
  void checkpoint(int64_t done) {
    LoopCheckpoints* c = o_.checkpoints;
    if (!c || c->every <= 0 || done % c->every != 0 || done >= o_.steps) return;
    if (main_) c->save(capture_loop_state(done, params_, *optimizer_, tally_));
    if (main_rank_says(group_, main_ && c->stop && c->stop())) {
      end();
      throw RunStopped(fmt::format("{} stopped at its checkpoint after step {}", phase_, done));
    }
  }

  void end() {
    if (bar_) bar_->finish();
    for (const auto& p : params_) p.set_requires_grad(false);
  }

  const std::vector<std::vector<at::Tensor>>& groups_;
  std::vector<at::Tensor> params_;
  const FitOptions& o_;
  const char* phase_;
  dist::Group* group_;
  bool main_;
  data::ShardedBatches batches_;
  int64_t tokens_per_step_;
  HeldOutGuard guard_;
  std::unique_ptr<torch::optim::AdamW> optimizer_;
  std::unique_ptr<ProgressBar> bar_;
  FitResult result_;
  LossTally tally_;
  double lr_scale_ = 1;  // halved by every rollback
  double allreduce_seconds_ = 0;
  std::chrono::steady_clock::time_point start_ = std::chrono::steady_clock::now();
};

}  // namespace

FitResult run_fit_loop(const std::vector<std::vector<at::Tensor>>& param_groups, int64_t samples,
                       int64_t tokens_per_sample, const FitOptions& o, const char* phase,
                       const std::function<StepLosses(const FitBatch&)>& step_fn,
                       const std::function<void(const FitStep&)>& on_log) {
  return FitLoop(param_groups, samples, tokens_per_sample, o, phase).run(step_fn, on_log);
}

}  // namespace dsla::distill
