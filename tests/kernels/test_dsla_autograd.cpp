// dsla_attention (autograd Function) on every kernel path against the fp64 reference; argument
// errors.
#include <gtest/gtest.h>
#include <torch/autograd.h>

#include "core/error.h"
#include "dsla_test_util.h"

namespace dsla::kernels::test {
namespace {

struct PathCase {
  DslaKernel kernel;
  at::ScalarType dtype;
  bool padded;
  const char* name;
};

class DslaAutograd : public ::testing::TestWithParam<PathCase> {};

TEST_P(DslaAutograd, GradientsMatchRef) {
  const PathCase& pc = GetParam();
  Case c;
  c.name = std::string("autograd_") + pc.name, c.B = 2, c.T = 77, c.H = 2, c.d = 32, c.dv = 48;
  c.init_state = c.final_state = true, c.padded = pc.padded, c.dtype = pc.dtype, c.chunk = 32;
  Inputs in = make_inputs(c);
  Inputs in64 = to_f64(in);
  RefResult ref = run_ref(in64, true);
  std::vector<at::Tensor> leaves = {in.q, in.k, in.v, in.g1, in.g2, in.gamma, in.s1_0, in.s2_0};
  for (auto& t : leaves) t = t.detach().requires_grad_(true);
  DslaOptions opts;
  opts.kernel = pc.kernel, opts.chunk_size = c.chunk, opts.output_final_state = true;
  DslaOutput out = dsla_attention(leaves[0], leaves[1], leaves[2], leaves[3], leaves[4], leaves[5],
                                  leaves[6], leaves[7], in.lengths, opts);
  EXPECT_LT(rel_rms(out.o, ref.out.o), tol_out(c.dtype));
  EXPECT_LT(rel_rms(out.s1, ref.out.s1), kTolF32);
  at::Tensor loss = (out.o.to(at::kFloat) * in.do_.to(at::kFloat)).sum() + (out.s1 * in.ds1).sum() +
                    (out.s2 * in.ds2).sum();
  loss.backward();
  DslaGrads got{leaves[0].grad(), leaves[1].grad(), leaves[2].grad(), leaves[3].grad(),
                leaves[4].grad(), leaves[5].grad(), leaves[6].grad(), leaves[7].grad()};
  ASSERT_EQ(got.dq.scalar_type(), c.dtype);
  // The loss is formed from bf16 o upcast, so the bf16 upstream gradient equals the reference's.
  expect_grads_close(got, ref, in64, tol_grad(c.dtype), pc.name);
}

INSTANTIATE_TEST_SUITE_P(
    Paths, DslaAutograd,
    ::testing::Values(PathCase{DslaKernel::kAuto, at::kFloat, true, "auto_f32_padded"},
                      PathCase{DslaKernel::kChunked, at::kBFloat16, true, "chunked_bf16_padded"},
                      PathCase{DslaKernel::kRecurrent, at::kFloat, false, "recurrent_f32"},
                      PathCase{DslaKernel::kRef, at::kFloat, true, "ref_f32_padded"},
                      PathCase{DslaKernel::kAten, at::kBFloat16, true, "aten_bf16_padded"}),
    [](const ::testing::TestParamInfo<PathCase>& i) { return std::string(i.param.name); });

// Without initial states and final states: no gradient for the absent states, o only.
TEST(DslaAutogradApi, OptionalStatesAreOptional) {
  Case c;
  c.name = "optional", c.T = 10, c.d = 8, c.dv = 8;
  Inputs in = make_inputs(c);
  at::Tensor q = in.q.detach().requires_grad_(true);
  DslaOutput out = dsla_attention(q, in.k, in.v, in.g1, in.g2, in.gamma, {}, {}, {}, DslaOptions{});
  EXPECT_FALSE(out.s1.defined());
  out.o.sum().backward();
  ASSERT_TRUE(q.grad().defined());
  EXPECT_GT(q.grad().abs().max().item<float>(), 0.f);
}

TEST(DslaAutogradApi, BadArgumentsThrowDslaError) {
  Case c;
  c.name = "bad", c.T = 4, c.d = 8, c.dv = 8;
  Inputs in = make_inputs(c);
  DslaOptions o;
  EXPECT_THROW(
      dsla_attention(in.q, in.k.narrow(3, 0, 4), in.v, in.g1, in.g2, in.gamma, {}, {}, {}, o),
      dsla::Error);
  EXPECT_THROW(dsla_attention(in.q, in.k, in.v, in.g1, in.g2, at::ones({5}), {}, {}, {}, o),
               dsla::Error);
  EXPECT_THROW(
      dsla_attention(in.q.to(at::kDouble), in.k, in.v, in.g1, in.g2, in.gamma, {}, {}, {}, o),
      dsla::Error);
  at::Tensor s_bad = at::zeros({1, 2, 8, 8}, at::kDouble);
  EXPECT_THROW(dsla_attention(in.q, in.k, in.v, in.g1, in.g2, in.gamma, s_bad, {}, {}, o),
               dsla::Error);
  o.chunk_size = 0;
  EXPECT_THROW(dsla_attention(in.q, in.k, in.v, in.g1, in.g2, in.gamma, {}, {}, {}, o),
               dsla::Error);
  o.chunk_size = 64, o.kernel = DslaKernel::kRecurrent;
  EXPECT_THROW(
      dsla_attention(in.q, in.k, in.v, in.g1, in.g2, in.gamma, {}, {}, at::ones({1}, at::kLong), o),
      dsla::Error);
}

TEST(DslaAutogradApi, CudaCompiledMatchesBuild) {
  EXPECT_EQ(cuda_compiled(), DSLA_TEST_EXPECT_CUDA != 0);
}

}  // namespace
}  // namespace dsla::kernels::test
