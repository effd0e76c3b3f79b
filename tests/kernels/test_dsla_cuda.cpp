// CUDA paths against the fp64 reference (run only where a GPU is present; tests end in _CUDA): the
// custom CUDA kernels, and the portable ATen path (the default on CUDA) over the whole shape
// matrix.
#include <gtest/gtest.h>

#include "dsla_test_util.h"

namespace dsla::kernels::test {
namespace {

Inputs to_cuda(const Inputs& in) {
  auto f = [](const at::Tensor& t) { return t.defined() ? t.to(at::kCUDA) : t; };
  Inputs r;
  r.q = f(in.q), r.k = f(in.k), r.v = f(in.v), r.g1 = f(in.g1), r.g2 = f(in.g2);
  r.gamma = f(in.gamma), r.s1_0 = f(in.s1_0), r.s2_0 = f(in.s2_0), r.lengths = f(in.lengths);
  r.do_ = f(in.do_), r.ds1 = f(in.ds1), r.ds2 = f(in.ds2);
  return r;
}

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
  Inputs dev = to_cuda(in);
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
  Inputs in = make_inputs(c);
  Inputs in64 = to_f64(in);
  DslaOutput ref = dsla_forward_ref(in64.q, in64.k, in64.v, in64.g1, in64.g2, in64.gamma, in64.s1_0,
                                    in64.s2_0, {}, true);
  Inputs dev = to_cuda(in);
  AutoKernelScope custom(DslaKernel::kChunked);  // the custom step kernel, not the ATen default
  auto f32 = at::TensorOptions().dtype(at::kFloat).device(at::kCUDA);
  at::Tensor s1 = c.init_state ? dev.s1_0.clone() : at::zeros({c.B, c.H, c.d, c.dv}, f32);
  at::Tensor s2 = c.init_state ? dev.s2_0.clone() : at::zeros({c.B, c.H, c.d, c.dv}, f32);
  at::Tensor o = dsla_recurrent_step(dev.q, dev.k, dev.v, dev.g1, dev.g2, dev.gamma, s1, s2);
  EXPECT_LT(rel_rms(o.cpu(), ref.o), tol_out(c.dtype));
  EXPECT_LT(rel_rms(s1.cpu(), ref.s1), kTolF32);
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
  Inputs in = make_inputs(c);
  Inputs in64 = to_f64(in);
  RefResult ref = run_ref(in64, true);
  Inputs dev = to_cuda(in);
  std::vector<at::Tensor> leaves = {dev.q,  dev.k,     dev.v,    dev.g1,
                                    dev.g2, dev.gamma, dev.s1_0, dev.s2_0};
  for (auto& t : leaves) {
    if (t.defined()) t = t.detach().requires_grad_(true);
  }
  DslaOptions opts;
  opts.chunk_size = c.chunk, opts.output_final_state = true;
  ASSERT_EQ(resolve_kernel(DslaKernel::kAuto, dev.q.device()), DslaKernel::kAten);
  DslaOutput out = dsla_attention(leaves[0], leaves[1], leaves[2], leaves[3], leaves[4], leaves[5],
                                  leaves[6], leaves[7], dev.lengths, opts);
  EXPECT_LT(rel_rms(out.o.cpu(), ref.out.o), tol_out(c.dtype)) << "o";
  EXPECT_LT(rel_rms(out.s1.cpu(), ref.out.s1), kTolF32) << "s1";
  EXPECT_LT(rel_rms(out.s2.cpu(), ref.out.s2), kTolF32) << "s2";
  at::Tensor loss = (out.o.to(at::kFloat) * dev.do_.to(at::kFloat)).sum();
  if (dev.ds1.defined()) loss = loss + (out.s1 * dev.ds1).sum() + (out.s2 * dev.ds2).sum();
  loss.backward();
  auto grad = [](const at::Tensor& t) { return t.defined() ? t.grad() : at::Tensor(); };
  DslaGrads got{grad(leaves[0]), grad(leaves[1]), grad(leaves[2]), grad(leaves[3]),
                grad(leaves[4]), grad(leaves[5]), grad(leaves[6]), grad(leaves[7])};
  expect_grads_close(to_cpu(got), ref, in64, tol_grad(c.dtype), "aten cuda");
}

TEST_P(DslaAtenCuda, DecodeStepMatchesRef_CUDA) {
  const Case& c = GetParam();
  if (c.padded || c.T > 256) GTEST_SKIP() << "the decode step takes no lengths";
  Inputs in = make_inputs(c);
  Inputs in64 = to_f64(in);
  DslaOutput ref = dsla_forward_ref(in64.q, in64.k, in64.v, in64.g1, in64.g2, in64.gamma, in64.s1_0,
                                    in64.s2_0, {}, true);
  Inputs dev = to_cuda(in);
  auto f32 = at::TensorOptions().dtype(at::kFloat).device(at::kCUDA);
  at::Tensor s1 = c.init_state ? dev.s1_0.clone() : at::zeros({c.B, c.H, c.d, c.dv}, f32);
  at::Tensor s2 = c.init_state ? dev.s2_0.clone() : at::zeros({c.B, c.H, c.d, c.dv}, f32);
  at::Tensor o = dsla_recurrent_step(dev.q, dev.k, dev.v, dev.g1, dev.g2, dev.gamma, s1, s2);
  EXPECT_LT(rel_rms(o.cpu(), ref.o), tol_out(c.dtype));
  EXPECT_LT(rel_rms(s1.cpu(), ref.s1), kTolF32);
}

INSTANTIATE_TEST_SUITE_P(Matrix, DslaAtenCuda, ::testing::ValuesIn(shape_matrix()),
                         [](const ::testing::TestParamInfo<Case>& i) { return i.param.name; });

}  // namespace
}  // namespace dsla::kernels::test
