// The fitting loop both training phases share: AdamW over parameter groups with the scheduled
// rate, clipping, data-parallel gradient sums, held-out keep-best and rollback, checkpoints.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "distill/loop_state.h"

namespace dsla::dist {
class Group;
}

namespace dsla::distill {

/// Optimizer settings shared by the fitting loops.
struct FitOptions {
  int64_t steps = 100;
  int64_t batch_size = 4;
  double lr = 1e-3;
  double max_grad_norm = 1.0;    ///< 0 = no clipping
  double gate_separation = 0.0;  ///< weight of mean cos(g1, g2) (dual-state layers only)
  uint64_t seed = 0;
  std::string label;  ///< progress bar label; empty = no bar
  int64_t log_every = 10;
  /// Keep the teacher's q/k/v/o projections fixed and train only the layer's new parameters.
  bool freeze_projections = false;
  /// The data-parallel group whose ranks share the batches; null = this process alone.
  dist::Group* group = nullptr;
  /// Held-out loss of the current parameters (no grad), scored before the first step and every
  /// `check_every` steps and after the last; null or check_every 0 = no checks. The loop keeps
  /// the best-scoring parameters and ends on them; a score above spike_factor x the best so far
  /// (spike_factor > 0) rolls back to the best, restarts the optimizer and halves the rate.
  std::function<double()> held_out;
  int64_t check_every = 0;
  double spike_factor = 0;
  /// Periodic checkpoints of the loop and the state to resume from; null = none. With a group,
  /// only the main rank saves, and the main rank's resume state reaches every rank.
  LoopCheckpoints* checkpoints = nullptr;
};

/// The items (indices among `samples` training sequences) this rank trains on: all of them without
/// a group, else its share of data::ShardedBatches.
std::vector<int64_t> local_items(int64_t samples, const FitOptions& options);

/// One logged step.
struct FitStep {
  int64_t step = 0;
  double loss = 0, main_loss = 0;
  std::vector<double> parts;  ///< per-part main losses when the step has several (one per layer)
  double aux = 0;  ///< gate cosine (attention transfer) or KL to the teacher (end to end)
  double lr = 0, tokens_per_s = 0;
  double allreduce_fraction = 0;   ///< share of the loop's time so far in the gradient all-reduce
  std::optional<double> held_out;  ///< set on the steps a held-out check scored
  bool rolled_back = false;        ///< this step's check rolled the parameters back
};

struct FitResult {
  double first_loss = 0;                         ///< loss of the first step
  double final_loss = 0;                         ///< mean loss over the last 10% of steps
  std::vector<double> first_parts, final_parts;  ///< the same per part (StepLosses::parts)
  int64_t tokens = 0;
  double seconds = 0;
  /// Held-out checks (FitOptions::held_out): before training, the best (what the loop ended on)
  /// and the steps it was reached at; rollbacks after a spike.
  std::optional<double> held_out_first, held_out_best;
  int64_t best_step = 0, rollbacks = 0;
  int64_t resumed_at = 0;  ///< steps done before this process (a loop checkpoint), 0 = fresh
};

/// Learning rate at `step` of `steps`: linear warm-up over 10%, then cosine down to 10% of `lr`.
double scheduled_lr(double lr, int64_t step, int64_t steps);

/// One step's share of the global batch on this rank.
struct FitBatch {
  at::Tensor rows;               ///< [b] int64: positions into this rank's items
  double share = 1;              ///< b / global batch: the weight of a mean over the local rows
  dist::Group* group = nullptr;  ///< for sums over all ranks a loss needs; null = one process
};

/// The tensors one training step computes: the loss to minimise and its two logged parts, as this
/// rank's contributions (summed over the ranks they give the global batch's values).
struct StepLosses {
  at::Tensor loss, main, aux;  ///< scalars; aux may be undefined
  at::Tensor parts;            ///< [P] main-loss parts (e.g. per layer); may be undefined
  bool backward_done = false;  ///< the step ran its own backward(s); `loss` is only logged
};

/// The loop both fitting phases share: `options.steps` AdamW steps over `params` with the
/// scheduled learning rate and clipping; each step hands this rank's part of the global batch over
/// `samples` sequences (data::ShardedBatches) to `step`. With a group, the parameters start from
/// rank 0's values and gradients are summed over the ranks before clipping, so every rank takes
/// the same step. Progress bar, logging (main rank), divergence check. `params` require grad during
/// the loop and no longer afterwards.
FitResult run_fit_loop(const std::vector<at::Tensor>& params, int64_t samples,
                       int64_t tokens_per_sample, const FitOptions& options, const char* phase,
                       const std::function<StepLosses(const FitBatch&)>& step,
                       const std::function<void(const FitStep&)>& on_log);

/// The same over several parameter groups with disjoint losses (one per layer): one optimizer,
/// gradients clipped per group, so each group takes the step it would take alone.
FitResult run_fit_loop(const std::vector<std::vector<at::Tensor>>& param_groups, int64_t samples,
                       int64_t tokens_per_sample, const FitOptions& options, const char* phase,
                       const std::function<StepLosses(const FitBatch&)>& step,
                       const std::function<void(const FitStep&)>& on_log);

}  // namespace dsla::distill
