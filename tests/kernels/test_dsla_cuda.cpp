// CUDA paths against the fp64 reference (run only where a GPU is present; tests end in _CUDA): the
// custom CUDA kernels, and the portable ATen path (the default on CUDA) over the whole shape
// matrix.
#include <gtest/gtest.h>

#include "dsla_test_util.h"

namespace dsla::kernels::test {
namespace {

DslaGrads to_cpu(const DslaGrads& g) {
  auto f = [](const at::Tensor& t) { return t.defined() ? t.cpu() : t; };
  return {f(g.dq), f(g.dk), f(g.dv), f(g.dg1), f(g.dg2), f(g.dgamma), f(g.ds1_0), f(g.ds2_0)};
}

class DslaCuda : public ::testing::TestWithParam<Case> {};

TEST_P(DslaCuda, ForwardBackwardMatchRef_CUDA) {
  const Case& c = GetParam();
  Inputs in = make_inputs(c);
  Inputs in64 = to_f64(in);
  RefResult ref = run_ref(in64, true);
  Inputs dev = on_device(in, c10::kCUDA);
  DslaOutput out = dsla_forward_chunked(dev.q, dev.k, dev.v, dev.g1, dev.g2, dev.gamma, dev.s1_0,
                                        dev.s2_0, dev.lengths, c.chunk, true);
  EXPECT_LT(rel_rms(out.o.cpu(), ref.out.o), tol_out(c.dtype));
  EXPECT_LT(rel_rms(out.s1.cpu(), ref.out.s1), kTolF32);
  EXPECT_LT(rel_rms(out.s2.cpu(), ref.out.s2), kTolF32);
  DslaGrads g = dsla_backward_chunked(dev.q, dev.k, dev.v, dev.g1, dev.g2, dev.gamma, dev.s1_0,
                                      dev.s2_0, dev.lengths, dev.do_, dev.ds1, dev.ds2, c.chunk);
  expect_grads_close(to_cpu(g), ref, in64, tol_grad(c.dtype), "cuda");
}

TEST_P(DslaCuda, RecurrentStepMatchesRef_CUDA) {
  const Case& c = GetParam();
  if (c.padded) GTEST_SKIP() << "the decode step takes no lengths";
  AutoKernelScope custom(DslaKernel::kChunked);  // the custom step kernel, not the ATen default
  expect_step_matches_ref(c, c10::kCUDA, [](const Inputs& in, at::Tensor& s1, at::Tensor& s2) {
    return dsla_recurrent_step(in.q, in.k, in.v, in.g1, in.g2, in.gamma, s1, s2);
  });
}

std::vector<Case> cuda_cases() {
  std::vector<Case> v;
  Case c;
  c.name = "T1_d64", c.T = 1, c.init_state = c.final_state = true;
  v.push_back(c);
  c = Case{};
  c.name = "T150_odd_padded_B3", c.B = 3, c.T = 150, c.d = 37, c.dv = 45;
  c.init_state = c.final_state = c.padded = true;
  v.push_back(c);
  c = Case{};
  c.name = "T130_bf16_d128", c.T = 130, c.d = 128, c.dv = 128, c.dtype = at::kBFloat16;
  c.final_state = true;
  v.push_back(c);
  c = Case{};
  c.name = "T200_extreme", c.T = 200, c.gates = Gates::kExtreme,
  c.init_state = c.final_state = true;
  v.push_back(c);
  c = Case{};
  c.name = "T4096_d64", c.T = 4096, c.H = 1, c.init_state = c.final_state = true;
  v.push_back(c);
  return v;
}

INSTANTIATE_TEST_SUITE_P(Matrix, DslaCuda, ::testing::ValuesIn(cuda_cases()),
                         [](const ::testing::TestParamInfo<Case>& i) { return i.param.name; });

class DslaAtenCuda : public ::testing::TestWithParam<Case> {};

// dsla_attention on CUDA tensors (kAuto resolves to the ATen path there): values, states,
// gradients.
TEST_P(DslaAtenCuda, AutogradMatchesRef_CUDA) {
  const Case& c = GetParam();
  ASSERT_EQ(resolve_kernel(DslaKernel::kAuto, c10::Device(c10::kCUDA, 0)), DslaKernel::kAten);
  DslaOptions opts;
  opts.chunk_size = c.chunk, opts.output_final_state = true;
  expect_autograd_matches_ref(
      c, c10::kCUDA,
      [&](const std::vector<at::Tensor>& l, const at::Tensor& lengths) {
        return dsla_attention(l[0], l[1], l[2], l[3], l[4], l[5], l[6], l[7], lengths, opts);
      },
      "aten cuda");
}

TEST_P(DslaAtenCuda, DecodeStepMatchesRef_CUDA) {
  const Case& c = GetParam();
  if (c.padded || c.T > 256) GTEST_SKIP() << "the decode step takes no lengths";
  expect_step_matches_ref(c, c10::kCUDA, [](const Inputs& in, at::Tensor& s1, at::Tensor& s2) {
    return dsla_recurrent_step(in.q, in.k, in.v, in.g1, in.g2, in.gamma, s1, s2);
  });
}

INSTANTIATE_TEST_SUITE_P(Matrix, DslaAtenCuda, ::testing::ValuesIn(shape_matrix()),
                         [](const ::testing::TestParamInfo<Case>& i) { return i.param.name; });

}  // namespace
}  // namespace dsla::kernels::test
