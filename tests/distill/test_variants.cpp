// Student variants and conversion: sliding-window attention against an fp64 masked-softmax
// reference (full and cached), the single-state layer against an fp64 recurrence, plan JSON.
#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>
#include <gtest/gtest.h>

#include <cmath>

#include "core/error.h"
#include "model/conversion.h"
#include "model/sliding_window_attention.h"
#include "model/softmax_attention.h"
#include "model/weight_loader.h"
#include "support/test_paths.h"

using namespace dsla::model;
namespace t = dsla::testing;

namespace {

/// fp64 windowed causal attention of one layer, written out: [B, T, hidden] -> [B, T, hidden].
at::Tensor naive_window_attention(SoftmaxAttention& a, const LlamaConfig& c, const at::Tensor& x,
                                  const AttentionContext& ctx, int64_t window) {
  int64_t b = x.size(0), t = x.size(1), h = c.num_attention_heads, kvh = c.num_key_value_heads,
          d = c.head_dim;
  auto lin = [](const torch::nn::Linear& l, const at::Tensor& in) {
    return at::matmul(in.to(at::kDouble), l->weight.to(at::kDouble).t());
  };
  at::Tensor q = lin(a.q_proj, x).view({b, t, h, d});
  at::Tensor k = lin(a.k_proj, x).view({b, t, kvh, d});
  at::Tensor v = lin(a.v_proj, x).view({b, t, kvh, d});
  // RoPE (rotate-half) in fp64.
  auto rope = [&](const at::Tensor& z) {
    at::Tensor cos = ctx.cos.to(at::kDouble).view({1, t, 1, d});
    at::Tensor sin = ctx.sin.to(at::kDouble).view({1, t, 1, d});
    at::Tensor z1 = z.narrow(3, 0, d / 2), z2 = z.narrow(3, d / 2, d / 2);
    return z * cos + at::cat({-z2, z1}, 3) * sin;
  };
  q = rope(q);
  k = rope(k).repeat_interleave(h / kvh, 2);
  v = v.repeat_interleave(h / kvh, 2);
  at::Tensor out = at::zeros({b, t, h, d}, at::kDouble);
  for (int64_t i = 0; i < t; ++i) {
    int64_t lo = std::max<int64_t>(0, i - window + 1);
    at::Tensor keys = k.narrow(1, lo, i - lo + 1);                             // [B, W, H, d]
    at::Tensor s = (q.narrow(1, i, 1) * keys).sum(-1) / std::sqrt(double(d));  // [B, W, H]
    at::Tensor p = at::softmax(s, 1).unsqueeze(-1);
    out.narrow(1, i, 1).copy_((p * v.narrow(1, lo, i - lo + 1)).sum(1, true));
  }
  return at::matmul(out.view({b, t, h * d}), a.o_proj->weight.to(at::kDouble).t());
}

}  // namespace

TEST(SlidingWindow, MatchesFp64ReferenceFullAndCached) {
  auto model = load_llama(t::stories260k_dir());
  const LlamaConfig& c = model->config();
  auto* teacher = dynamic_cast<SoftmaxAttention*>(model->layer(2).attention().get());
  ASSERT_NE(teacher, nullptr);
  c10::InferenceMode guard;
  at::manual_seed(3);
  int64_t t = 40, window = 7;
  at::Tensor x = at::randn({2, t, c.hidden_size});
  AttentionContext ctx = model->make_context(0, t);
  auto swa = SlidingWindowAttention::from_softmax(*teacher, c, window);
  at::Tensor ref = naive_window_attention(*teacher, c, x, ctx, window);
  at::Tensor full = swa->forward(x, ctx, nullptr).to(at::kDouble);
  EXPECT_LT((full - ref).abs().max().item<double>(), 1e-4 * ref.abs().max().item<double>());
  // Prefill 13 tokens, then one at a time: the trimmed cache must give the same outputs.
  LayerCache cache;
  std::vector<at::Tensor> parts = {
      swa->forward(x.narrow(1, 0, 13), model->make_context(0, 13), &cache)};
  for (int64_t i = 13; i < t; ++i) {
    parts.push_back(swa->forward(x.narrow(1, i, 1), model->make_context(i, 1), &cache));
    EXPECT_LE(cache.length, window);
  }
  at::Tensor cached = at::cat(parts, 1).to(at::kDouble);
  EXPECT_LT((cached - ref).abs().max().item<double>(), 1e-4 * ref.abs().max().item<double>());
  // A window covering every position is the teacher itself.
  auto wide = SlidingWindowAttention::from_softmax(*teacher, c, t);
  EXPECT_TRUE(
      at::allclose(wide->forward(x, ctx, nullptr), teacher->forward(x, ctx, nullptr), 1e-5, 1e-6));
  // The default window holds as many cached bytes as the matching dual layer's two states.
  const int64_t h = c.num_attention_heads, d = c.head_dim, kvh = c.num_key_value_heads;
  DslaSettings paper;  // identity features, no normaliser: two d x d states per head
  EXPECT_EQ(state_matched_window(*teacher, c, paper, 1), h * d / kvh);
  DslaSettings hedgehog;
  hedgehog.feature_map = FeatureMap::hedgehog;  // 2d features per head
  hedgehog.normalize = Normalize::qz;           // a (d + 1)-th column for z
  hedgehog.rope = true;
  hedgehog.window = 16;  // the window and sinks are not state
  hedgehog.sinks = 4;
  EXPECT_EQ(state_matched_window(*teacher, c, hedgehog, 1),
            2 * h * (2 * d) * (d + 1) / (2 * kvh * d));
}

TEST(SingleState, MatchesFp64Recurrence) {
  auto model = load_llama(t::stories260k_dir());
  const LlamaConfig& c = model->config();
  DslaSettings spec;
  spec.variant = DslaVariant::single;
  spec.single_decay = 0.9;
  convert_layer(*model, 1, spec);
  auto* layer = dynamic_cast<DslaAttention*>(model->layer(1).attention().get());
  ASSERT_NE(layer, nullptr);
  EXPECT_FALSE(layer->recency_gate_up);
  EXPECT_FALSE(layer->gamma_logit.defined());
  c10::InferenceMode guard;
  at::manual_seed(5);
  int64_t b = 2, t = 19, h = c.num_attention_heads, d = c.head_dim;
  at::Tensor x = at::randn({b, t, c.hidden_size});
  at::Tensor out = layer->forward(x, model->make_context(0, t), nullptr).to(at::kDouble);
  // S_t = diag(exp g_t) S_{t-1} + k_t v_t^T, o_t = d^-1/2 q_t^T S_t, in fp64.
  auto proj = [&](const torch::nn::Linear& l) {
    return at::matmul(x.to(at::kDouble), l->weight.to(at::kDouble).t()).view({b, t, -1, d});
  };
  at::Tensor q = proj(layer->q_proj), k = proj(layer->k_proj), v = proj(layer->v_proj);
  k = k.repeat_interleave(h / c.num_key_value_heads, 2);
  v = v.repeat_interleave(h / c.num_key_value_heads, 2);
  at::Tensor g = layer->log_gates(x).first.to(at::kDouble);  // [B, T, H, d]
  at::Tensor s = at::zeros({b, h, d, d}, at::kDouble);
  at::Tensor o = at::zeros({b, t, h, d}, at::kDouble);
  for (int64_t i = 0; i < t; ++i) {
    s = s * g.select(1, i).exp().unsqueeze(-1) +
        k.select(1, i).unsqueeze(-1) * v.select(1, i).unsqueeze(-2);
    o.select(1, i).copy_((q.select(1, i).unsqueeze(-1) * s).sum(2) / std::sqrt(double(d)));
  }
  at::Tensor ref = at::matmul(o.view({b, t, h * d}), layer->o_proj->weight.to(at::kDouble).t());
  EXPECT_LT((out - ref).abs().max().item<double>(), 1e-4 * ref.abs().max().item<double>());
}

TEST(ConversionPlan, JsonRoundTripAndErrors) {
  ConversionPlan plan;
  plan.spec.variant = DslaVariant::dual;
  plan.spec.gate_rank = 4;
  plan.spec.per_head_gamma = true;
  plan.order = {3, 0, 4, 1, 2};
  plan.converted = 2;
  nlohmann::json j = plan_to_json(plan);
  ConversionPlan back = plan_from_json(j, 5, "config.json");
  EXPECT_EQ(back.order, plan.order);
  EXPECT_EQ(back.converted_layers(), (std::vector<int64_t>{3, 0}));
  EXPECT_EQ(plan_to_json(back), j);
  auto expect_error = [](nlohmann::json bad, const std::string& needle) {
    try {
      plan_from_json(bad, 5, "x/config.json");
      ADD_FAILURE() << "no error for " << bad.dump();
    } catch (const dsla::Error& e) {
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find("x/config.json"), std::string::npos) << e.what();
    }
  };
  nlohmann::json dup = j;
  dup["order"] = {1, 1};
  expect_error(dup, "twice");
  nlohmann::json range = j;
  range["order"] = {7};
  expect_error(range, "outside");
  nlohmann::json many = j;
  many["converted"] = 9;
  expect_error(many, "converted");
  nlohmann::json variant = j;
  variant["variant"] = "mamba";
  expect_error(variant, "variant");
  nlohmann::json missing = j;
  missing.erase("tau");
  expect_error(missing, "tau");
}
