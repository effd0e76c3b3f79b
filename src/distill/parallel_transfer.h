// Parallel attention transfer: one teacher forward per batch gives every planned layer its input
// and its target, and all planned layers train at once, each on its own loss.
#pragma once

#include <functional>
#include <map>
#include <memory>

#include "distill/layer_fit.h"

namespace dsla::distill {

/// Student attention modules by the teacher layer they replace.
using LayerStudents = std::map<int64_t, std::shared_ptr<model::AttentionModule>>;

/// What the phase did, per layer in ascending layer order and in all.
struct ParallelTransferResult {
  std::vector<int64_t> layers;
  std::vector<double> first_loss, final_loss;  ///< relative MSE, per layer
  int64_t tokens = 0;                          ///< tokens every layer trained on
  double seconds = 0;
  double teacher_seconds = 0;  ///< of which the teacher's forward (inputs and targets)
  int64_t resumed_at = 0;      ///< steps a loop checkpoint held (seconds cover the rest)
};

/// Trains every student of `students` on batches of `ids` [S, T] (this rank's share when
/// options.group is set, in data::ShardedBatches order over S sequences, as fit_attention does).
/// A step walks `teacher` (whose layers must all be its own softmax attention) once without
/// gradients; at each student's layer the student sees input_layernorm of the teacher's residual
/// and is scored by the relative MSE to the teacher attention's output on it (plus the
/// gate-separation term). Gradients are clipped per layer, so each layer takes the steps that
/// fit_attention would give it alone on collect_layer_io(teacher, layer, ids).
/// `on_log` gets every log_every-th step with the per-layer losses as FitStep::parts.
ParallelTransferResult parallel_transfer(model::LlamaForCausalLMImpl& teacher,
                                         const LayerStudents& students, const at::Tensor& ids,
                                         const FitOptions& options,
                                         const std::function<void(const FitStep&)>& on_log);

/// Relative MSE of every student to the teacher on ids [M, T] (one walk, `batch` rows at a time).
std::map<int64_t, double> transfer_mse(model::LlamaForCausalLMImpl& teacher,
                                       const LayerStudents& students, const at::Tensor& ids,
                                       int64_t batch);

}  // namespace dsla::distill
