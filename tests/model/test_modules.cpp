// Building blocks against independent fp64 formulas: RMSNorm, RoPE (incl. Llama-3 scaling),
// attention masks, sampling.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <cmath>

#include "model/rmsnorm.h"
#include "model/rope.h"
#include "model/sampling.h"
#include "model/softmax_attention.h"

using namespace dsla::model;

TEST(Modules, RmsNormMatchesFp64Formula) {
  RMSNorm norm(16, 1e-5);
  norm->weight.data().uniform_(0.5, 1.5);
  at::Tensor x = at::randn({3, 5, 16});
  at::Tensor xd = x.to(at::kDouble);
  at::Tensor ref = xd / (xd.pow(2).mean(-1, true) + 1e-5).sqrt() * norm->weight.to(at::kDouble);
  EXPECT_LE((norm->forward(x).to(at::kDouble) - ref).abs().max().item<double>(), 1e-5);
}

TEST(Modules, RotaryMatchesPairwiseRotation) {
  LlamaConfig c;
  c.head_dim = 8;
  c.rope_theta = 10000;
  c.max_position_embeddings = 64;
  RotaryEmbedding rope(c);
  at::Tensor x = at::randn({1, 6, 2, 8}, at::kFloat);
  auto [cos, sin] = rope.table(10, 6);
  at::Tensor got = apply_rotary(x, cos, sin);
  // rotate_half layout: channel i pairs with i + hd/2, angle (pos) * theta^(-2i/hd).
  auto xa = x.accessor<float, 4>();
  auto ga = got.accessor<float, 4>();
  for (int t = 0; t < 6; ++t) {
    for (int h = 0; h < 2; ++h) {
      for (int i = 0; i < 4; ++i) {
        double ang = (10 + t) * std::pow(10000.0, -2.0 * i / 8);
        double a = xa[0][t][h][i], b = xa[0][t][h][i + 4];
        EXPECT_NEAR(ga[0][t][h][i], a * std::cos(ang) - b * std::sin(ang), 1e-5);
        EXPECT_NEAR(ga[0][t][h][i + 4], b * std::cos(ang) + a * std::sin(ang), 1e-5);
      }
    }
  }
}

TEST(Modules, Llama3RopeScalingFollowsTheReferenceFormula) {
  LlamaConfig c;
  c.head_dim = 128;
  c.rope_theta = 500000;
  c.rope_scaling = {"llama3", 8.0, 1.0, 4.0, 8192};
  RotaryEmbedding rope(c);
  auto inv = rope.inv_freq().to(at::kDouble);
  for (int i = 0; i < 64; ++i) {
    double f = std::pow(500000.0, -2.0 * i / 128);
    double wavelen = 2 * M_PI / f;
    double want = f;
    if (wavelen > 8192.0) {
      want = f / 8;
    } else if (wavelen >= 2048.0) {
      double s = (8192.0 / wavelen - 1) / 3;
      want = (1 - s) * f / 8 + s * f;
    }
    EXPECT_NEAR(inv[i].item<double>(), want, 1e-6 * want) << i;
  }
}

TEST(Modules, CausalAttentionMatchesNaiveSoftmaxWithGqaAndWindow) {
  at::Tensor q = at::randn({2, 4, 5, 8}), k = at::randn({2, 2, 9, 8}), v = at::randn({2, 2, 9, 8});
  for (std::optional<int64_t> window : {std::optional<int64_t>{}, std::optional<int64_t>{3}}) {
    at::Tensor got = causal_attention(q, k, v, window).to(at::kDouble);
    at::Tensor kd = k.to(at::kDouble).repeat_interleave(2, 1),
               vd = v.to(at::kDouble).repeat_interleave(2, 1);
    at::Tensor s = at::matmul(q.to(at::kDouble), kd.transpose(-1, -2)) / std::sqrt(8.0);
    for (int i = 0; i < 5; ++i) {
      int pos = 4 + i;  // queries are the last 5 of 9 positions
      for (int j = 0; j < 9; ++j) {
        bool ok = j <= pos && (!window || j > pos - *window);
        if (!ok) s.select(2, i).select(2, j).fill_(-INFINITY);
      }
    }
    at::Tensor ref = at::matmul(at::softmax(s, -1), vd);
    EXPECT_LE((got - ref).abs().max().item<double>(), 1e-5);
  }
}

TEST(Modules, TopKTopPFilterKeepsTheRightTokens) {
  at::Tensor logits = at::log(at::tensor({0.5, 0.25, 0.15, 0.1}, at::kFloat)).unsqueeze(0);
  at::Tensor k2 = filter_top_k_top_p(logits, 2, 1.0);
  EXPECT_TRUE(std::isfinite(k2[0][1].item<float>()));
  EXPECT_TRUE(std::isinf(k2[0][2].item<float>()));
  at::Tensor p = filter_top_k_top_p(logits, 0, 0.7);  // 0.5 + 0.25 reaches 0.7
  EXPECT_TRUE(std::isfinite(p[0][1].item<float>()));
  EXPECT_TRUE(std::isinf(p[0][2].item<float>()));
  at::Tensor p1 = filter_top_k_top_p(logits, 0, 0.1);  // the most likely token always stays
  EXPECT_TRUE(std::isfinite(p1[0][0].item<float>()));
  EXPECT_TRUE(std::isinf(p1[0][1].item<float>()));
}

TEST(Modules, SeededSamplingIsReproducibleAndFollowsTheDistribution) {
  at::Tensor logits =
      at::log(at::tensor({0.6, 0.3, 0.1}, at::kFloat)).unsqueeze(0).repeat({4000, 1});
  Sampler a({1.0, 0, 1.0, 42}), b({1.0, 0, 1.0, 42});
  at::Tensor sa = a.next(logits), sb = b.next(logits);
  EXPECT_TRUE(at::equal(sa, sb));
  double frac0 = (sa == 0).to(at::kDouble).mean().item<double>();
  EXPECT_NEAR(frac0, 0.6, 0.04);
  Sampler greedy({0.0, 0, 1.0, 0});
  EXPECT_EQ(greedy.next(logits.narrow(0, 0, 1)).item<int64_t>(), 0);
}

TEST(Modules, SamplersNeverChooseIdsPastTheVocabLimit) {
  // A padded vocabulary: ids 3 and 4 have no token; their logits are the largest.
  at::Tensor logits = at::tensor({1.0f, 2.0f, 0.5f, 9.0f, 8.0f}).unsqueeze(0).repeat({2000, 1});
  Sampler unlimited({1.0, 0, 1.0, 3});
  EXPECT_TRUE((unlimited.next(logits) >= 3).any().item<bool>());  // the test can fail
  for (double temperature : {0.0, 1.0, 2.0}) {
    Sampler s({temperature, 0, 1.0, 3, /*vocab_limit=*/3});
    at::Tensor got = s.next(logits);
    EXPECT_TRUE((got < 3).all().item<bool>()) << temperature;
    if (temperature == 0.0) {
      EXPECT_TRUE((got == 1).all().item<bool>());
    }
  }
}

TEST(Modules, TinyTemperaturesAndTopPAreGreedyNotNan) {
  // Token 2 is the most likely; at these settings only it can be drawn.
  at::Tensor logits = at::tensor({1.0f, 2.5f, 3.0f, -40.0f}).unsqueeze(0).repeat({64, 1});
  for (auto [temperature, top_p] :
       {std::pair{1e-38, 1.0}, {1e-300, 1.0}, {1.0, 1e-300}, {1e-38, 1e-300}, {1e-6, 0.5}}) {
    Sampler s({temperature, 0, top_p, 7});
    at::Tensor got;
    ASSERT_NO_THROW(got = s.next(logits)) << temperature << " " << top_p;
    EXPECT_TRUE((got == 2).all().item<bool>()) << temperature << " " << top_p;
  }
}
