// Implementation of attention transfer for one converted layer.
#include "distill/layer_fit.h"

#include <ATen/ATen.h>
#include <torch/autograd.h>

#include "core/error.h"
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
