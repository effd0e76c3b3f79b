// Implementation of parallel attention transfer over one walk of the teacher's layer stack.
#include "distill/parallel_transfer.h"

#include <ATen/ATen.h>
#include <torch/autograd.h>

#include <chrono>

#include "core/error.h"
#include "core/seconds.h"
#include "dist/group.h"

namespace dsla::distill {
namespace {

using Clock = std::chrono::steady_clock;

/// Walks the teacher over ids [B, T] without gradients; at every student's layer calls
/// visit(layer, x, y) with the normalised input and the teacher attention's output.
void walk_teacher(model::LlamaForCausalLMImpl& teacher, const LayerStudents& students,
                  const at::Tensor& ids,
                  const std::function<void(int64_t, const at::Tensor&, const at::Tensor&)>& visit) {
  torch::NoGradGuard no_grad;
  model::AttentionContext ctx = teacher.make_context(0, ids.size(1));
  auto own = teacher.own_attention(ctx, nullptr);
  auto attend = [&](int64_t layer, const at::Tensor& x) {
    at::Tensor y = own(layer, x);
    if (students.count(layer)) visit(layer, x, y);
    return y;
  };
  teacher.forward_layers(teacher.residual_before(ids, 0), 0, students.rbegin()->first + 1, attend);
}

}  // namespace

ParallelTransferResult parallel_transfer(model::LlamaForCausalLMImpl& teacher,
                                         const LayerStudents& students, const at::Tensor& ids,
                                         const FitOptions& o,
                                         const std::function<void(const FitStep&)>& on_log) {
  DSLA_CHECK(!students.empty(), "parallel attention transfer: no layers to train");
  ParallelTransferResult result;
  std::vector<std::vector<at::Tensor>> groups;
  for (const auto& [layer, student] : students) {
    DSLA_CHECK(teacher.layer(layer).attention()->kind() == "softmax",
               "parallel attention transfer: layer {} of the teacher is already converted", layer);
    result.layers.push_back(layer);
    groups.push_back(trainable_parameters(*student, o));
    student->train();
  }
  at::Tensor local = ids.index_select(0, at::tensor(local_items(ids.size(0), o), at::kLong));
  model::AttentionContext ctx = teacher.make_context(0, ids.size(1));
  double walk_seconds = 0, student_seconds = 0;
  auto step = [&](const FitBatch& b) {
    std::vector<at::Tensor> mse, cosines;
    auto start = Clock::now();
    walk_teacher(teacher, students, local.index_select(0, b.rows),
                 [&](int64_t layer, const at::Tensor& x, const at::Tensor& y32) {
                   auto student_start = Clock::now();
                   at::AutoGradMode grad(true);
                   TransferLoss l =
                       transfer_loss(*students.at(layer), x, y32, ctx, b, o.gate_separation);
                   // This layer's loss reaches only its own parameters: its backward runs now,
                   // so no layer's graph outlives its visit.
                   l.total(o.gate_separation).backward();
                   mse.push_back(l.mse.detach());
                   if (l.cosine.defined()) cosines.push_back(l.cosine.detach());
                   student_seconds += seconds_since(student_start);
                 });
    walk_seconds += seconds_since(start);
    at::Tensor parts = at::stack(mse);  // [layers]
    at::Tensor main = parts.sum();
    at::Tensor aux = cosines.empty() ? at::Tensor() : at::stack(cosines).sum();
    at::Tensor loss = aux.defined() ? main + o.gate_separation * aux : main;
    auto n = static_cast<double>(students.size());
    return StepLosses{loss, main / n, aux.defined() ? aux / n : aux, parts, /*backward_done=*/true};
  };
  FitResult fit = run_fit_loop(groups, ids.size(0), ids.size(1), o, "parallel attention transfer",
                               step, on_log);
  for (const auto& [layer, student] : students) student->eval();
  result.first_loss = fit.first_parts;
  result.final_loss = fit.final_parts;
  result.tokens = fit.tokens;
  result.seconds = fit.seconds;
  result.teacher_seconds = walk_seconds - student_seconds;
  result.resumed_at = fit.resumed_at;
  return result;
}

std::map<int64_t, double> transfer_mse(model::LlamaForCausalLMImpl& teacher,
                                       const LayerStudents& students, const at::Tensor& ids,
                                       int64_t batch) {
  DSLA_CHECK(!students.empty(), "transfer MSE: no layers");
  std::map<int64_t, double> error, energy;
  model::AttentionContext ctx = teacher.make_context(0, ids.size(1));
  for (int64_t i = 0; i < ids.size(0); i += batch) {
    walk_teacher(teacher, students, ids.narrow(0, i, std::min(batch, ids.size(0) - i)),
                 [&](int64_t layer, const at::Tensor& x, const at::Tensor& y32) {
                   at::Tensor y = y32.to(at::kFloat);
                   at::Tensor out = students.at(layer)->forward(x, ctx, nullptr).to(at::kFloat);
                   error[layer] += (out - y).pow(2).sum().item<double>();
                   energy[layer] += y.pow(2).sum().item<double>();
                 });
  }
  std::map<int64_t, double> out;
  for (const auto& [layer, e] : error) out[layer] = e / std::max(energy[layer], 1e-30);
  return out;
}

}  // namespace dsla::distill
