// The end-to-end phase's parts: LoRA adapters against the merged weight computed by hand, the
// held-out guard (keep-best, spike rollback) on a toy problem, and a LoRA phase on stories260K that
// lowers the held-out KL to the teacher with a rank-limited change of the projections.
#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <torch/autograd.h>
#include <torch/nn/modules/linear.h>

#include <vector>

#include "core/error.h"
#include "distill/end_to_end.h"
#include "distill/lora.h"
#include "model/conversion.h"
#include "model/dsla_attention.h"
#include "model/weight_loader.h"
#include "support/test_paths.h"

using namespace dsla;
namespace t = dsla::testing;

TEST(Lora, AFreshAdapterChangesNothingAndMergesToBasePlusScaledBA) {
  at::manual_seed(0);
  torch::nn::Linear linear(torch::nn::LinearOptions(12, 10).bias(true));
  at::Tensor w0 = linear->weight.detach().clone();
  at::Tensor x = at::randn({3, 12});
  at::Tensor before = linear->forward(x).detach();
  distill::LoraOptions o{4, 8.0};
  {
    distill::LoraScope scope({linear.ptr()}, o, 1);
    scope.apply();
    EXPECT_TRUE(at::allclose(linear->forward(x), before, 0, 0)) << "B starts at zero";
    auto params = scope.parameters();  // A [4, 12], B [10, 4]
    ASSERT_EQ(params.size(), 2u);
    {
      torch::NoGradGuard no_grad;
      params[1].copy_(at::randn({10, 4}));
    }
    params[0].set_requires_grad(true);
    params[1].set_requires_grad(true);
    scope.apply();
    at::Tensor expected_w = w0 + (o.alpha / 4) * at::mm(params[1].detach(), params[0].detach());
    at::Tensor out = linear->forward(x);
    EXPECT_TRUE(at::allclose(out, at::linear(x, expected_w, linear->bias.detach()), 1e-5, 1e-5));
    out.sum().backward();
    EXPECT_TRUE(params[0].grad().defined() && params[1].grad().defined());
    EXPECT_FALSE(linear->named_parameters()["weight"].grad().defined()) << "W0 stays frozen";
    scope.merge();
    EXPECT_TRUE(at::allclose(linear->named_parameters()["weight"], expected_w, 1e-6, 1e-6));
    EXPECT_TRUE(linear->weight.is_same(linear->named_parameters()["weight"]));
  }
  {
    distill::LoraScope scope({linear.ptr()}, o, 2);
    {
      torch::NoGradGuard no_grad;
      scope.parameters()[1].fill_(1);
    }
    scope.apply();
  }  // ended without merge: the weight is what it was
  at::Tensor merged = linear->named_parameters()["weight"];
  EXPECT_TRUE(linear->weight.is_same(merged));
  EXPECT_FALSE(at::allclose(merged, w0));  // the first scope's merge stays
}

TEST(Lora, RefusesARankAboveTheProjection) {
  torch::nn::Linear linear(torch::nn::LinearOptions(6, 4));
  EXPECT_THROW(distill::LoraScope({linear.ptr()}, distill::LoraOptions{5, 16}, 0), dsla::Error);
}

namespace {

/// A one-parameter fit pulled toward 1 by training while the held-out loss is `held_out(p)`.
struct ToyFit {
  at::Tensor p = at::zeros({1});
  distill::FitOptions options() {
    distill::FitOptions o;
    o.steps = 20;
    o.batch_size = 1;
    o.lr = 0.1;
    o.max_grad_norm = 0;
    o.log_every = 1;
    return o;
  }
  distill::FitResult run(const distill::FitOptions& o, std::vector<distill::FitStep>* log) {
    auto step = [&](const distill::FitBatch&) {
      at::Tensor loss = (p - 1).pow(2).sum();
      return distill::StepLosses{loss, loss.detach(), {}, {}, false};
    };
    return distill::run_fit_loop(std::vector<at::Tensor>{p}, 4, 1, o, "toy", step,
                                 [&](const distill::FitStep& s) { log->push_back(s); });
  }
};

}  // namespace

TEST(HeldOutGuard, EndsOnTheBestCheckedParameters) {
  ToyFit toy;
  distill::FitOptions o = toy.options();
  // Held out: best at p = 0.5; training runs past it toward 1.
  o.held_out = [&] { return (toy.p - 0.5).abs().item<double>(); };
  o.check_every = 2;
  o.spike_factor = 0;
  std::vector<distill::FitStep> log;
  std::vector<double> checked_p;
  auto held_out = o.held_out;
  o.held_out = [&] {
    checked_p.push_back(toy.p.item<double>());
    return held_out();
  };
  distill::FitResult r = toy.run(o, &log);
  ASSERT_EQ(checked_p.size(), 11u);  // before the first step, then after steps 2, 4, .. 20
  size_t best = 0;
  for (size_t i = 1; i < checked_p.size(); ++i) {
    if (std::abs(checked_p[i] - 0.5) < std::abs(checked_p[best] - 0.5)) best = i;
  }
  EXPECT_GT(checked_p.back(), 0.6) << "training went past the held-out optimum";
  EXPECT_DOUBLE_EQ(toy.p.item<double>(), checked_p[best]);
  EXPECT_EQ(r.best_step, static_cast<int64_t>(2 * best));
  EXPECT_DOUBLE_EQ(*r.held_out_first, 0.5);
  EXPECT_DOUBLE_EQ(*r.held_out_best, std::abs(checked_p[best] - 0.5));
  EXPECT_EQ(r.rollbacks, 0);
}

TEST(HeldOutGuard, ASpikeRollsBackAndHalvesTheRate) {
  ToyFit toy;
  distill::FitOptions o = toy.options();
  int calls = 0;
  std::vector<double> checked_p;
  // Falls with training except a spike at the third check (after step 4).
  o.held_out = [&] {
    checked_p.push_back(toy.p.item<double>());
    return ++calls == 3 ? 100.0 : 1.0 - toy.p.item<double>();
  };
  o.check_every = 2;
  o.spike_factor = 2;
  std::vector<distill::FitStep> log;
  distill::FitResult r = toy.run(o, &log);
  EXPECT_EQ(r.rollbacks, 1);
  ASSERT_GE(log.size(), 6u);
  EXPECT_TRUE(log[3].rolled_back);
  for (size_t i = 0; i < log.size(); ++i) EXPECT_EQ(log[i].rolled_back, i == 3) << i;
  // After the rollback the next step starts from the parameters checked after step 2 at half the
  // scheduled rate.
  EXPECT_NEAR(log[4].lr, 0.5 * distill::scheduled_lr(0.1, 4, 20), 1e-12);
  EXPECT_NEAR(log[2].lr, distill::scheduled_lr(0.1, 2, 20), 1e-12);
  EXPECT_LT(*r.held_out_best, 1.0 - checked_p[1]);  // training kept improving after it
  EXPECT_DOUBLE_EQ(toy.p.item<double>(), 1.0 - *r.held_out_best);
}

TEST(EndToEnd, LoraPhaseLowersHeldOutKlWithARankLimitedProjectionChange) {
  auto teacher = model::load_llama(t::stories260k_dir());
  for (auto& p : teacher->parameters()) p.set_requires_grad(false);
  auto hybrid = model::HybridModel::from_teacher(teacher);
  model::DslaSettings spec;
  spec.gate_rank = 4;
  const int64_t layer = 2;
  at::manual_seed(5);
  model::convert_layer(hybrid->model(), layer, spec);
  hybrid->add_stage(layer);
  auto& attention = dynamic_cast<model::DslaAttention&>(*hybrid->model().layer(layer).attention());
  at::Tensor q_before = attention.q_proj->weight.detach().clone();
  at::Tensor gate_before = attention.history_gate_up->weight.detach().clone();
  at::manual_seed(6);
  at::Tensor ids = at::randint(1, teacher->config().vocab_size, {16, 32}, at::kLong);
  at::Tensor held_out = at::randint(1, teacher->config().vocab_size, {4, 32}, at::kLong);
  distill::FitOptions o;
  o.steps = 12;
  o.batch_size = 4;
  o.lr = 3e-3;
  o.check_every = 4;
  distill::EndToEndOptions e2e{{0, 1}, distill::LoraOptions{2, 4}, held_out};
  double kl_before = distill::kl_to_teacher(*hybrid, held_out, 4);
  distill::FitResult r = distill::fit_end_to_end(*hybrid, {layer}, ids, 16, e2e, o);
  ASSERT_TRUE(r.held_out_first.has_value());
  EXPECT_NEAR(*r.held_out_first, kl_before, 1e-6 * kl_before);
  EXPECT_LT(*r.held_out_best, *r.held_out_first);
  // The merged model is the one the phase kept.
  EXPECT_NEAR(distill::kl_to_teacher(*hybrid, held_out, 4), *r.held_out_best,
              1e-5 * *r.held_out_best);
  at::Tensor change = attention.q_proj->weight.detach() - q_before;  // [out, in]
  at::Tensor sv = at::linalg_svdvals(change.to(at::kDouble));
  EXPECT_GT(sv[0].item<double>(), 1e-6) << "the adapter changed q";
  // Rank 2 up to the fp32 rounding of W0 + delta (a full-rank change has sv[2] near sv[0]).
  EXPECT_LT(sv[2].item<double>(), 1e-5 * sv[0].item<double>()) << "rank 2 at most";
  EXPECT_FALSE(at::equal(attention.history_gate_up->weight, gate_before))
      << "the new parameters train in full";
  EXPECT_TRUE(attention.q_proj->weight.is_same(attention.q_proj->named_parameters()["weight"]));
}
