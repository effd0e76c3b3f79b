// DslaAttention: conversion from the teacher, gate initialisation, cached prefill + decode = full
// forward, gradients.
#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>
#include <gtest/gtest.h>
#include <torch/autograd.h>

#include <cmath>

#include "dsla/dsla.h"
#include "model/dsla_attention.h"
#include "model/generator.h"
#include "model/weight_loader.h"
#include "support/test_paths.h"

using namespace dsla::model;
namespace t = dsla::testing;

namespace {

LlamaForCausalLM stories_with_dsla(const std::vector<int64_t>& layers, DslaSettings o) {
  auto model = load_llama(t::stories260k_dir());
  for (int64_t i : layers) {
    auto& layer = model->layer(i);
    layer.set_attention(DslaAttention::from_softmax(*layer.attention(), model->config(), o, i));
  }
  return model;
}

}  // namespace

TEST(DslaAttention, CopiesTeacherProjectionsAndInitialisesGates) {
  auto teacher = load_llama(t::stories260k_dir());
  auto model = stories_with_dsla({1, 3}, {});
  auto* dsla = dynamic_cast<DslaAttention*>(model->layer(3).attention().get());
  ASSERT_NE(dsla, nullptr);
  EXPECT_EQ(model->layer(3).attention()->kind(), "dsla");
  EXPECT_EQ(model->layer(2).attention()->kind(), "softmax");
  auto named = teacher->named_parameters();
  EXPECT_TRUE(at::equal(dsla->k_proj->weight, named["model.layers.3.self_attn.k_proj.weight"]));
  EXPECT_TRUE(at::equal(dsla->o_proj->weight, named["model.layers.3.self_attn.o_proj.weight"]));
  // Parameter names follow the layer: the converted layer's own tensors sit under self_attn.
  EXPECT_EQ(model->named_parameters().contains("model.layers.3.self_attn.history_gate_up.bias"),
            true);
  at::Tensor x = at::randn({2, 5, 64});
  auto [g1, g2] = dsla->log_gates(x);
  EXPECT_NEAR(std::exp(g1.mean().item<double>()), 0.999, 1e-6);
  EXPECT_NEAR(std::exp(g2.mean().item<double>()), 0.875, 1e-6);
  EXPECT_NEAR(dsla->gamma()[0].item<double>(), 0.5, 1e-7);
  EXPECT_EQ(dsla->cache_bytes_per_sequence(1), dsla->cache_bytes_per_sequence(8192));
}

TEST(DslaAttention, SpreadGateInitFollowsTheRadladsScheduleAcrossChannelsAndLayers) {
  DslaSettings o;
  o.gate_init = GateInit::spread;
  auto model = stories_with_dsla({0, 4}, o);  // 5 layers: powers 0.7 (layer 0) and 2.0 (layer 4)
  at::Tensor x = at::randn({1, 3, 64});
  // The gate up-weights start at zero, so every token sees the initial decays: [H, d] per state.
  auto decays = [&](int64_t layer) {
    auto* dsla = dynamic_cast<DslaAttention*>(model->layer(layer).attention().get());
    auto [g1, g2] = dsla->log_gates(x);
    return std::pair{g1[0][0].exp().to(at::kDouble), g2[0][0].exp().to(at::kDouble)};
  };
  // By hand: exp(-exp(lo + (hi - lo) r^p)), r = n / 7, history [-6, -3.5], recency [-3.5, -1].
  auto want = [](double lo, double hi, double n, double p) {
    return std::exp(-std::exp(lo + (hi - lo) * std::pow(n / 7.0, p)));
  };
  auto [h0, r0] = decays(0);
  auto [h4, r4] = decays(4);
  for (int64_t head : {0, 7}) {
    EXPECT_NEAR(h0[head][0].item<double>(), want(-6, -3.5, 0, 0.7), 1e-5);
    EXPECT_NEAR(h0[head][7].item<double>(), want(-6, -3.5, 7, 0.7), 1e-5);
    EXPECT_NEAR(r0[head][7].item<double>(), want(-3.5, -1, 7, 0.7), 1e-5);
    EXPECT_NEAR(h4[head][4].item<double>(), want(-6, -3.5, 4, 2.0), 1e-5);
    EXPECT_NEAR(r4[head][3].item<double>(), want(-3.5, -1, 3, 2.0), 1e-5);
  }
  // Channels go from slow to fast; deeper layers keep more channels slow; history is slower.
  EXPECT_GT(h0[0][0].item<double>(), h0[0][7].item<double>());
  EXPECT_GT(h4[0][3].item<double>(), h0[0][3].item<double>());
  EXPECT_TRUE((h0 > r0).all().item<bool>());
  // The single state spans the whole range [-6, -1].
  auto single = initial_decays(
      [] {
        DslaSettings s;
        s.variant = DslaVariant::single;
        s.gate_init = GateInit::spread;
        return s;
      }(),
      false, 0, 5, 8);
  EXPECT_NEAR(single.back(), std::exp(-std::exp(-1.0)), 1e-12);
  // constant: the configured decays on every channel (the paper's initialisation).
  EXPECT_EQ(initial_decays(DslaSettings{}, true, 3, 5, 8), std::vector<double>(8, 0.875));
}

TEST(DslaAttention, CachedPrefillAndDecodeEqualFullForward) {
  for (bool rope : {false, true}) {
    DslaSettings o;
    o.rope = rope;
    o.output_norm = rope;  // exercise both options
    auto model = stories_with_dsla({0, 2, 4}, o);
    at::manual_seed(7);
    c10::InferenceMode guard;
    at::Tensor ids = at::randint(3, 512, {2, 90}, at::kLong);
    at::Tensor full = model->forward(ids);
    auto cache = model->make_cache();
    std::vector<at::Tensor> parts;
    parts.push_back(model->forward(ids.narrow(1, 0, 70), 0, &cache));  // chunked, 70 = 64 + 6
    parts.push_back(model->forward(ids.narrow(1, 70, 13), 70, &cache));
    for (int64_t p = 83; p < 90; ++p)
      parts.push_back(model->forward(ids.narrow(1, p, 1), p, &cache));
    at::Tensor stepped = at::cat(parts, 1);
    // fp32 through 5 layers, chunked vs recurrent kernels: compare relative to the logit range.
    double range = (full.max() - full.min()).item<double>();
    EXPECT_LE((stepped - full).abs().max().item<double>(), 1e-5 * range) << "rope=" << rope;
    EXPECT_TRUE(cache.layer(2).s1.defined());
    EXPECT_FALSE(cache.layer(2).k.defined());
    EXPECT_TRUE(cache.layer(1).k.defined());
  }
}

TEST(DslaAttention, MatchesTheReferenceRecurrenceOnItsProjections) {
  auto model = stories_with_dsla({2}, {});
  auto* dsla = dynamic_cast<DslaAttention*>(model->layer(2).attention().get());
  torch::NoGradGuard no_grad;
  at::Tensor x = at::randn({1, 33, 64});
  AttentionContext ctx;
  std::tie(ctx.cos, ctx.sin) = model->rope().table(0, 33);
  at::Tensor got = dsla->forward(x, ctx, nullptr);
  // Independent path: projections by hand, fp64 reference recurrence, o_proj by hand.
  auto proj = [&](const torch::nn::Linear& l, int64_t heads) {
    return at::matmul(x, l->weight.t()).view({1, 33, heads, 8}).to(at::kDouble);
  };
  at::Tensor q = proj(dsla->q_proj, 8);
  at::Tensor k = proj(dsla->k_proj, 4).repeat_interleave(2, 2);
  at::Tensor v = proj(dsla->v_proj, 4).repeat_interleave(2, 2);
  auto [g1, g2] = dsla->log_gates(x);
  auto ref = dsla::kernels::dsla_forward_ref(q, k, v, g1.to(at::kDouble), g2.to(at::kDouble),
                                             dsla->gamma().to(at::kDouble), {}, {}, {}, false);
  at::Tensor want =
      at::matmul(ref.o.reshape({1, 33, 64}), dsla->o_proj->weight.t().to(at::kDouble));
  EXPECT_LE((got.to(at::kDouble) - want).abs().max().item<double>(), 1e-4);
}

TEST(DslaAttention, GradientsReachProjectionsGatesAndGamma) {
  auto model = stories_with_dsla({1}, {});
  model->train();
  at::Tensor ids = at::randint(3, 512, {2, 40}, at::kLong);
  at::Tensor logits = model->forward(ids);
  at::Tensor loss = at::cross_entropy_loss(logits.narrow(1, 0, 39).reshape({-1, 512}),
                                           ids.narrow(1, 1, 39).reshape({-1}));
  loss.backward();
  auto* dsla = dynamic_cast<DslaAttention*>(model->layer(1).attention().get());
  for (const auto& p : dsla->named_parameters()) {
    ASSERT_TRUE(p.value().grad().defined()) << p.key();
    // The down projections get no gradient while the up weights are still zero (LoRA-style start).
    if (p.key().find("_down") != std::string::npos) continue;
    EXPECT_GT(p.value().grad().abs().sum().item<double>(), 0) << p.key();
  }
}

TEST(DslaAttention, GeneratesThroughTheConvertedModel) {
  auto model = stories_with_dsla({0, 1, 2, 3, 4}, {});
  GenerateOptions go;
  go.max_new_tokens = 20;
  auto r = generate(*model, {1}, go);
  EXPECT_EQ(r.tokens.size(), 20u);
}
