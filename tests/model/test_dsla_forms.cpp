// Every DSLA layer form (feature maps, q.z normaliser, exact window, sinks, temperature) against an
// independent fp64 reference: the quadratic form of the same attention written from the layer's
// definition (outputs and every parameter's gradient), and cached prefill + decode = one pass.
#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <torch/autograd.h>

#include <cmath>
#include <map>
#include <ostream>
#include <string>
#include <vector>

#include "dsla/dsla.h"
#include "model/dsla_attention.h"
#include "model/rope.h"

using namespace dsla::model;

namespace {

LlamaConfig tiny_config() {
  LlamaConfig c;
  c.hidden_size = 32;
  c.num_attention_heads = 4;
  c.num_key_value_heads = 2;  // GQA, as in the real teachers
  c.head_dim = 8;
  c.num_hidden_layers = 3;
  c.intermediate_size = 64;
  c.vocab_size = 16;
  return c;
}

struct Form {
  std::string name;
  DslaSettings settings;
  bool padded = false;
};

void PrintTo(const Form& f, std::ostream* os) {
  *os << f.name;
}

DslaSettings form(FeatureMap map, Normalize norm, int64_t window, int64_t sinks) {
  DslaSettings s;
  s.feature_map = map;
  s.normalize = norm;
  s.window = window;
  s.sinks = sinks;
  s.rope = window > 0;  // the exact window is the teacher's softmax, with RoPE
  s.chunk_size = 4;     // T = 13 below: three full chunks and a partial one
  return s;
}

std::vector<Form> all_forms() {
  std::vector<Form> f;
  f.push_back({"paper", form(FeatureMap::identity, Normalize::none, 0, 0)});
  f.push_back({"relu_unnormalised", form(FeatureMap::relu, Normalize::none, 0, 0), true});
  f.push_back({"hedgehog_qz", form(FeatureMap::hedgehog, Normalize::qz, 0, 0)});
  f.push_back({"softmax_qz_temperature", form(FeatureMap::softmax, Normalize::qz, 0, 0)});
  f.back().settings.temperature = true;
  f.push_back({"elu1_window", form(FeatureMap::elu1, Normalize::qz, 4, 0)});
  f.push_back({"relu_window_sinks", form(FeatureMap::relu, Normalize::qz, 4, 2)});
  f.push_back(
      {"hedgehog_window_sinks_rope_padded", form(FeatureMap::hedgehog, Normalize::qz, 3, 2), true});
  f.back().settings.rope = true;
  f.back().settings.feature_dim = 6;
  f.back().settings.per_head_gamma = true;
  f.push_back(
      {"single_hedgehog_window_padded", form(FeatureMap::hedgehog, Normalize::qz, 5, 1), true});
  f.back().settings.variant = DslaVariant::single;
  f.back().settings.rope = true;
  return f;
}

/// A layer whose every parameter is away from its initial value, so each one shapes the output.
std::shared_ptr<DslaAttention> make_layer(const LlamaConfig& c, const DslaSettings& s) {
  at::manual_seed(7);
  auto layer = std::make_shared<DslaAttention>(c, s, 1);
  torch::NoGradGuard no_grad;
  for (auto& p : layer->named_parameters()) {
    if (p.key().find("proj") == std::string::npos) p.value().add_(at::randn_like(p.value()) * 0.2);
  }
  return layer;
}

AttentionContext context(const LlamaConfig& c, int64_t start, int64_t t, const at::Tensor& pad) {
  RotaryEmbedding rope(c);
  AttentionContext ctx;
  ctx.start_pos = start;
  ctx.pad = pad;
  if (!pad.defined()) {
    std::tie(ctx.cos, ctx.sin) = rope.table(start, t);
    return ctx;
  }
  // [1, T] columns - [B, 1] padding: each row's positions, clamped at 0 on its padding.
  at::Tensor columns = at::arange(start, start + t, at::kLong).unsqueeze(0);
  std::tie(ctx.cos, ctx.sin) = rope.table_at(columns - pad.unsqueeze(1));
  return ctx;
}

at::Tensor dlinear(const at::Tensor& x, const torch::nn::Linear& l) {
  return at::linear(x, l->weight.to(at::kDouble),
                    l->bias.defined() ? l->bias.to(at::kDouble) : at::Tensor());
}

at::Tensor reference_phi(FeatureMap kind, const at::Tensor& x, const QkFeatureMap& map) {
  switch (kind) {
    case FeatureMap::identity:
      return x;
    case FeatureMap::softmax:
      return at::softmax(x, -1);
    case FeatureMap::elu1:
      return at::elu(x) + 1;
    case FeatureMap::relu:
      return at::relu(x);
    case FeatureMap::hedgehog: {
      at::Tensor p = at::einsum("bthd,hdf->bthf", {x, map->weight.to(at::kDouble)});
      return at::cat({at::softmax(p, -1), at::softmax(-p, -1)}, -1);
    }
  }
  return {};
}

at::Tensor reference_log_gate(const DslaAttention& layer, const torch::nn::Linear& down,
                              const torch::nn::Linear& up, const at::Tensor& x, int64_t f) {
  at::Tensor z = dlinear(down ? dlinear(x, down) : x, up);
  return (at::log_sigmoid(z) / layer.options().tau)
      .clamp_min(-50.0)
      .view({x.size(0), x.size(1), -1, f});
}

/// The layer in fp64, one query and one key at a time: o_t = (sum_j a_tj v_j + w sum_j e_tj v_j) /
/// (sum_j a_tj + w sum_j e_tj + eps) with a_tj the gated linear weight of a key that has left the
/// window and e_tj the exact softmax weight of a window key or sink.
at::Tensor reference(DslaAttention& layer, const LlamaConfig& c, const at::Tensor& x_in,
                     const AttentionContext& ctx, const at::Tensor& pad) {
  const DslaSettings& s = layer.options();
  at::Tensor x = x_in.to(at::kDouble);
  int64_t b = x.size(0), t = x.size(1), h = c.num_attention_heads, d = c.head_dim;
  int64_t groups = h / c.num_key_value_heads;
  at::Tensor q = dlinear(x, layer.q_proj).view({b, t, h, d});
  at::Tensor k = dlinear(x, layer.k_proj).view({b, t, -1, d}).repeat_interleave(groups, 2);
  at::Tensor v = dlinear(x, layer.v_proj).view({b, t, -1, d}).repeat_interleave(groups, 2);
  if (s.rope) {
    q = apply_rotary(q, ctx.cos.to(at::kDouble), ctx.sin.to(at::kDouble));
    k = apply_rotary(k, ctx.cos.to(at::kDouble), ctx.sin.to(at::kDouble));
  }
  at::Tensor qt =
      s.temperature ? q * layer.temperature_log.to(at::kDouble).exp().view({1, 1, h, 1}) : q;
  at::Tensor qf = reference_phi(s.feature_map, qt, layer.q_map);
  at::Tensor kf = reference_phi(s.feature_map, k, layer.k_map);
  int64_t f = qf.size(3);
  at::Tensor g1 = reference_log_gate(layer, layer.history_gate_down, layer.history_gate_up, x, f);
  at::Tensor g2 = s.single_state() ? g1
                                   : reference_log_gate(layer, layer.recency_gate_down,
                                                        layer.recency_gate_up, x, f);
  at::Tensor cum1 = g1.cumsum(1), cum2 = g2.cumsum(1);
  at::Tensor gamma = s.single_state() ? at::ones({h}, at::kDouble)
                                      : at::sigmoid(layer.gamma_logit.to(at::kDouble)).expand({h});
  at::Tensor wf = s.window > 0 ? at::exp(layer.window_log_weight.to(at::kDouble)) : at::Tensor();
  int64_t n = s.window, sinks = s.sinks;
  std::vector<at::Tensor> rows;
  for (int64_t bi = 0; bi < b; ++bi) {
    int64_t p = pad.defined() ? pad[bi].item<int64_t>() : 0;
    std::vector<at::Tensor> outs;
    for (int64_t ti = 0; ti < t; ++ti) {
      at::Tensor num = at::zeros({h, d}, at::kDouble), den = at::zeros({h, 1}, at::kDouble);
      for (int64_t e = 0; e <= ti; ++e) {  // the key entering the states at step e
        int64_t j = e - n;
        if (j < p || j - p < sinks) continue;
        at::Tensor a1 = (qf[bi][ti] * kf[bi][j] * (cum1[bi][ti] - cum1[bi][e]).exp()).sum(-1);
        at::Tensor a2 = (qf[bi][ti] * kf[bi][j] * (cum2[bi][ti] - cum2[bi][e]).exp()).sum(-1);
        at::Tensor a = (gamma * a1 + (1 - gamma) * a2).unsqueeze(1);  // [H, 1]
        num = num + a * v[bi][j];
        den = den + a;
      }
      if (s.normalize == Normalize::none) {
        outs.push_back(num / std::sqrt(static_cast<double>(f)));
        continue;
      }
      std::vector<at::Tensor> scores, values;
      for (int64_t j = p; j <= ti && n > 0; ++j) {
        if (ti - j < n || j - p < sinks) {
          scores.push_back((q[bi][ti] * k[bi][j]).sum(-1) / std::sqrt(static_cast<double>(d)));
          values.push_back(v[bi][j]);
        }
      }
      if (!scores.empty()) {
        at::Tensor sc = at::stack(scores, 1);  // [H, J]
        at::Tensor w = (sc - std::get<0>(sc.max(1, true))).exp();
        num = num + wf.unsqueeze(1) * at::einsum("hj,jhd->hd", {w, at::stack(values, 0)});
        den = den + wf.unsqueeze(1) * w.sum(1, true);
      }
      outs.push_back(num / (den + 1e-6));
    }
    rows.push_back(at::stack(outs, 0));  // [T, H, d]
  }
  at::Tensor o = at::stack(rows, 0).reshape({b, t, h * d});
  return dlinear(o, layer.o_proj);
}

double relative_error(const at::Tensor& got, const at::Tensor& want) {
  return (got.to(at::kDouble) - want.to(at::kDouble)).abs().max().item<double>() /
         want.abs().max().item<double>();
}

/// The layer's output and every parameter's gradient against the fp64 reference.
void expect_matches_reference(const Form& fm) {
  LlamaConfig c = tiny_config();
  auto layer = make_layer(c, fm.settings);
  at::Tensor x = at::randn({2, 13, c.hidden_size});
  at::Tensor pad = fm.padded ? at::tensor(std::vector<int64_t>{3, 0}) : at::Tensor();
  AttentionContext ctx = context(c, 0, 13, pad);
  at::Tensor weights = at::randn({2, 13, c.hidden_size});
  at::Tensor got = layer->forward(x, ctx, nullptr);
  (got * weights).sum().backward();
  std::map<std::string, at::Tensor> grads;
  for (auto& p : layer->named_parameters()) {
    grads[p.key()] = p.value().grad().clone();
    p.value().mutable_grad().zero_();
  }
  at::Tensor want = reference(*layer, c, x, ctx, pad);
  EXPECT_LT(relative_error(got, want), 2e-5) << fm.name;
  (want * weights.to(at::kDouble)).sum().backward();
  for (auto& p : layer->named_parameters()) {
    ASSERT_TRUE(p.value().grad().defined()) << p.key();
    EXPECT_GT(p.value().grad().abs().max().item<double>(), 0) << fm.name << " " << p.key();
    EXPECT_LT(relative_error(grads[p.key()], p.value().grad()), 1e-4) << fm.name << " " << p.key();
  }
}

/// Prefill 7, then 3 tokens, then three decode steps, against one pass; the cache's bytes.
void expect_cached_decode_matches_one_pass(const Form& fm) {
  LlamaConfig c = tiny_config();
  auto layer = make_layer(c, fm.settings);
  torch::NoGradGuard no_grad;
  at::Tensor x = at::randn({2, 13, c.hidden_size});
  at::Tensor pad = fm.padded ? at::tensor(std::vector<int64_t>{6, 0}) : at::Tensor();
  at::Tensor whole = layer->forward(x, context(c, 0, 13, pad), nullptr);
  LayerCache cache;
  std::vector<at::Tensor> parts;
  // A 7-token prefill (the padded row's first real token is in it), a 3-token chunk, then steps.
  std::vector<std::pair<int64_t, int64_t>> calls = {{0, 7}, {7, 3}, {10, 1}, {11, 1}, {12, 1}};
  for (auto [start, len] : calls) {
    parts.push_back(layer->forward(x.narrow(1, start, len), context(c, start, len, pad), &cache));
  }
  EXPECT_LT(relative_error(at::cat(parts, 1), whole), 1e-5) << fm.name;
  EXPECT_EQ(cache.length, 13);
  int64_t held = 0;
  for (const at::Tensor* t :
       {&cache.s1, &cache.s2, &cache.window_k, &cache.window_v, &cache.sink_k, &cache.sink_v}) {
    if (t->defined()) held += t->numel() * t->element_size();
  }
  EXPECT_EQ(held, 2 * layer->cache_bytes_per_sequence(13)) << fm.name;
}

class DslaForms : public ::testing::TestWithParam<Form> {};

TEST_P(DslaForms, OutputsAndGradientsMatchTheFp64Reference) {
  expect_matches_reference(GetParam());
}

TEST_P(DslaForms, CachedPrefillAndDecodeEqualOnePass) {
  expect_cached_decode_matches_one_pass(GetParam());
}

// The portable ATen chunked path and decode step (what runs on CUDA) for every form.
TEST_P(DslaForms, PortableAtenPathMatchesTheFp64Reference) {
  dsla::kernels::AutoKernelScope aten(dsla::kernels::DslaKernel::kAten);
  expect_matches_reference(GetParam());
  expect_cached_decode_matches_one_pass(GetParam());
}

INSTANTIATE_TEST_SUITE_P(AllForms, DslaForms, ::testing::ValuesIn(all_forms()),
                         [](const auto& param_info) { return param_info.param.name; });

TEST(DslaForms, Bfloat16StaysNearTheFp64Reference) {
  LlamaConfig c = tiny_config();
  auto layer = make_layer(c, all_forms()[6].settings);
  torch::NoGradGuard no_grad;
  at::Tensor x = at::randn({2, 13, c.hidden_size});
  at::Tensor pad = at::tensor(std::vector<int64_t>{3, 0});
  AttentionContext ctx = context(c, 0, 13, pad);
  at::Tensor want = reference(*layer, c, x, ctx, pad);
  layer->to(at::kBFloat16);
  at::Tensor got = layer->forward(x.to(at::kBFloat16), ctx, nullptr);
  EXPECT_EQ(got.scalar_type(), at::kBFloat16);
  EXPECT_LT(relative_error(got, want), 3e-2);
}

TEST(DslaForms, SettingsThatCannotWorkTogetherAreRefused) {
  auto errors = [](DslaSettings s) { return check_dsla_settings(s); };
  EXPECT_EQ(errors(form(FeatureMap::identity, Normalize::qz, 0, 0)).size(), 1u);
  EXPECT_EQ(errors(form(FeatureMap::hedgehog, Normalize::none, 4, 0)).size(), 1u);
  EXPECT_EQ(errors(form(FeatureMap::hedgehog, Normalize::qz, 0, 2)).size(), 1u);
  EXPECT_TRUE(errors(form(FeatureMap::hedgehog, Normalize::qz, 4, 2)).empty());
  DslaSettings no_rope = form(FeatureMap::hedgehog, Normalize::qz, 4, 0);
  no_rope.rope = false;
  EXPECT_EQ(errors(no_rope).size(), 1u);
  DslaSettings baseline;
  baseline.variant = DslaVariant::sliding_window;  // window is the whole layer there
  baseline.window = 16;
  EXPECT_TRUE(errors(baseline).empty());
}

}  // namespace
