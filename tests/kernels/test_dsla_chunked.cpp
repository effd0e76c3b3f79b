// Chunked CPU forward/backward and the decode step against the fp64 reference over the shape
// matrix.
#include <gtest/gtest.h>

#include "dsla_test_util.h"

namespace dsla::kernels::test {
namespace {

class DslaChunked : public ::testing::TestWithParam<Case> {};

TEST_P(DslaChunked, ForwardAndBackwardMatchRef) {
  const Case& c = GetParam();
  Inputs in = make_inputs(c);
  Inputs in64 = to_f64(in);
  RefResult ref = run_ref(in64, /*final_state=*/true);
  DslaOutput out = dsla_forward_chunked(in.q, in.k, in.v, in.g1, in.g2, in.gamma, in.s1_0, in.s2_0,
                                        in.lengths, c.chunk, /*output_final_state=*/true);
  ASSERT_EQ(out.o.scalar_type(), c.dtype);
  EXPECT_LT(rel_rms(out.o, ref.out.o), tol_out(c.dtype)) << "o";
  EXPECT_LT(rel_rms(out.s1, ref.out.s1), kTolF32) << "s1";
  EXPECT_LT(rel_rms(out.s2, ref.out.s2), kTolF32) << "s2";
  DslaGrads g = dsla_backward_chunked(in.q, in.k, in.v, in.g1, in.g2, in.gamma, in.s1_0, in.s2_0,
                                      in.lengths, in.do_, in.ds1, in.ds2, c.chunk);
  ASSERT_EQ(g.dq.scalar_type(), c.dtype);
  expect_grads_close(g, ref, in64, tol_grad(c.dtype), "chunked");
}

TEST_P(DslaChunked, RecurrentStepMatchesRef) {
  const Case& c = GetParam();
  if (c.padded || c.T > 256)
    GTEST_SKIP() << "the decode step takes no lengths; long T covered above";
  expect_step_matches_ref(c, c10::kCPU, [](const Inputs& in, at::Tensor& s1, at::Tensor& s2) {
    return dsla_recurrent_step(in.q, in.k, in.v, in.g1, in.g2, in.gamma, s1, s2);
  });
}

INSTANTIATE_TEST_SUITE_P(Matrix, DslaChunked, ::testing::ValuesIn(shape_matrix()),
                         [](const ::testing::TestParamInfo<Case>& i) { return i.param.name; });

// Chunked prefill of T tokens, then N single-token decode steps == chunked prefill of T + N tokens.
TEST(DslaDecode, PrefillThenDecodeEqualsLongPrefill) {
  Case c;
  c.name = "prefill_decode", c.B = 2, c.T = 100 + 7, c.H = 3, c.d = 64, c.dv = 32;
  c.init_state = true, c.gates = Gates::kFast;
  Inputs in = make_inputs(c);
  const int64_t T = 100, N = 7;
  DslaOutput full = dsla_forward_chunked(in.q, in.k, in.v, in.g1, in.g2, in.gamma, in.s1_0, in.s2_0,
                                         at::Tensor(), 64, true);
  auto pre = [&](const at::Tensor& t) { return t.narrow(1, 0, T); };
  DslaOutput p = dsla_forward_chunked(pre(in.q), pre(in.k), pre(in.v), pre(in.g1), pre(in.g2),
                                      in.gamma, in.s1_0, in.s2_0, at::Tensor(), 64, true);
  EXPECT_LT(rel_rms(p.o, full.o.narrow(1, 0, T)), kTolF32);
  for (int64_t n = 0; n < N; ++n) {
    auto tok = [&](const at::Tensor& t) { return t.narrow(1, T + n, 1); };
    at::Tensor o = dsla_recurrent_step(tok(in.q), tok(in.k), tok(in.v), tok(in.g1), tok(in.g2),
                                       in.gamma, p.s1, p.s2);
    EXPECT_LT(rel_rms(o, full.o.narrow(1, T + n, 1)), kTolF32) << "step " << n;
  }
  EXPECT_LT(rel_rms(p.s1, full.s1), kTolF32);
  EXPECT_LT(rel_rms(p.s2, full.s2), kTolF32);
}

// Padded positions neither read nor write the states: the padded batch equals each sequence alone.
TEST(DslaPadding, PaddedRowsAreZeroAndDoNotLeak) {
  Case c;
  c.name = "padding", c.B = 3, c.T = 70, c.H = 2, c.d = 32, c.dv = 32;
  c.padded = c.final_state = true;
  Inputs in = make_inputs(c);
  DslaOutput out = dsla_forward_chunked(in.q, in.k, in.v, in.g1, in.g2, in.gamma, at::Tensor(),
                                        at::Tensor(), in.lengths, 64, true);
  const int64_t len1 = in.lengths[1].item<int64_t>();
  EXPECT_EQ(out.o[1].narrow(0, len1, c.T - len1).abs().max().item<float>(), 0.f);
  EXPECT_EQ(out.o[2].abs().max().item<float>(), 0.f);
  EXPECT_EQ(out.s1[2].abs().max().item<float>(), 0.f);
  auto one = [&](const at::Tensor& t) { return t.narrow(0, 1, 1).narrow(1, 0, len1); };
  DslaOutput alone =
      dsla_forward_chunked(one(in.q), one(in.k), one(in.v), one(in.g1), one(in.g2), in.gamma,
                           at::Tensor(), at::Tensor(), at::Tensor(), 64, true);
  EXPECT_LT(rel_rms(out.o[1].narrow(0, 0, len1), alone.o[0]), kTolF32);
  EXPECT_LT(rel_rms(out.s1[1], alone.s1[0]), kTolF32);
  DslaGrads g = dsla_backward_chunked(in.q, in.k, in.v, in.g1, in.g2, in.gamma, at::Tensor(),
                                      at::Tensor(), in.lengths, in.do_, in.ds1, in.ds2, 64);
  EXPECT_EQ(g.dq[1].narrow(0, len1, c.T - len1).abs().max().item<float>(), 0.f);
  EXPECT_EQ(g.dg2[2].abs().max().item<float>(), 0.f);
}

}  // namespace
}  // namespace dsla::kernels::test

namespace dsla::kernels::test {
namespace {

// T = 64k with decays within 1e-4 of 1 (states accumulate ~all tokens) and with the recency gate at
// fast decays: forward and final states stay finite and match the fp64 reference.
TEST(DslaLong, T64kForwardMatchesRef) {
  Case c;
  c.name = "T65536", c.B = 1, c.T = 65536, c.H = 1, c.d = 32, c.dv = 32;
  c.init_state = true, c.gates = Gates::kNearOne;
  Inputs in = make_inputs(c);
  in.g2 = at::log_sigmoid(at::randn(in.g2.sizes()) - 1);  // recency: decays ~0.1..0.9
  Inputs in64 = to_f64(in);
  DslaOutput ref = dsla_forward_ref(in64.q, in64.k, in64.v, in64.g1, in64.g2, in64.gamma, in64.s1_0,
                                    in64.s2_0, {}, true);
  DslaOutput out = dsla_forward_chunked(in.q, in.k, in.v, in.g1, in.g2, in.gamma, in.s1_0, in.s2_0,
                                        {}, 64, true);
  ASSERT_TRUE(out.o.isfinite().all().item<bool>());
  EXPECT_LT(rel_rms(out.o, ref.o), kTolF32);
  EXPECT_LT(rel_rms(out.s1, ref.s1), kTolF32);
  EXPECT_LT(rel_rms(out.s2, ref.s2), kTolF32);
}

}  // namespace
}  // namespace dsla::kernels::test
